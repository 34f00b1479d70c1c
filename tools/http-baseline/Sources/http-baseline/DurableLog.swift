// The durable floor: what any server must do before it may answer a write it promises to
// keep. Each request's bytes become one value in a raw LMDB environment (8-byte big-endian
// keys, MDB_APPEND through one cursor), written by one thread that commits whatever has
// queued in one durable transaction (fsync) and only then answers those requests.
//
// Its group commit is Playhead's: after a commit that answered n requests, the writer waits
// up to 1 ms for n new ones before it commits again, so that the two servers differ in what
// they do per request, not in how they batch.
import CLMDB
import Foundation

/// An error from liblmdb: the call and its code.
struct LMDBFailure: Error, CustomStringConvertible {
    let operation: String
    let code: Int32
    var description: String { "\(operation): \(String(cString: mdb_strerror(code)))" }
}

/// An append-only table of byte strings in a raw LMDB environment, committed in groups.
final class DurableLog: @unchecked Sendable {
    private struct Pending {
        var bytes: [UInt8]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let environment: OpaquePointer
    private let table: MDB_dbi
    // Guards `pending`; the writer thread owns everything else.
    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var nextKey: UInt64 = 1

    /// Opens (creating) the environment in `directory` and starts the writer thread.
    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env: OpaquePointer?
        try Self.check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBFailure(operation: "mdb_env_create", code: EINVAL) }
        environment = env
        try Self.check(mdb_env_set_mapsize(env, 1 << 36), "mdb_env_set_mapsize")
        try Self.check(mdb_env_open(env, directory, UInt32(MDB_NOTLS), 0o644), "mdb_env_open")
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var dbi = MDB_dbi()
        try Self.check(mdb_dbi_open(txn, nil, 0, &dbi), "mdb_dbi_open")
        // Go on after the last key of an existing table.
        var cursor: OpaquePointer?
        try Self.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
        var key = MDB_val()
        var value = MDB_val()
        if mdb_cursor_get(cursor, &key, &value, MDB_LAST) == MDB_SUCCESS, key.mv_size == 8, let data = key.mv_data {
            nextKey = UInt64(bigEndian: data.loadUnaligned(as: UInt64.self)) + 1
        }
        mdb_cursor_close(cursor)
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
        table = dbi
        let thread = Thread { [self] in run() }
        thread.name = "baseline-log-writer"
        thread.start()
    }

    /// Appends `bytes` and returns once they are durable.
    func append(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            pending.append(Pending(bytes: bytes, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
    }

    private func run() {
        var previousBatch = 1
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            if previousBatch > 1 && pending.count < previousBatch {
                let deadline = Date(timeIntervalSinceNow: 0.001)
                while pending.count < previousBatch && condition.wait(until: deadline) {}
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            previousBatch = batch.count
            let result: Result<Void, any Error> = Result { try write(batch) }
            for item in batch { item.continuation.resume(with: result) }
        }
    }

    private func write(_ batch: [Pending]) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(environment, nil, 0, &txn), "mdb_txn_begin")
        var cursor: OpaquePointer?
        do {
            try Self.check(mdb_cursor_open(txn, table, &cursor), "mdb_cursor_open")
            defer { mdb_cursor_close(cursor) }
            for item in batch {
                var key = nextKey.bigEndian
                try withUnsafeMutableBytes(of: &key) { keyBytes in
                    var bytes = item.bytes
                    try bytes.withUnsafeMutableBytes { valueBytes in
                        var k = MDB_val(mv_size: keyBytes.count, mv_data: keyBytes.baseAddress)
                        var v = MDB_val(mv_size: valueBytes.count, mv_data: valueBytes.baseAddress)
                        try Self.check(mdb_cursor_put(cursor, &k, &v, UInt32(MDB_APPEND)), "mdb_cursor_put")
                    }
                }
                nextKey += 1
            }
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }

    private static func check(_ code: Int32, _ operation: String) throws {
        guard code == MDB_SUCCESS else { throw LMDBFailure(operation: operation, code: code) }
    }
}
