#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Damage found in an LMDB data file by reading the file itself, not through LMDB.
package struct LMDBDamage: Error, Hashable, CustomStringConvertible {
    /// The page the damage was found on, when it is one page.
    package var page: UInt64?
    /// What is wrong, for people.
    package var reason: String

    package init(page: UInt64?, _ reason: String) {
        self.page = page
        self.reason = reason
    }

    package var description: String { page.map { "page \($0): \(reason)" } ?? reason }
}

/// The on-disk layout of an LMDB 0.9 data file on a 64-bit machine, as `mdb.c` defines it
/// (`MDB_page`, `MDB_meta`, `MDB_db`, `MDB_node`). All integers are the machine's (little
/// endian here).
enum LMDBLayout {
    /// `PAGEHDRSZ`: page number (8), pad (2), flags (2), lower and upper bounds of the free
    /// space (2 + 2) or, on an overflow page, its number of pages (4).
    static let pageHeaderSize = 16
    /// `NODESIZE`: data size or child page (2 + 2), flags (2), key size (2).
    static let nodeHeaderSize = 8
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let invalidPage = UInt64.max
    /// The most levels a tree may have (`CURSOR_STACK`).
    static let maxDepth = 32

    static let branchPage: UInt16 = 0x01
    static let leafPage: UInt16 = 0x02
    static let overflowPage: UInt16 = 0x04
    static let metaPage: UInt16 = 0x08

    static let bigData: UInt16 = 0x01
    static let subDatabase: UInt16 = 0x02
    static let duplicates: UInt16 = 0x04

    static let integerKey: UInt16 = 0x08
    static let noSubdirectory: UInt16 = 0x4000

    /// Offsets in a meta page: `MDB_meta` follows the page header.
    static let metaMagic = 16
    static let metaVersion = 20
    static let metaAddress = 24
    static let metaMapSize = 32
    static let metaFreeDatabase = 40
    static let metaMainDatabase = 88
    static let metaLastPage = 136
    static let metaTransaction = 144
    static let metaEnd = 152
    /// `sizeof(MDB_db)`: pad (4), flags (2), depth (2), branch, leaf and overflow pages,
    /// entries and root (8 each).
    static let databaseRecordSize = 48

    /// `OVPAGES`: the pages an overflow value of `size` bytes takes, header included.
    static func overflowPages(_ size: Int, pageSize: Int) -> UInt64 {
        UInt64((pageSize - 1 + pageHeaderSize + size) / pageSize)
    }

    /// `EVEN`: nodes take an even number of bytes.
    static func even(_ size: Int) -> Int { (size + 1) & ~1 }
}

/// Little-endian reads from a byte buffer that never trap: a read past the end gives 0, and
/// callers check sizes before they trust a value.
extension Array where Element == UInt8 {
    fileprivate func u16(_ offset: Int) -> UInt16 {
        guard offset >= 0, offset + 2 <= count else { return 0 }
        return withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    }

    fileprivate func u32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= count else { return 0 }
        return withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }

    fileprivate func u64(_ offset: Int) -> UInt64 {
        guard offset >= 0, offset + 8 <= count else { return 0 }
        return withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
}

/// `MDB_db`: one B-tree's root and the counts LMDB keeps for it.
package struct LMDBDatabaseRecord: Hashable, Sendable {
    package var pad: UInt32
    package var flags: UInt16
    package var depth: UInt16
    package var branchPages: UInt64
    package var leafPages: UInt64
    package var overflowPages: UInt64
    package var entries: UInt64
    package var root: UInt64

    fileprivate init(_ bytes: [UInt8], at offset: Int) {
        pad = bytes.u32(offset)
        flags = bytes.u16(offset + 4)
        depth = bytes.u16(offset + 6)
        branchPages = bytes.u64(offset + 8)
        leafPages = bytes.u64(offset + 16)
        overflowPages = bytes.u64(offset + 24)
        entries = bytes.u64(offset + 32)
        root = bytes.u64(offset + 40)
    }
}

/// One of the two meta pages.
package struct LMDBMeta: Hashable, Sendable {
    /// 0 or 1: which meta page.
    package var index: Int
    package var headerFlags: UInt16
    package var magic: UInt32
    package var version: UInt32
    package var address: UInt64
    package var mapSize: UInt64
    /// The free-page tree; its pad is the page size and its flags the environment's.
    package var free: LMDBDatabaseRecord
    /// The main tree, which holds the named databases.
    package var main: LMDBDatabaseRecord
    package var lastPage: UInt64
    package var transaction: UInt64

    package var pageSize: Int { Int(free.pad) }

    /// What `mdb_env_read_header` accepts: the meta flag, the magic and the version.
    package var isAccepted: Bool {
        headerFlags & LMDBLayout.metaPage != 0 && magic == LMDBLayout.magic && version == LMDBLayout.dataVersion
    }

    fileprivate init?(_ bytes: [UInt8], index: Int) {
        guard bytes.count >= LMDBLayout.metaEnd else { return nil }
        self.index = index
        headerFlags = bytes.u16(10)
        magic = bytes.u32(LMDBLayout.metaMagic)
        version = bytes.u32(LMDBLayout.metaVersion)
        address = bytes.u64(LMDBLayout.metaAddress)
        mapSize = bytes.u64(LMDBLayout.metaMapSize)
        free = LMDBDatabaseRecord(bytes, at: LMDBLayout.metaFreeDatabase)
        main = LMDBDatabaseRecord(bytes, at: LMDBLayout.metaMainDatabase)
        lastPage = bytes.u64(LMDBLayout.metaLastPage)
        transaction = bytes.u64(LMDBLayout.metaTransaction)
    }

    /// Why LMDB would refuse this meta page, for a message.
    fileprivate var refusal: String {
        if headerFlags & LMDBLayout.metaPage == 0 { return "it is not marked as a meta page" }
        if magic != LMDBLayout.magic { return "its magic number is 0x\(String(magic, radix: 16)), not 0xbeefc0de" }
        return "its format version is \(version), not \(LMDBLayout.dataVersion)"
    }
}

/// An LMDB data file read with `pread(2)`, never through a memory map: a short or damaged
/// file is an error here, where through LMDB's map it is a SIGBUS or an assertion.
package final class LMDBDataFile {
    private let descriptor: Int32
    /// The file's path.
    package let path: String
    /// Its size in bytes when opened.
    package let size: UInt64

    /// Opens `path` to read; nil when there is no such file.
    package init?(path: String) throws(LMDBDamage) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw LMDBDamage(page: nil, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = close(descriptor)
            throw LMDBDamage(page: nil, "cannot stat \(path): \(reason)")
        }
        self.descriptor = descriptor
        self.path = path
        self.size = UInt64(max(0, status.st_size))
    }

    deinit { _ = close(descriptor) }

    /// Reads `count` bytes at `offset`; nil when the file ends before them or the read fails.
    func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress.map { $0 + done }, count - done, off_t(offset) + off_t(done))
            }
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else { return nil }
            done += read
        }
        return buffer
    }

    /// Reads both meta pages: nil when the file is empty or not an LMDB file at all (page 0
    /// and page 1 both lack LMDB's marks), so that LMDB can say so in its own words; throws
    /// when it is an LMDB file whose meta pages are damaged or that is shorter than they need.
    package func readMetas() throws(LMDBDamage) -> (LMDBMeta, LMDBMeta)? {
        guard size > 0 else { return nil }
        let first = bytes(at: 0, count: LMDBLayout.metaEnd).flatMap { LMDBMeta($0, index: 0) }
        guard let first, first.isAccepted else {
            // Page 0 is not a meta page. If page 1 is one, page 0 was damaged.
            for pageSize in [4096, 8192, 16384, 32768, 65536, 512, 1024, 2048] {
                if let second = bytes(at: UInt64(pageSize), count: LMDBLayout.metaEnd).flatMap({ LMDBMeta($0, index: 1) }),
                    second.isAccepted, second.pageSize == pageSize
                {
                    let reason = first.map { "meta page 0 is damaged: \($0.refusal)" } ?? "meta page 0 is cut short"
                    throw LMDBDamage(page: 0, reason)
                }
            }
            return nil
        }
        let pageSize = first.pageSize
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            throw LMDBDamage(page: 0, "meta page 0 gives a page size of \(pageSize) bytes, not a power of two from 512 to 65536")
        }
        guard size >= UInt64(2 * pageSize) else {
            throw LMDBDamage(page: nil, "\(path) is \(size) bytes, too short for its two meta pages of \(pageSize) bytes: the file is truncated")
        }
        guard let second = bytes(at: UInt64(pageSize), count: LMDBLayout.metaEnd).flatMap({ LMDBMeta($0, index: 1) }) else {
            throw LMDBDamage(page: 1, "meta page 1 cannot be read")
        }
        guard second.isAccepted else { throw LMDBDamage(page: 1, "meta page 1 is damaged: \(second.refusal)") }
        guard second.pageSize == pageSize else {
            throw LMDBDamage(page: 1, "meta page 1 gives a page size of \(second.pageSize) bytes, meta page 0 of \(pageSize)")
        }
        return (first, second)
    }

    /// The meta page LMDB opens: the one with the larger transaction id (page 0 on a tie).
    package static func newest(_ metas: (LMDBMeta, LMDBMeta)) -> LMDBMeta {
        metas.1.transaction > metas.0.transaction ? metas.1 : metas.0
    }

    /// The checks that keep `mdb_env_open` and every read after it from crashing on a
    /// damaged file (run before LMDB maps it): the meta pages are LMDB's and agree on the
    /// page size, their roots lie inside the file's pages, and every page in use lies inside
    /// the file. A truncated file would otherwise be mapped and read past its end (SIGBUS).
    /// The file may be shorter than the newest meta page's last page when the pages at its
    /// end are free (LMDB allocated and freed them without writing them): then the trees are
    /// walked to tell that from truncation.
    ///
    /// Does nothing when `directory` has no data file, an empty one (LMDB makes a new
    /// environment) or one that is not LMDB's at all (LMDB refuses it, in its words).
    package static func checkBeforeOpen(directory: String) throws(LMDBDamage) {
        let path = directory + "/data.mdb"
        var attempts = 0
        while true {
            guard let file = try LMDBDataFile(path: path), let metas = try file.readMetas() else { return }
            let newest = newest(metas)
            try newest.checkBounds()
            guard file.size < (newest.lastPage + 1) * UInt64(newest.pageSize) else { return }
            attempts += 1
            do {
                // Nil: a writer moved two commits on since the meta pages were read.
                guard var walk = try LMDBStructureCheck(file: file, transaction: newest.transaction) else {
                    if attempts < 3 { continue }
                    return
                }
                _ = try walk.run()
                return
            } catch {
                // No read transaction protects this walk: a writer in another process may
                // have reused pages under it. If a commit happened meanwhile, walk again.
                let again = try LMDBDataFile(path: path)?.readMetas()
                guard attempts < 3, let again, Self.newest(again).transaction != newest.transaction else { throw error }
            }
        }
    }
}

extension LMDBMeta {
    /// Throws unless the last page and the roots make sense for a file: no page number
    /// overflows when multiplied by the page size, and the roots lie in pages 2 to the last.
    func checkBounds() throws(LMDBDamage) {
        let place = UInt64(index)
        guard lastPage >= 1 else {
            throw LMDBDamage(page: place, "meta page \(index) says the last page is \(lastPage), before the meta pages")
        }
        let (pages, pagesOverflow) = lastPage.addingReportingOverflow(1)
        let (_, bytesOverflow) = pages.multipliedReportingOverflow(by: UInt64(pageSize))
        guard !pagesOverflow, !bytesOverflow, pages <= 1 << 40 else {
            throw LMDBDamage(page: place, "meta page \(index) says the last page is \(lastPage), more than a file can hold")
        }
        for (name, root) in [("free-page", free.root), ("main", main.root)] where root != LMDBLayout.invalidPage {
            guard root >= 2, root <= lastPage else {
                throw LMDBDamage(
                    page: place,
                    "meta page \(index) puts the root of the \(name) tree at page \(root), outside pages 2 to \(lastPage)"
                )
            }
        }
    }
}

/// How a byte of the data file is used, as the structure check sees it; `playhead verify
/// --byte-map` prints these for the byte-flip campaign (`tools/flip-bytes`).
package enum LMDBByteUse: Hashable, Sendable {
    /// Read by LMDB or Playhead, and covered by a check: any change is damage `verify` reports.
    case checked
    /// A branch page's separator key: a change is reported unless the key still lies
    /// between its neighbours' subtrees, in which case every search finds what it found.
    case separator
    /// A free-page record's transaction id: it decides only when its pages may be reused;
    /// a change that keeps the records in order is not detectable.
    case freeListTransaction
    /// Read, but no check covers it (entries of a database no cross-check reaches).
    case unprotected
    /// Not read by anything.
    case unused

    /// The word `--byte-map` prints.
    package var name: String {
        switch self {
        case .checked: "checked"
        case .separator: "separator"
        case .freeListTransaction: "freelist-txnid"
        case .unprotected: "unprotected"
        case .unused: "unused"
        }
    }
}

/// A run of bytes of the data file and how they are used.
package struct LMDBByteRange: Hashable, Sendable {
    package var offset: UInt64
    package var count: Int
    package var use: LMDBByteUse
    /// What the bytes are, e.g. `leaf page 12 of 'events': node 3`.
    package var what: String
}

/// What a sound structure check found.
package struct LMDBStructureSummary: Hashable, Sendable {
    /// The transaction the checked meta page belongs to.
    package var transaction: UInt64
    /// Pages the file's trees use, the two meta pages included.
    package var usedPages: UInt64
    /// Pages listed as free.
    package var freePages: UInt64
    /// The named databases and their records.
    package var databases: [String: LMDBDatabaseRecord]
}

/// A walk of every page of one committed snapshot of an LMDB data file, read with
/// `pread(2)`: the meta pages and every B-tree (free pages, main, each named database), each
/// page's header, node pointers, nodes, key order, separators and overflow pages; the counts
/// LMDB keeps in each database record; and LMDB's page accounting (every page up to the last
/// one is used exactly once or listed free exactly once, as `mdb_audit` demands). What it
/// finds is reported as ``LMDBDamage``, never by crashing. It knows Playhead's use of LMDB:
/// every named database is opened without flags (no duplicates, byte-ordered keys).
///
/// The snapshot's pages must not change during the walk: the caller holds an LMDB read
/// transaction of that snapshot, which keeps a writer in another process from reusing them.
package struct LMDBStructureCheck {
    private let file: LMDBDataFile
    private let meta: LMDBMeta
    private let other: LMDBMeta
    private let pageSize: Int
    /// Pages wholly inside the file; pages past them may only be free.
    private let filePages: UInt64
    private let expectedDatabases: Set<String>?
    private let map: ((LMDBByteRange) -> Void)?

    private var used: PageSet
    private var free: PageSet
    private var freePastEnd: Set<UInt64> = []
    private var databases: [String: LMDBDatabaseRecord] = [:]

    /// Prepares a walk of the snapshot of `transaction` (the newest when nil).
    ///
    /// - Parameters:
    ///   - expectedDatabases: the names the main tree must hold, exactly (nil: any).
    ///   - map: told how every byte of the snapshot's pages is used, in no particular order.
    /// - Returns: nil when neither meta page holds `transaction` (a writer moved on: begin
    ///   again).
    /// - Throws: ``LMDBDamage`` when the meta pages are damaged.
    package init?(
        file: LMDBDataFile,
        transaction: UInt64?,
        expectedDatabases: Set<String>? = nil,
        map: ((LMDBByteRange) -> Void)? = nil
    ) throws(LMDBDamage) {
        guard let metas = try file.readMetas() else {
            throw LMDBDamage(page: 0, "\(file.path) is not an LMDB file")
        }
        let chosen: LMDBMeta
        if let transaction {
            if metas.0.transaction == transaction {
                chosen = metas.0
            } else if metas.1.transaction == transaction {
                chosen = metas.1
            } else {
                return nil
            }
        } else {
            chosen = LMDBDataFile.newest(metas)
        }
        try chosen.checkBounds()
        self.file = file
        self.meta = chosen
        self.other = chosen.index == 0 ? metas.1 : metas.0
        self.pageSize = chosen.pageSize
        self.filePages = min(chosen.lastPage + 1, file.size / UInt64(chosen.pageSize))
        self.expectedDatabases = expectedDatabases
        self.map = map
        used = PageSet(count: filePages)
        free = PageSet(count: filePages)
    }

    /// Walks the snapshot and returns what it holds, or throws the first damage found.
    package mutating func run() throws(LMDBDamage) -> LMDBStructureSummary {
        try checkMetaPages()
        used.insert(0)
        used.insert(1)

        let freeRecords = try walkFreeTree(meta.free, of: meta, compareCounts: true)
        let mainCount = try walkTree(meta.main, name: "main", kind: .main)
        try compare(meta.main, mainCount, name: "the main tree", page: UInt64(meta.index))
        if let expectedDatabases, Set(databases.keys) != expectedDatabases {
            let missing = expectedDatabases.subtracting(databases.keys).sorted()
            let extra = Set(databases.keys).subtracting(expectedDatabases).sorted()
            throw LMDBDamage(
                page: nil,
                "the main tree names the databases \(databases.keys.sorted()): "
                    + [missing.isEmpty ? nil : "missing \(missing)", extra.isEmpty ? nil : "unexpected \(extra)"]
                    .compactMap { $0 }.joined(separator: ", ")
            )
        }
        for (name, record) in databases.sorted(by: { $0.key < $1.key }) {
            guard record.flags == 0, record.pad == 0 else {
                throw LMDBDamage(
                    page: nil,
                    "the record of database '\(name)' has flags 0x\(String(record.flags, radix: 16)) and pad \(record.pad); "
                        + "Playhead opens every database with neither"
                )
            }
            let count = try walkTree(record, name: name, kind: .named)
            try compare(record, count, name: "database '\(name)'", page: nil)
        }
        let freeCount = try accountFreePages(freeRecords)
        try checkPreviousCommit()
        if map != nil {
            let end = (meta.lastPage + 1) * UInt64(pageSize)
            if file.size > end {
                mapRange(offset: end, count: Int(file.size - end), .unused, "past the last page")
            }
        }
        return LMDBStructureSummary(
            transaction: meta.transaction,
            usedPages: meta.lastPage + 1 - freeCount,
            freePages: freeCount,
            databases: databases
        )
    }

    /// Every page up to the last is used or listed free, exactly once; returns how many are free.
    private mutating func accountFreePages(_ records: [UInt64: [UInt64]]) throws(LMDBDamage) -> UInt64 {
        var freeCount: UInt64 = 0
        for (_, pages) in records {
            for page in pages {
                guard page >= 2, page <= meta.lastPage else {
                    throw LMDBDamage(page: page, "the free-page list names page \(page), outside pages 2 to \(meta.lastPage)")
                }
                if page >= filePages {
                    guard freePastEnd.insert(page).inserted else { throw LMDBDamage(page: page, "the page is listed free twice") }
                } else {
                    guard !used.contains(page) else { throw LMDBDamage(page: page, "the page is listed free but is in use") }
                    guard !free.contains(page) else { throw LMDBDamage(page: page, "the page is listed free twice") }
                    free.insert(page)
                    mapRange(offset: page * UInt64(pageSize), count: pageSize, .unused, "free page \(page)")
                }
                freeCount += 1
            }
        }
        if filePages > 0, let lost = used.firstMissing(alsoIn: free, through: filePages - 1) {
            throw LMDBDamage(page: lost, "the page is neither used nor listed free: LMDB's page accounting does not add up")
        }
        if meta.lastPage >= filePages && UInt64(freePastEnd.count) != meta.lastPage + 1 - filePages {
            throw LMDBDamage(
                page: nil,
                "\(file.path) is \(file.size) bytes, but pages \(filePages) to \(meta.lastPage) past its end are not all free: "
                    + "the file is truncated"
            )
        }
        return freeCount
    }

    // MARK: Meta pages

    private func checkMetaPages() throws(LMDBDamage) {
        // LMDB writes transaction t into meta page t % 2, and the two pages hold consecutive
        // transactions (both 0 in a file no commit has reached yet).
        for candidate in [meta, other] {
            if candidate.transaction != 0 && Int(candidate.transaction % 2) != candidate.index {
                throw LMDBDamage(
                    page: UInt64(candidate.index),
                    "meta page \(candidate.index) holds transaction \(candidate.transaction), "
                        + "which LMDB writes to meta page \(candidate.transaction % 2)"
                )
            }
            guard candidate.headerFlags == LMDBLayout.metaPage else {
                throw LMDBDamage(
                    page: UInt64(candidate.index),
                    "meta page \(candidate.index) has page flags 0x\(String(candidate.headerFlags, radix: 16)), not 0x8"
                )
            }
        }
        let (low, high) = (min(meta.transaction, other.transaction), max(meta.transaction, other.transaction))
        guard (low == 0 && high == 0) || high - low == 1 else {
            throw LMDBDamage(page: nil, "the meta pages hold transactions \(low) and \(high); consecutive commits differ by 1")
        }
        let page = UInt64(meta.index)
        guard meta.address == 0 else {
            throw LMDBDamage(page: page, "meta page \(meta.index) asks for a fixed map address; Playhead never does")
        }
        guard meta.free.flags == LMDBLayout.integerKey else {
            throw LMDBDamage(
                page: page,
                "meta page \(meta.index) gives the free-page tree flags 0x\(String(meta.free.flags, radix: 16)), not 0x8 (integer keys)"
            )
        }
        guard meta.main.pad == 0, meta.main.flags == 0 else {
            throw LMDBDamage(page: page, "meta page \(meta.index) gives the main tree flags or a pad Playhead never sets")
        }
        guard map != nil else { return }
        for candidate in [meta, other] {
            let base = UInt64(candidate.index * pageSize)
            let isChecked = candidate.index == meta.index
            let name = "meta page \(candidate.index)"
            mapRange(offset: base, count: 10, .unused, "\(name): page number and pad (LMDB reads neither)")
            mapRange(offset: base + 10, count: 2, .checked, "\(name): page flags")
            mapRange(offset: base + 12, count: 4, .unused, "\(name): free-space bounds (unused on a meta page)")
            mapRange(offset: base + 16, count: 8, .checked, "\(name): magic and version")
            mapRange(offset: base + 24, count: 8, isChecked ? .checked : .unused, "\(name): fixed map address")
            mapRange(
                offset: base + 32,
                count: 8,
                .unused,
                "\(name): map size (Playhead sets its own; LMDB adopts a stored one only as a larger map)"
            )
            mapRange(offset: base + 40, count: 4, .checked, "\(name): page size")
            mapRange(
                offset: base + 44,
                count: 144 - 44,
                isChecked ? .checked : .unused,
                "\(name): environment flags, the free-page and main tree records and the last page"
                    + (isChecked ? "" : " (of the previous commit: LMDB only compares its transaction id)")
            )
            mapRange(offset: base + 144, count: 8, .checked, "\(name): transaction id")
            mapRange(
                offset: base + UInt64(LMDBLayout.metaEnd),
                count: pageSize - LMDBLayout.metaEnd,
                .unused,
                "\(name): past the meta fields"
            )
        }
    }

    /// The pages the other meta page's own commit freed are not in use in this snapshot:
    /// LMDB reuses a page only two commits after it was freed. A newer meta page that is
    /// really the older one with a damaged transaction id still uses all of them. The other
    /// snapshot's pages are free pages of this one, which nothing else reads, so this check
    /// passes over damage in them and accuses only when every page that commit freed is in use.
    private func checkPreviousCommit() throws(LMDBDamage) {
        guard other.transaction + 1 == meta.transaction, other.free.root != LMDBLayout.invalidPage,
            (try? other.checkBounds()) != nil
        else { return }
        var previous = LMDBStructureCheck(walking: other, of: self)
        guard let records = try? previous.walkFreeTree(other.free, of: other, compareCounts: false),
            let freed = records[other.transaction], !freed.isEmpty,
            freed.allSatisfy({ $0 < filePages && used.contains($0) })
        else { return }
        throw LMDBDamage(
            page: UInt64(meta.index),
            "meta page \(meta.index) claims transaction \(meta.transaction), yet its trees use every page transaction "
                + "\(other.transaction) freed: it is the older meta page with a damaged transaction id"
        )
    }

    /// A walk of `meta`'s free-page tree that keeps its own page set and maps nothing.
    private init(walking meta: LMDBMeta, of check: LMDBStructureCheck) {
        file = check.file
        self.meta = meta
        other = check.meta
        pageSize = check.pageSize
        filePages = min(meta.lastPage + 1, check.file.size / UInt64(check.pageSize))
        expectedDatabases = nil
        map = nil
        used = PageSet(count: filePages)
        free = PageSet(count: 0)
    }

    // MARK: Trees

    private enum TreeKind {
        case free
        case main
        case named
    }

    private struct TreeCount {
        var branchPages: UInt64 = 0
        var leafPages: UInt64 = 0
        var overflowPages: UInt64 = 0
        var entries: UInt64 = 0
        var depth: Int?
    }

    /// One leaf entry as the walk hands it on.
    private struct LeafEntry {
        var key: ArraySlice<UInt8>
        var flags: UInt16
        /// The value when it is on the leaf page.
        var inline: ArraySlice<UInt8>?
        /// The first page of a value on overflow pages.
        var overflowPage: UInt64?
        /// The value's size.
        var size: Int
    }

    private func compare(_ record: LMDBDatabaseRecord, _ count: TreeCount, name: String, page: UInt64?) throws(LMDBDamage) {
        let found: [(String, UInt64, UInt64)] = [
            ("depth", UInt64(record.depth), UInt64(count.depth ?? 0)),
            ("branch pages", record.branchPages, count.branchPages),
            ("leaf pages", record.leafPages, count.leafPages),
            ("overflow pages", record.overflowPages, count.overflowPages),
            ("entries", record.entries, count.entries),
        ]
        for (field, stored, actual) in found where stored != actual {
            throw LMDBDamage(page: page, "the record of \(name) says \(stored) \(field), its tree has \(actual)")
        }
    }

    /// Walks the free-page tree of `meta` and returns its records: transaction id -> pages.
    private mutating func walkFreeTree(
        _ record: LMDBDatabaseRecord,
        of meta: LMDBMeta,
        compareCounts: Bool
    ) throws(LMDBDamage) -> [UInt64: [UInt64]] {
        var records: [UInt64: [UInt64]] = [:]
        let file = self.file
        let pageSize = self.pageSize
        let count = try walkTree(record, name: "free-page", kind: .free) { entry throws(LMDBDamage) in
            guard entry.key.count == 8 else {
                throw LMDBDamage(page: nil, "a free-page record has a key of \(entry.key.count) bytes, not 8")
            }
            let transaction = Array(entry.key).u64(0)
            guard transaction >= 1, transaction <= meta.transaction else {
                throw LMDBDamage(page: nil, "a free-page record belongs to transaction \(transaction), not one of 1 to \(meta.transaction)")
            }
            let value: [UInt8]
            if let inline = entry.inline {
                value = Array(inline)
            } else if let page = entry.overflowPage,
                let bytes = file.bytes(at: page * UInt64(pageSize) + UInt64(LMDBLayout.pageHeaderSize), count: entry.size)
            {
                value = bytes
            } else {
                throw LMDBDamage(page: nil, "the free-page record of transaction \(transaction) cannot be read")
            }
            let pages = value.u64(0)
            guard value.count >= 8, value.count % 8 == 0, pages == UInt64(value.count / 8 - 1) else {
                throw LMDBDamage(
                    page: nil,
                    "the free-page record of transaction \(transaction) is \(value.count) bytes and says it lists \(pages) pages"
                )
            }
            records[transaction] = (0..<(value.count / 8 - 1)).map { value.u64(8 + 8 * $0) }
        }
        if compareCounts { try compare(record, count, name: "the free-page tree", page: UInt64(meta.index)) }
        return records
    }

    private mutating func walkTree(_ record: LMDBDatabaseRecord, name: String, kind: TreeKind) throws(LMDBDamage) -> TreeCount {
        try walkTree(record, name: name, kind: kind) { _ throws(LMDBDamage) in }
    }

    private mutating func walkTree(
        _ record: LMDBDatabaseRecord,
        name: String,
        kind: TreeKind,
        leaf: (LeafEntry) throws(LMDBDamage) -> Void
    ) throws(LMDBDamage) -> TreeCount {
        var count = TreeCount()
        guard record.root != LMDBLayout.invalidPage else {
            count.depth = 0
            return count
        }
        try walkPage(record.root, level: 1, low: nil, high: nil, name: name, kind: kind, count: &count, leaf: leaf)
        return count
    }

    /// Compares keys the way the tree orders them: the free-page tree's as 8-byte integers,
    /// the others as bytes (`memcmp`, then the shorter first).
    private static func precedes(_ left: ArraySlice<UInt8>, _ right: ArraySlice<UInt8>, kind: TreeKind) -> Bool {
        if kind == .free, left.count == 8, right.count == 8 {
            return Array(left).u64(0) < Array(right).u64(0)
        }
        return left.lexicographicallyPrecedes(right)
    }

    private mutating func walkPage(
        _ page: UInt64,
        level: Int,
        low: [UInt8]?,
        high: [UInt8]?,
        name: String,
        kind: TreeKind,
        count: inout TreeCount,
        leaf: (LeafEntry) throws(LMDBDamage) -> Void
    ) throws(LMDBDamage) {
        let place = "a page of the \(name) tree"
        guard level <= LMDBLayout.maxDepth else { throw LMDBDamage(page: page, "\(place) is deeper than LMDB allows") }
        try claim(page, place)
        let base = page * UInt64(pageSize)
        guard let bytes = file.bytes(at: base, count: pageSize) else { throw LMDBDamage(page: page, "\(place) cannot be read") }
        guard bytes.u64(0) == page else { throw LMDBDamage(page: page, "\(place) has page number \(bytes.u64(0)) in its header") }
        let flags = bytes.u16(10)
        let isBranch = flags == LMDBLayout.branchPage
        guard isBranch || flags == LMDBLayout.leafPage else {
            throw LMDBDamage(page: page, "\(place) has page flags 0x\(String(flags, radix: 16)), neither a branch (0x1) nor a leaf (0x2)")
        }
        let lower = Int(bytes.u16(12))
        let upper = Int(bytes.u16(14))
        let header = LMDBLayout.pageHeaderSize
        guard lower >= header, lower % 2 == 0, lower <= upper, upper <= pageSize else {
            throw LMDBDamage(page: page, "\(place) has free-space bounds \(lower) and \(upper), which do not fit a page of \(pageSize) bytes")
        }
        let keys = (lower - header) / 2
        let kindName = isBranch ? "branch" : "leaf"
        guard keys >= (isBranch && kind != .free ? 2 : 1) else {
            throw LMDBDamage(page: page, "\(place) is a \(kindName) page with \(keys) nodes")
        }
        let label = "\(kindName) page \(page) of '\(name)'"

        var extents: [(offset: Int, size: Int)] = []
        extents.reserveCapacity(keys)
        var children: [(page: UInt64, key: ArraySlice<UInt8>)] = []
        var previous: ArraySlice<UInt8>?
        for index in 0..<keys {
            let offset = Int(bytes.u16(header + 2 * index))
            guard offset >= upper, offset + LMDBLayout.nodeHeaderSize <= pageSize else {
                throw LMDBDamage(page: page, "\(place): node \(index) starts at \(offset), outside the node area \(upper)..<\(pageSize)")
            }
            let low16 = UInt64(bytes.u16(offset))
            let high16 = UInt64(bytes.u16(offset + 2))
            let nodeFlags = bytes.u16(offset + 4)
            let keySize = Int(bytes.u16(offset + 6))
            let keyStart = offset + LMDBLayout.nodeHeaderSize
            let nodeSize: Int
            if isBranch {
                nodeSize = LMDBLayout.nodeHeaderSize + keySize
                guard offset + nodeSize <= pageSize else {
                    throw LMDBDamage(page: page, "\(place): node \(index) runs past the end of the page")
                }
                children.append((low16 | high16 << 16 | UInt64(nodeFlags) << 32, bytes[keyStart..<(keyStart + keySize)]))
                mapRange(offset: base + UInt64(offset), count: LMDBLayout.nodeHeaderSize, .checked, "\(label): node \(index) header")
                // LMDB never reads the key of a branch page's first node.
                mapRange(offset: base + UInt64(keyStart), count: keySize, index == 0 ? .unused : .separator, "\(label): node \(index) key")
            } else {
                let dataSize = Int(low16 | high16 << 16)
                guard nodeFlags & ~(LMDBLayout.bigData | LMDBLayout.subDatabase) == 0,
                    nodeFlags != LMDBLayout.bigData | LMDBLayout.subDatabase,
                    nodeFlags & LMDBLayout.subDatabase == 0 || kind == .main
                else {
                    throw LMDBDamage(page: page, "\(place): node \(index) has flags 0x\(String(nodeFlags, radix: 16))")
                }
                let isBig = nodeFlags & LMDBLayout.bigData != 0
                let onPage = isBig ? 8 : dataSize
                nodeSize = LMDBLayout.nodeHeaderSize + keySize + onPage
                guard offset + nodeSize <= pageSize else {
                    throw LMDBDamage(page: page, "\(place): node \(index) runs past the end of the page")
                }
                let key = bytes[keyStart..<(keyStart + keySize)]
                if let previous, !Self.precedes(previous, key, kind: kind) {
                    throw LMDBDamage(page: page, "\(place): the keys of nodes \(index - 1) and \(index) are out of order")
                }
                if let low, Self.precedes(key, low[...], kind: kind) {
                    throw LMDBDamage(page: page, "\(place): node \(index)'s key sorts before its branch's separator")
                }
                if let high, !Self.precedes(key, high[...], kind: kind) {
                    throw LMDBDamage(page: page, "\(place): node \(index)'s key sorts after the next branch's separator")
                }
                previous = key
                let dataStart = keyStart + keySize
                var entry = LeafEntry(key: key, flags: nodeFlags, inline: nil, overflowPage: nil, size: dataSize)
                if isBig {
                    let first = bytes.u64(dataStart)
                    try claimOverflow(first, size: dataSize, name: name, count: &count)
                    entry.overflowPage = first
                } else {
                    entry.inline = bytes[dataStart..<(dataStart + dataSize)]
                }
                if kind == .main { try addDatabase(entry, page: page) }
                count.entries += 1
                try leaf(entry)
                if map != nil {
                    let entryUse: LMDBByteUse = name == "idempotency" ? .unprotected : .checked
                    mapRange(offset: base + UInt64(offset), count: LMDBLayout.nodeHeaderSize, .checked, "\(label): node \(index) header")
                    mapRange(
                        offset: base + UInt64(keyStart),
                        count: keySize,
                        kind == .free ? .freeListTransaction : entryUse,
                        "\(label): node \(index) key"
                    )
                    mapRange(
                        offset: base + UInt64(dataStart),
                        count: onPage,
                        isBig ? .checked : entryUse,
                        "\(label): node \(index) " + (isBig ? "overflow page number" : "value")
                    )
                }
            }
            extents.append((offset, nodeSize))
        }

        // The nodes fill the node area exactly: LMDB adds each below the last and closes
        // the gap when it removes one.
        extents.sort { $0.offset < $1.offset }
        var next = upper
        for (offset, size) in extents {
            guard offset == next else {
                throw LMDBDamage(
                    page: page,
                    offset < next
                        ? "\(place): two nodes overlap at byte \(offset)"
                        : "\(place): bytes \(next)..<\(offset) of the node area belong to no node"
                )
            }
            if LMDBLayout.even(size) > size {
                mapRange(offset: base + UInt64(offset + size), count: 1, .unused, "\(label): node padding")
            }
            next = offset + LMDBLayout.even(size)
        }
        guard next == pageSize else {
            throw LMDBDamage(page: page, "\(place): the nodes end at byte \(next), not at the end of the page")
        }
        if map != nil {
            mapRange(offset: base, count: 8, .checked, "\(label): page number")
            mapRange(offset: base + 8, count: 2, .unused, "\(label): pad (read only on fixed-size duplicate pages)")
            mapRange(offset: base + 10, count: 6, .checked, "\(label): flags and free-space bounds")
            mapRange(offset: base + UInt64(header), count: lower - header, .checked, "\(label): node pointers")
            mapRange(offset: base + UInt64(lower), count: upper - lower, .unused, "\(label): free space")
        }

        guard isBranch else {
            count.leafPages += 1
            if let depth = count.depth, depth != level {
                throw LMDBDamage(page: page, "\(place) is a leaf at level \(level), others are at level \(depth)")
            }
            count.depth = level
            return
        }
        count.branchPages += 1
        // The separators order the children: child i holds keys from separator i (none for
        // the first) up to separator i + 1.
        for index in 1..<children.count {
            let key = children[index].key
            if index > 1, !Self.precedes(children[index - 1].key, key, kind: kind) {
                throw LMDBDamage(page: page, "\(place): the separators of nodes \(index - 1) and \(index) are out of order")
            }
            if let low, Self.precedes(key, low[...], kind: kind) {
                throw LMDBDamage(page: page, "\(place): node \(index)'s separator sorts before its parent's")
            }
            if let high, !Self.precedes(key, high[...], kind: kind) {
                throw LMDBDamage(page: page, "\(place): node \(index)'s separator sorts after the next parent separator")
            }
        }
        for (index, child) in children.enumerated() {
            let childLow = index == 0 ? low : Array(child.key)
            let childHigh = index + 1 < children.count ? Array(children[index + 1].key) : high
            try walkPage(child.page, level: level + 1, low: childLow, high: childHigh, name: name, kind: kind, count: &count, leaf: leaf)
        }
    }

    /// Marks `page` used, once; a page past the end of the file can't be used.
    private mutating func claim(_ page: UInt64, _ place: String) throws(LMDBDamage) {
        guard page >= 2, page <= meta.lastPage else {
            throw LMDBDamage(page: page, "\(place) is page \(page), outside pages 2 to \(meta.lastPage)")
        }
        guard page < filePages else {
            throw LMDBDamage(page: page, "\(place) lies past the end of \(file.path) (\(file.size) bytes): the file is truncated")
        }
        guard !used.contains(page) else { throw LMDBDamage(page: page, "\(place) is reached twice: the page is used twice") }
        used.insert(page)
    }

    private mutating func claimOverflow(_ first: UInt64, size: Int, name: String, count: inout TreeCount) throws(LMDBDamage) {
        let pages = LMDBLayout.overflowPages(size, pageSize: pageSize)
        let place = "an overflow value of '\(name)'"
        guard first >= 2, first <= meta.lastPage, pages <= meta.lastPage - first + 1 else {
            throw LMDBDamage(page: first, "\(place) of \(size) bytes at page \(first) does not fit in pages 2 to \(meta.lastPage)")
        }
        for page in first..<(first + pages) { try claim(page, place) }
        let base = first * UInt64(pageSize)
        guard let header = file.bytes(at: base, count: LMDBLayout.pageHeaderSize) else {
            throw LMDBDamage(page: first, "\(place) cannot be read")
        }
        guard header.u64(0) == first else { throw LMDBDamage(page: first, "\(place) has page number \(header.u64(0)) in its header") }
        guard header.u16(10) == LMDBLayout.overflowPage else {
            throw LMDBDamage(page: first, "\(place) has page flags 0x\(String(header.u16(10), radix: 16)), not an overflow page (0x4)")
        }
        guard UInt64(header.u32(12)) == pages else {
            throw LMDBDamage(page: first, "\(place) says it takes \(header.u32(12)) pages; \(size) bytes take \(pages)")
        }
        count.overflowPages += pages
        guard map != nil else { return }
        let label = "overflow page \(first) of '\(name)'"
        mapRange(offset: base, count: 8, .checked, "\(label): page number")
        mapRange(offset: base + 8, count: 2, .unused, "\(label): pad")
        mapRange(offset: base + 10, count: 6, .checked, "\(label): flags and page count")
        mapRange(
            offset: base + UInt64(LMDBLayout.pageHeaderSize),
            count: size,
            name == "idempotency" ? .unprotected : .checked,
            "\(label): value"
        )
        mapRange(
            offset: base + UInt64(LMDBLayout.pageHeaderSize + size),
            count: Int(pages) * pageSize - LMDBLayout.pageHeaderSize - size,
            .unused,
            "\(label): past the value"
        )
    }

    /// Records a named database from a main-tree entry.
    private mutating func addDatabase(_ entry: LeafEntry, page: UInt64) throws(LMDBDamage) {
        let name = String(decoding: entry.key, as: UTF8.self)
        guard entry.flags == LMDBLayout.subDatabase, let value = entry.inline, value.count == LMDBLayout.databaseRecordSize else {
            throw LMDBDamage(page: page, "the main tree's entry '\(name)' is not a database record")
        }
        guard databases[name] == nil else { throw LMDBDamage(page: page, "the main tree names database '\(name)' twice") }
        databases[name] = LMDBDatabaseRecord(Array(value), at: 0)
    }

    private func mapRange(offset: UInt64, count: Int, _ use: LMDBByteUse, _ what: @autoclosure () -> String) {
        guard count > 0, let map else { return }
        map(LMDBByteRange(offset: offset, count: count, use: use, what: what()))
    }
}

/// A set of page numbers below a bound, one bit each.
private struct PageSet {
    private var words: [UInt64]

    init(count: UInt64) {
        words = [UInt64](repeating: 0, count: Int((count + 63) / 64))
    }

    func contains(_ page: UInt64) -> Bool {
        let word = Int(page / 64)
        return word < words.count && words[word] & (1 << (page % 64)) != 0
    }

    mutating func insert(_ page: UInt64) {
        let word = Int(page / 64)
        guard word < words.count else { return }
        words[word] |= 1 << (page % 64)
    }

    /// The first page up to `last` that is in neither set.
    func firstMissing(alsoIn other: PageSet, through last: UInt64) -> UInt64? {
        var page: UInt64 = 0
        while page <= last {
            let word = Int(page / 64)
            let combined = self.word(word) | other.word(word)
            if combined == .max && page % 64 == 0 {
                page += 64
                continue
            }
            if combined & (1 << (page % 64)) == 0 { return page }
            page += 1
        }
        return nil
    }

    private func word(_ index: Int) -> UInt64 { index < words.count ? words[index] : 0 }
}
