import CLMDB
import EventLog
import Foundation
import LMDBKit

/// One opened `views` environment holding the databases of a set of projectors and their
/// checkpoints. ``InlineProjections`` keeps the live one; a rebuild folds the log into a
/// fresh one. Closed when the last reference goes.
final class ViewsStore: @unchecked Sendable {
    let directory: String
    let environment: LMDBEnvironment
    let handles: [String: DatabaseHandles]
    let checkpoints: MDB_dbi

    /// Opens the views in `directory` for `projectors`: for writing, creating what is
    /// missing; or, with `readOnly`, only to read views that exist (no write transaction, so
    /// never waiting for a server's batch).
    init(directory: String, projectors: [any Projector], initialMapSize: Int, readOnly: Bool = false) throws {
        guard Set(projectors.map(\.name)).count == projectors.count else {
            throw ViewError("two projectors share a name")
        }
        if !readOnly { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let environment = try LMDBEnvironment(
            path: directory,
            mapSize: initialMapSize,
            maxReaders: 1024,
            maxDatabases: UInt32(2 + projectors.reduce(0) { $0 + $1.databases.count }),
            flags: UInt32(MDB_NOSYNC) | (readOnly ? UInt32(MDB_RDONLY) : 0)
        )
        // A read-only transaction keeps the handles it opens once it commits.
        let openFlags = readOnly ? UInt32(0) : UInt32(MDB_CREATE)
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin (views open)")
        guard let transaction = txn else { throw ViewError("no transaction") }
        var handles: [String: DatabaseHandles] = [:]
        do {
            for projector in projectors {
                var own: [(name: String, dbi: MDB_dbi)] = []
                for database in projector.databases {
                    own.append((database, try environment.openDatabase("\(projector.name).\(database)", flags: openFlags, in: transaction)))
                }
                handles[projector.name] = DatabaseHandles(entries: own)
            }
            checkpoints = try environment.openDatabase("checkpoints", flags: openFlags, in: transaction)
            try check(mdb_txn_commit(transaction), "mdb_txn_commit (views open)")
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        self.directory = directory
        self.environment = environment
        self.handles = handles
    }

    func view(_ projector: String, _ txn: OpaquePointer, writable: Bool, overlay: ViewOverlay? = nil) -> ViewTransaction {
        ViewTransaction(txn: txn, handles: handles[projector] ?? .none, owner: projector, isWritable: writable, overlay: overlay)
    }

    func beginWrite() throws -> OpaquePointer {
        var txn: OpaquePointer?
        var code = mdb_txn_begin(environment.handle, nil, 0, &txn)
        if code == MDB_MAP_RESIZED {
            try environment.gate.withExclusive { () throws(LMDBError) in try environment.setMapSize(0) }
            code = mdb_txn_begin(environment.handle, nil, 0, &txn)
        }
        try check(code, "mdb_txn_begin (views)")
        guard let txn else { throw ViewError("no transaction") }
        return txn
    }

    /// Doubles the map; no transaction of these views may be open.
    func grow() throws {
        let next = environment.mapSize * 2
        try environment.gate.withExclusive { () throws(LMDBError) in try environment.setMapSize(next) }
    }

    func storedCheckpoint(_ name: String, _ txn: OpaquePointer) throws -> (version: UInt32, position: LogPosition)? {
        try lookup(name, in: checkpoints, txn: txn) { bytes -> (version: UInt32, position: LogPosition)? in
            guard bytes.count == 12 else { return nil }
            return (
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
            )
        } ?? nil
    }

    func storeCheckpoint(_ projector: any Projector, position: LogPosition, _ txn: OpaquePointer) throws {
        var bytes = [UInt8]()
        withUnsafeBytes(of: projector.version.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: position.littleEndian) { bytes.append(contentsOf: $0) }
        try bytes.withUnsafeBytes { try store(projector.name, $0, in: checkpoints, txn: txn) }
    }

    /// The oldest position every projector has applied (0 when one has applied nothing).
    func oldestCheckpoint(_ projectors: [any Projector]) throws -> LogPosition {
        try environment.withReadTransaction { txn in
            try projectors.map { try storedCheckpoint($0.name, txn)?.position ?? 0 }.min() ?? 0
        }
    }

    /// Folds the log into these views until they are at `last` (the reader's head when nil):
    /// empties the projectors whose version changed, then applies every event after each
    /// projector's checkpoint through a write-back ``ViewOverlay``, flushing and committing
    /// every 262,144 events. Grows the map when it fills. Returns how many events were read.
    @discardableResult
    func catchUp(
        _ projectors: [any Projector],
        from reader: some EventScanner,
        through last: LogPosition? = nil,
        progress: ((LogPosition) -> Void)? = nil
    ) throws -> Int {
        while true {
            do {
                return try catchUpOnce(projectors, reader, through: last ?? reader.head(), progress: progress)
            } catch let error as LMDBError where error.isMapFull {
                try grow()
            }
        }
    }

    private func catchUpOnce(
        _ projectors: [any Projector],
        _ reader: some EventScanner,
        through last: LogPosition,
        progress: ((LogPosition) -> Void)?
    ) throws -> Int {
        // Nil while no transaction is open: a commit frees its transaction even when it fails.
        var open: OpaquePointer? = try beginWrite()
        defer { if let open { mdb_txn_abort(open) } }
        // Per projector, by index: the last position applied.
        var positions = [LogPosition](repeating: 0, count: projectors.count)
        let overlay = ViewOverlay()
        func transaction() throws -> OpaquePointer {
            guard let open else { throw ViewError("no views transaction open") }
            return open
        }
        // The last event visited; past `caughtUpFrom`, every projector has applied it.
        var visited: LogPosition = 0
        var caughtUpFrom: LogPosition = 0
        func commit() throws {
            let txn = try transaction()
            try overlay.flush(txn)
            if visited >= caughtUpFrom {
                for index in positions.indices { positions[index] = max(positions[index], visited) }
            }
            for (index, projector) in projectors.enumerated() { try storeCheckpoint(projector, position: positions[index], txn) }
            open = nil
            try check(mdb_txn_commit(txn), "mdb_txn_commit (views catch-up)")
        }
        for (index, projector) in projectors.enumerated() {
            let txn = try transaction()
            let stored = try storedCheckpoint(projector.name, txn)
            if let stored, stored.version == projector.version {
                positions[index] = stored.position
            } else {
                for dbi in (handles[projector.name] ?? .none).values { try check(mdb_drop(txn, dbi, 0), "mdb_drop") }
                positions[index] = 0
            }
        }
        let start = (positions.min() ?? 0) + 1
        guard start <= last else {
            try commit()
            return 0
        }
        var sinceCommit = 0
        var read = 0
        // The views of the open transaction, made again after each commit.
        var views = try projectors.map { view($0.name, try transaction(), writable: true, overlay: overlay) }
        let routing = ProjectorRouting(projectors)
        caughtUpFrom = (positions.max() ?? 0) + 1
        try reader.scan(from: start) { record in
            guard record.position <= last else { return false }
            let type = record.typeBytes
            if record.position >= caughtUpFrom {
                // Every projector takes every event from here on (all of a rebuild): no
                // per-projector positions to check and move.
                for index in projectors.indices where routing.wants(index, type) {
                    try projectors[index].apply(record, to: views[index])
                }
            } else {
                for index in projectors.indices where positions[index] < record.position {
                    if routing.wants(index, type) { try projectors[index].apply(record, to: views[index]) }
                    positions[index] = record.position
                }
            }
            visited = record.position
            read += 1
            sinceCommit += 1
            if sinceCommit == 262_144 {
                try commit()
                open = try beginWrite()
                views = try projectors.map { view($0.name, try transaction(), writable: true, overlay: overlay) }
                sinceCommit = 0
                progress?(record.position)
            }
            return true
        }
        try commit()
        progress?(last)
        return read
    }
}

/// Where a difference between two views lies.
public struct ViewDifference: Sendable, Hashable, CustomStringConvertible {
    /// `projector.database`.
    public var database: String
    /// The key, in hex.
    public var key: String
    /// What differs: a key only on one side, or different values.
    public var reason: String

    public var description: String { "\(database) key \(key): \(reason)" }
}

extension ViewsStore {
    /// Compares every database of `projectors` with `other`, key by key, in one read
    /// snapshot of each; returns the oldest checkpoint of this snapshot and up to `limit`
    /// differences.
    func differences(
        from other: ViewsStore,
        projectors: [any Projector],
        limit: Int = 10
    ) throws -> (position: LogPosition, differences: [ViewDifference]) {
        try environment.withReadTransaction { mine in
            let position = try projectors.map { try storedCheckpoint($0.name, mine)?.position ?? 0 }.min() ?? 0
            return try other.environment.withReadTransaction { theirs in
                var found: [ViewDifference] = []
                for projector in projectors {
                    for database in projector.databases {
                        guard found.count < limit,
                            let left = handles[projector.name]?[database],
                            let right = other.handles[projector.name]?[database]
                        else { continue }
                        try compare(
                            "\(projector.name).\(database)",
                            mine,
                            left,
                            theirs,
                            right,
                            limit: limit,
                            into: &found
                        )
                    }
                }
                return (position, found)
            }
        }
    }

    /// Writes a compacted copy of these views into the empty directory `path`.
    func copy(to path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try check(mdb_env_copy2(environment.handle, path, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2 \(path)")
    }

    /// Forgets `projector`'s checkpoint, so that the next catch-up empties it and folds the
    /// whole log into it again.
    func reset(_ projector: String) throws {
        let txn = try beginWrite()
        let code = projector.withCString { name -> Int32 in
            var key = MDB_val(mv_size: strlen(name), mv_data: UnsafeMutableRawPointer(mutating: name))
            return mdb_del(txn, checkpoints, &key, nil)
        }
        guard code == MDB_SUCCESS || code == MDB_NOTFOUND else {
            mdb_txn_abort(txn)
            try check(code, "mdb_del checkpoint \(projector)")
            return
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit (reset \(projector))")
    }

    private func compare(
        _ name: String,
        _ leftTxn: OpaquePointer,
        _ left: MDB_dbi,
        _ rightTxn: OpaquePointer,
        _ right: MDB_dbi,
        limit: Int,
        into found: inout [ViewDifference]
    ) throws {
        var leftCursor: OpaquePointer?
        var rightCursor: OpaquePointer?
        try check(mdb_cursor_open(leftTxn, left, &leftCursor), "mdb_cursor_open")
        defer { mdb_cursor_close(leftCursor) }
        try check(mdb_cursor_open(rightTxn, right, &rightCursor), "mdb_cursor_open")
        defer { mdb_cursor_close(rightCursor) }
        var leftKey = MDB_val()
        var leftValue = MDB_val()
        var rightKey = MDB_val()
        var rightValue = MDB_val()
        var leftCode = mdb_cursor_get(leftCursor, &leftKey, &leftValue, MDB_FIRST)
        var rightCode = mdb_cursor_get(rightCursor, &rightKey, &rightValue, MDB_FIRST)
        func hex(_ bytes: UnsafeRawBufferPointer) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        while found.count < limit && (leftCode == MDB_SUCCESS || rightCode == MDB_SUCCESS) {
            let order: Int
            if leftCode != MDB_SUCCESS {
                order = 1
            } else if rightCode != MDB_SUCCESS {
                order = -1
            } else {
                order = Int(mdb_cmp(leftTxn, left, &leftKey, &rightKey)).signum()
            }
            if order < 0 {
                found.append(ViewDifference(database: name, key: hex(leftKey.buffer), reason: "only in the live views"))
                leftCode = mdb_cursor_get(leftCursor, &leftKey, &leftValue, MDB_NEXT)
            } else if order > 0 {
                found.append(ViewDifference(database: name, key: hex(rightKey.buffer), reason: "only in the rebuilt views"))
                rightCode = mdb_cursor_get(rightCursor, &rightKey, &rightValue, MDB_NEXT)
            } else {
                if !leftValue.buffer.elementsEqual(rightValue.buffer) {
                    found.append(ViewDifference(database: name, key: hex(leftKey.buffer), reason: "values differ"))
                }
                leftCode = mdb_cursor_get(leftCursor, &leftKey, &leftValue, MDB_NEXT)
                rightCode = mdb_cursor_get(rightCursor, &rightKey, &rightValue, MDB_NEXT)
            }
        }
        for code in [leftCode, rightCode] where code != MDB_SUCCESS && code != MDB_NOTFOUND {
            try check(code, "mdb_cursor_get \(name)")
        }
    }
}
