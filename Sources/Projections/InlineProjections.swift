import CLMDB
public import EventLog
import Foundation

/// The inline projections: a `views` LMDB environment and the projectors that fold the log
/// into it, taking part in every batch the log's writer commits (see ``BatchParticipant``).
///
/// The views are written with `MDB_NOSYNC`: they are derived, so after a crash a projection
/// behind the log catches up from its checkpoint (the last position it applied, kept in the
/// same transaction as its read models). A projector whose ``Projector/version`` changed
/// is emptied and folds the whole log again.
///
/// Command deciders read the views with ``read(_:_:)`` on the writer thread, and see the
/// effects of the earlier submissions of their batch; everyone else reads the last committed
/// state.
public final class InlineProjections: BatchParticipant, @unchecked Sendable {
    /// The directory of the `views` environment.
    public let directory: String
    private let projectors: [any Projector]
    private let environment: LMDBEnvironment
    private let handles: [String: [String: MDB_dbi]]
    private let checkpoints: MDB_dbi

    // Batch state: touched only by the log's writer thread.
    private var batchTransaction: OpaquePointer?
    private var batchThread: pthread_t?
    private var lastApplied: LogPosition = 0
    private var mapFull = false

    /// Opens (creating when missing) the views in `directory` for `projectors`.
    public init(directory: String, projectors: [any Projector], initialMapSize: Int = 1 << 30) throws {
        guard Set(projectors.map(\.name)).count == projectors.count else {
            throw ViewError("two projectors share a name")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let environment = try LMDBEnvironment(
            path: directory,
            mapSize: initialMapSize,
            maxReaders: 1024,
            maxDatabases: UInt32(2 + projectors.reduce(0) { $0 + $1.databases.count }),
            flags: UInt32(MDB_NOSYNC)
        )
        var txn: OpaquePointer?
        try check(mdb_txn_begin(environment.handle, nil, 0, &txn), "mdb_txn_begin (views open)")
        guard let transaction = txn else { throw ViewError("no transaction") }
        var handles: [String: [String: MDB_dbi]] = [:]
        do {
            for projector in projectors {
                var own: [String: MDB_dbi] = [:]
                for database in projector.databases {
                    own[database] = try environment.openDatabase("\(projector.name).\(database)", flags: UInt32(MDB_CREATE), in: transaction)
                }
                handles[projector.name] = own
            }
            checkpoints = try environment.openDatabase("checkpoints", flags: UInt32(MDB_CREATE), in: transaction)
            try check(mdb_txn_commit(transaction), "mdb_txn_commit (views open)")
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        self.directory = directory
        self.projectors = projectors
        self.environment = environment
        self.handles = handles
    }

    // MARK: Reading

    /// Runs `body` with the views of `projector`: inside a batch on the writer thread (a
    /// command decider), the batch's own state; elsewhere, the last committed state.
    public func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T {
        guard let own = handles[projector] else { throw ViewError("no projector named '\(projector)'") }
        if let batchTransaction, let batchThread, pthread_equal(batchThread, pthread_self()) != 0 {
            return try body(ViewTransaction(txn: batchTransaction, handles: own, owner: projector, isWritable: false))
        }
        return try environment.withReadTransaction { txn in
            try body(ViewTransaction(txn: txn, handles: own, owner: projector, isWritable: false))
        }
    }

    /// The version and last applied position stored for `projector`.
    public func checkpoint(of projector: String) throws -> (version: UInt32, position: LogPosition)? {
        try environment.withReadTransaction { txn in try storedCheckpoint(projector, txn) }
    }

    // MARK: BatchParticipant

    public func catchUp(_ reader: LogReader) throws {
        while true {
            do {
                try catchUpOnce(reader)
                return
            } catch let error as LMDBError where error.isMapFull {
                try grow()
            }
        }
    }

    /// Empties the projectors whose version changed, then folds every event after the
    /// oldest checkpoint, committing every 65,536 events.
    private func catchUpOnce(_ reader: LogReader) throws {
        // Nil while no transaction is open: a commit frees its transaction even when it fails.
        var open: OpaquePointer? = try beginWrite()
        defer { if let open { mdb_txn_abort(open) } }
        var positions: [String: LogPosition] = [:]
        func transaction() throws -> OpaquePointer {
            guard let open else { throw ViewError("no views transaction open") }
            return open
        }
        func commit() throws {
            let txn = try transaction()
            for projector in projectors { try storeCheckpoint(projector, position: positions[projector.name] ?? 0, txn) }
            open = nil
            try check(mdb_txn_commit(txn), "mdb_txn_commit (views catch-up)")
        }
        for projector in projectors {
            let txn = try transaction()
            let stored = try storedCheckpoint(projector.name, txn)
            if let stored, stored.version == projector.version {
                positions[projector.name] = stored.position
            } else {
                for dbi in (handles[projector.name] ?? [:]).values { try check(mdb_drop(txn, dbi, 0), "mdb_drop") }
                positions[projector.name] = 0
            }
        }
        let start = (positions.values.min() ?? 0) + 1
        var sinceCommit = 0
        try reader.visit(from: start) { record in
            let txn = try transaction()
            for projector in projectors where (positions[projector.name] ?? 0) < record.position {
                try projector.apply(
                    record,
                    to: ViewTransaction(txn: txn, handles: handles[projector.name] ?? [:], owner: projector.name, isWritable: true)
                )
                positions[projector.name] = record.position
            }
            sinceCommit += 1
            if sinceCommit == 65_536 {
                try commit()
                open = try beginWrite()
                sinceCommit = 0
            }
            return true
        }
        try commit()
    }

    public func beginBatch() throws {
        if mapFull { try grow() }
        batchTransaction = try beginWrite()
        batchThread = pthread_self()
        lastApplied = 0
    }

    public func apply(_ record: EventRecord) throws {
        guard let txn = batchTransaction else { throw ViewError("apply outside a batch") }
        do {
            for projector in projectors {
                try projector.apply(
                    record,
                    to: ViewTransaction(txn: txn, handles: handles[projector.name] ?? [:], owner: projector.name, isWritable: true)
                )
            }
        } catch let error as LMDBError where error.isMapFull {
            mapFull = true
            throw BatchRetryRequest(reason: "the views map is full; it grows and the batch is written again")
        }
        lastApplied = record.position
    }

    public func commitBatch() throws {
        guard let txn = batchTransaction else { return }
        batchTransaction = nil
        batchThread = nil
        do {
            if lastApplied > 0 {
                for projector in projectors { try storeCheckpoint(projector, position: lastApplied, txn) }
            }
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit (views)")
    }

    public func abortBatch() {
        if let txn = batchTransaction { mdb_txn_abort(txn) }
        batchTransaction = nil
        batchThread = nil
    }

    // MARK: Internals

    private func beginWrite() throws -> OpaquePointer {
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

    /// Doubles the map; no transaction of the views may be open.
    private func grow() throws {
        let next = environment.mapSize * 2
        try environment.gate.withExclusive { () throws(LMDBError) in try environment.setMapSize(next) }
        mapFull = false
    }

    private func storedCheckpoint(_ name: String, _ txn: OpaquePointer) throws -> (version: UInt32, position: LogPosition)? {
        try lookup(name, in: checkpoints, txn: txn) { bytes -> (version: UInt32, position: LogPosition)? in
            guard bytes.count == 12 else { return nil }
            return (
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
            )
        } ?? nil
    }

    private func storeCheckpoint(_ projector: any Projector, position: LogPosition, _ txn: OpaquePointer) throws {
        var bytes = [UInt8]()
        withUnsafeBytes(of: projector.version.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: position.littleEndian) { bytes.append(contentsOf: $0) }
        try bytes.withUnsafeBytes { try store(projector.name, $0, in: checkpoints, txn: txn) }
    }
}
