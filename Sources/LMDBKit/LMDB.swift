package import CLMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB return code turned into a Swift error. Internal: the public surface reports
/// ``EventLogError`` with code ``EventLogError/Code/storage``.
package struct LMDBError: Error, CustomStringConvertible {
    package let code: Int32
    package let operation: String
    /// Said instead of LMDB's text for `code`, when set (the damage found before opening).
    package let detail: String?

    package init(code: Int32, operation: String, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    package var description: String {
        if let detail { return "\(operation): \(detail)" }
        let text = mdb_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return "\(operation): \(text) (\(code))"
    }

    /// Whether the data file was found damaged before LMDB opened it.
    package var isDamage: Bool { code == MDB_CORRUPTED && detail != nil }

    package var isMapFull: Bool { code == MDB_MAP_FULL }
    package var isMapResized: Bool { code == MDB_MAP_RESIZED }
    /// A database or key that is not there.
    package var isNotFound: Bool { code == MDB_NOTFOUND }
    /// A database opened with a name that is a plain key, or with other flags than it has.
    package var isIncompatible: Bool { code == MDB_INCOMPATIBLE }
    /// The file is not an LMDB environment, or one of another LMDB version.
    package var isNotAnEnvironment: Bool { code == MDB_INVALID || code == MDB_VERSION_MISMATCH }
}

/// Throws an ``LMDBError`` unless `code` is `MDB_SUCCESS`.
@inline(__always)
package func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if code != MDB_SUCCESS { throw LMDBError(code: code, operation: operation()) }
}

extension MDB_val {
    /// A view of the bytes an `MDB_val` points at; valid while its transaction lives.
    @inline(__always)
    package var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: mv_data, count: mv_size) }
    @inline(__always)
    package init(_ buffer: UnsafeRawBufferPointer) {
        self.init(mv_size: buffer.count, mv_data: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
    }
}

/// A read-write lock that keeps read transactions out while the writer resizes the map:
/// `mdb_env_set_mapsize` may only run when no transaction of this process is open.
/// Writer-preferring, so a resize is not starved by a steady stream of readers.
final class MapResizeGate: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        #if canImport(Glibc)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        #else
        pthread_rwlock_init(lock, nil)
        #endif
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    @inline(__always)
    func withShared<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func withExclusive<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// One LMDB environment: a data file mapped into memory, its named databases
/// (``LMDBDatabase``) and its transactions (``LMDBTransaction``). The only way into liblmdb
/// for the rest of Playhead.
///
/// ## The thread rule
///
/// The environment is opened with `MDB_NOTLS`, so a read transaction is not bound to the
/// thread-local reader slot and may be opened from any thread (Swift tasks hop threads).
/// Every transaction is still begun, used and ended on one thread, inside one synchronous
/// call: ``withReadTransaction(_:)``, ``withWriteTransaction(_:)`` and
/// ``withTransaction(readOnly:_:)`` hand their closure an ``LMDBTransaction`` that is not
/// `Sendable` (so it cannot be sent to another task) and is invalid once the closure returns;
/// a write transaction that spans several calls on one thread (a batch) is an
/// ``LMDBWriteTransaction``, which cannot be copied and is aborted when dropped. One thread
/// at a time writes: LMDB serialises write transactions, and Playhead begins them only on
/// the writer thread of the log or of the views.
///
/// The map grows by one ``MapGrowthPolicy`` (``growMap()``), while no transaction of this
/// process is open (the ``MapResizeGate`` keeps readers out meanwhile).
package final class LMDBEnvironment: @unchecked Sendable {
    /// How an environment is opened.
    package struct Options: OptionSet, Sendable, Hashable {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Open for reading only: no write transaction can begin.
        package static let readOnly = Options(rawValue: UInt32(MDB_RDONLY))
        /// Commits do not wait for the disk (for derived data that can be folded again).
        package static let noSync = Options(rawValue: UInt32(MDB_NOSYNC))
    }

    private let handle: OpaquePointer
    package let path: String
    /// How the map grows when it fills.
    package let growth: MapGrowthPolicy
    private let gate = MapResizeGate()
    private let registeredPath: String

    /// Real paths of the environments open in this process. LMDB must not open one twice in
    /// a process: closing the second handle drops the process's fcntl locks on `lock.mdb`,
    /// which guard the reader table against other processes.
    /// Keyed by bytes: two directories whose names are two spellings of one text are two directories.
    private static let openPaths = Mutex<Set<[UInt8]>>([])

    /// The error code for an environment this process already has open.
    package static let alreadyOpenCode = EBUSY

    package init(
        path: String,
        mapSize: Int,
        maxReaders: UInt32,
        maxDatabases: UInt32,
        options: Options = [],
        growth: MapGrowthPolicy = MapGrowthPolicy()
    ) throws(LMDBError) {
        let realPath =
            realpath(path, nil).map { resolved in
                defer { free(resolved) }
                return String(cString: resolved)
            } ?? path
        let registered = Self.openPaths.withLock { $0.insert(Array(realPath.utf8)).inserted }
        guard registered else { throw LMDBError(code: Self.alreadyOpenCode, operation: "open \(path): already open in this process") }
        do throws(LMDBError) {
            // A damaged file must be refused before LMDB maps it: LMDB trusts its meta pages
            // and reads a truncated file past its end (SIGBUS).
            do {
                try LMDBDataFile.checkBeforeOpen(directory: path)
            } catch {
                throw LMDBError(code: MDB_CORRUPTED, operation: "open \(path)", detail: "data.mdb is damaged: \(error)")
            }
            handle = try Self.open(path: path, mapSize: mapSize, maxReaders: maxReaders, maxDatabases: maxDatabases, flags: options.rawValue)
        } catch {
            _ = Self.openPaths.withLock { $0.remove(Array(realPath.utf8)) }
            throw error
        }
        self.path = path
        self.growth = growth
        self.registeredPath = realPath
        clearStaleReaders()
    }

    /// Opens with LMDB's raw environment flags (for tools and tests that probe an environment).
    package convenience init(path: String, mapSize: Int, maxReaders: UInt32, maxDatabases: UInt32, flags: UInt32) throws(LMDBError) {
        try self.init(path: path, mapSize: mapSize, maxReaders: maxReaders, maxDatabases: maxDatabases, options: Options(rawValue: flags))
    }

    private static func open(path: String, mapSize: Int, maxReaders: UInt32, maxDatabases: UInt32, flags: UInt32) throws(LMDBError) -> OpaquePointer {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxreaders(env, maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_open(env, path, flags | UInt32(MDB_NOTLS), 0o644), "mdb_env_open \(path)")
            try check(mdb_env_set_assert(env, reportDamage), "mdb_env_set_assert")
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        mdb_env_close(handle)
        _ = Self.openPaths.withLock { $0.remove(Array(registeredPath.utf8)) }
    }

    /// Frees the reader slots of processes that died inside a read transaction (a killed
    /// `playhead verify`, say), which would otherwise pin old pages and make the file grow.
    /// Done at open, and periodically by the writers (``StaleReaderSweep``).
    package func clearStaleReaders() {
        var dead: Int32 = 0
        mdb_reader_check(handle, &dead)
    }

    /// The reader slots in use by read transactions: the process holding each and the
    /// transaction (snapshot) it reads. For tests and diagnostics.
    package func activeReaders() -> [(process: Int32, transaction: UInt64)] {
        final class Lines {
            var text = ""
        }
        let lines = Lines()
        withExtendedLifetime(lines) {
            _ = mdb_reader_list(
                handle,
                { message, context in
                    guard let message, let context else { return 0 }
                    Unmanaged<Lines>.fromOpaque(context).takeUnretainedValue().text += String(cString: message)
                    return 0
                },
                Unmanaged.passUnretained(lines).toOpaque()
            )
        }
        // "    pid     thread     txnid" then one line per slot; an idle slot shows "-".
        return lines.text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let process = Int32(fields[0]), let transaction = UInt64(fields[2]) else { return nil }
            return (process, transaction)
        }
    }

    // MARK: The map

    /// The current map size in bytes.
    package var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Bytes in use inside the map: the pages up to the last one used, times the page size.
    package var bytesUsed: UInt64 {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return UInt64(info.me_last_pgno + 1) * UInt64(stat.ms_psize)
    }

    /// Grows the map by the ``growth`` policy, keeping this process's readers out meanwhile.
    /// No transaction of this process may be open on the calling thread.
    @discardableResult
    package func growMap() throws(LMDBError) -> (from: Int, to: Int) {
        try gate.withExclusive { () throws(LMDBError) -> (from: Int, to: Int) in
            let current = mapSize
            let next = growth.size(after: current)
            try check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize")
            return (current, next)
        }
    }

    /// Runs `body` again, after growing the map, each time it fails because the map is
    /// full. `body` must leave no transaction open when it throws.
    package func growingWhenFull<T>(_ body: () throws -> T) throws -> T {
        while true {
            do {
                return try body()
            } catch let error as LMDBError where error.isMapFull {
                try growMap()
            }
        }
    }

    /// Another process grew the map: adopt its size (LMDB reads it when given zero).
    private func adoptGrownMap() throws(LMDBError) {
        try gate.withExclusive { () throws(LMDBError) in try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize") }
    }

    // MARK: Transactions

    /// Runs `body` inside a read-only transaction that is aborted when `body` returns: one
    /// snapshot, on the calling thread. Neither the transaction nor anything read through
    /// it may be used after `body` returns.
    package func withReadTransaction<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            let outcome: Result<T, any Error>? = try gate.withShared { () throws(LMDBError) -> Result<T, any Error>? in
                var txn: OpaquePointer?
                let code = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
                if code == MDB_MAP_RESIZED { return nil }
                try check(code, "mdb_txn_begin (read)")
                guard let txn else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin (read)") }
                defer { mdb_txn_abort(txn) }
                return Result { try body(LMDBTransaction(txn)) }
            }
            if let outcome { return try outcome.get() }
            try adoptGrownMap()
        }
    }

    /// Runs `body` inside a write transaction, on the calling thread, and commits it when
    /// `body` returns (aborts it when `body` throws).
    package func withWriteTransaction<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        try withTransaction(readOnly: false, body)
    }

    /// Runs `body` inside a transaction and commits it when `body` returns (aborts it when
    /// `body` throws). A committed read-only transaction keeps the databases it opened: how
    /// a reader opens its ``LMDBDatabase`` handles.
    package func withTransaction<T>(readOnly: Bool, _ body: (LMDBTransaction) throws -> T) throws -> T {
        if readOnly {
            var txn: OpaquePointer?
            try check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
            guard let txn else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin (read)") }
            let result: T
            do {
                result = try body(LMDBTransaction(txn))
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
            return result
        }
        let transaction = try beginWriteTransaction()
        let result = try body(transaction.transaction)
        try transaction.commit()
        return result
    }

    /// Begins a write transaction that the caller ends with ``LMDBWriteTransaction/commit()``
    /// or ``LMDBWriteTransaction/abort()`` (or by dropping it), on this thread. Adopts a map
    /// another process grew.
    package func beginWriteTransaction() throws(LMDBError) -> LMDBWriteTransaction {
        var txn: OpaquePointer?
        var code = mdb_txn_begin(handle, nil, 0, &txn)
        if code == MDB_MAP_RESIZED {
            try adoptGrownMap()
            code = mdb_txn_begin(handle, nil, 0, &txn)
        }
        try check(code, "mdb_txn_begin (write)")
        guard let txn else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin (write)") }
        return LMDBWriteTransaction(LMDBTransaction(txn))
    }

    // MARK: Files

    /// Flushes what commits wrote without waiting for the disk (``Options/noSync``) to it.
    package func sync() throws(LMDBError) {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync \(path)")
    }

    /// Writes a compacted copy of the environment into the existing, empty directory `directory`.
    package func copy(to directory: String) throws(LMDBError) {
        try check(mdb_env_copy2(handle, directory, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2 \(directory)")
    }
}

/// Clears dead readers every ``interval`` batches of the one writer of an environment, so
/// that a reader killed while the writer is busy pins pages for a bounded number of commits.
/// `mdb_reader_check` costs a scan of the reader table and one `fcntl` per other process.
package struct StaleReaderSweep {
    /// Batches between two sweeps.
    package static let interval = 16
    private var batches = 0

    package init() {}

    /// Counts a batch and sweeps `environment` every ``interval`` of them.
    package mutating func afterBatch(_ environment: LMDBEnvironment) {
        batches += 1
        guard batches >= Self.interval else { return }
        batches = 0
        environment.clearStaleReaders()
    }
}

/// Called by LMDB when one of its assertions fails, just before it aborts the process: the
/// data file is damaged in a way LMDB does not survive. Says so and what to do; LMDB then
/// prints the assertion itself.
private let reportDamage: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { env, _ in
    var path: UnsafePointer<CChar>?
    if let env { _ = mdb_env_get_path(env, &path) }
    let directory = path.map { String(cString: $0) } ?? "an LMDB environment"
    let line =
        "playhead: the data file in \(directory) is damaged (an LMDB assertion failed); "
        + "run `playhead verify` and see Docs/operations.md, \"A damaged log\"\n"
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// Big-endian 8-byte keys, so that byte order (LMDB's default comparison) is numeric order.
/// Inlinable (standard library only), so that the callers in other modules pay no call.
@inlinable @inline(__always)
package func withPositionKey<T>(_ position: UInt64, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try withUnsafeBytes(of: position.bigEndian) { try body($0) }
}

/// Reads an 8-byte big-endian key. Inlinable: a reader calls it for every record.
@inlinable @inline(__always)
package func logPosition(fromKey key: UnsafeRawBufferPointer) -> UInt64? {
    guard key.count == 8 else { return nil }
    return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self))
}
