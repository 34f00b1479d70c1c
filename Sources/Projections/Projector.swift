import CLMDB
public import EventLog

/// Folds events into read models: one named part of the `views` environment.
///
/// A projector is a pure fold. It reads only the event it is given and its own
/// databases, uses no clock and no randomness, and so gives the same read models however
/// often the log is folded again.
public protocol Projector: Sendable {
    /// A stable name; its databases are stored as `name.database`.
    var name: String { get }
    /// Bump it when the read models' layout or meaning changes: the projector's databases are
    /// then emptied and the whole log is folded again on the next start.
    var version: UInt32 { get }
    /// The databases it keeps (each opened, and created when missing, at start).
    var databases: [String] { get }
    /// Applies one event to the read models.
    func apply(_ record: EventRecord, to views: ViewTransaction) throws
}

/// Access to one projector's databases inside a `views` transaction. Exists only for the
/// duration of the call that hands it out; values it returns are copies.
public struct ViewTransaction {
    let txn: OpaquePointer
    let handles: [String: MDB_dbi]
    let owner: String
    /// Whether `put` and `delete` are allowed (a write transaction).
    public let isWritable: Bool

    private func handle(_ database: String) throws -> MDB_dbi {
        guard let handle = handles[database] else {
            throw ViewError("projector '\(owner)' has no database '\(database)'")
        }
        return handle
    }

    /// The value stored under `key`, nil when there is none.
    public func get(_ database: String, _ key: [UInt8]) throws -> [UInt8]? {
        let dbi = try handle(database)
        return try key.withUnsafeBytes { keyBytes -> [UInt8]? in
            var mdbKey = MDB_val(keyBytes)
            var value = MDB_val()
            let code = mdb_get(txn, dbi, &mdbKey, &value)
            if code == MDB_NOTFOUND { return nil }
            try check(code, "mdb_get \(owner).\(database)")
            return Array(value.buffer)
        }
    }

    /// Stores `value` under `key`, replacing what was there.
    public func put(_ database: String, _ key: [UInt8], _ value: [UInt8]) throws {
        guard isWritable else { throw ViewError("the views are read-only here") }
        let dbi = try handle(database)
        try key.withUnsafeBytes { keyBytes in
            try value.withUnsafeBytes { valueBytes in
                var mdbKey = MDB_val(keyBytes)
                var mdbValue = MDB_val(valueBytes)
                try check(mdb_put(txn, dbi, &mdbKey, &mdbValue, 0), "mdb_put \(owner).\(database)")
            }
        }
    }

    /// Removes `key`; removing a missing key does nothing.
    public func delete(_ database: String, _ key: [UInt8]) throws {
        guard isWritable else { throw ViewError("the views are read-only here") }
        let dbi = try handle(database)
        try key.withUnsafeBytes { keyBytes in
            var mdbKey = MDB_val(keyBytes)
            let code = mdb_del(txn, dbi, &mdbKey, nil)
            if code != MDB_NOTFOUND { try check(code, "mdb_del \(owner).\(database)") }
        }
    }

    /// Visits the entries whose key starts with `prefix`, in key order, until `body` returns false.
    public func forEach(_ database: String, prefix: [UInt8] = [], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        try forEach(database, from: prefix) { key, value in
            guard key.starts(with: prefix) else { return false }
            return try body(key, value)
        }
    }

    /// Visits the entries from the first key at or after `start`, in key order, until `body`
    /// returns false (a range scan: `body` stops at the range's end).
    public func forEach(_ database: String, from start: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let dbi = try handle(database)
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open \(owner).\(database)")
        defer { mdb_cursor_close(cursor) }
        try start.withUnsafeBytes { startBytes in
            var key = MDB_val(startBytes)
            var value = MDB_val()
            var code = mdb_cursor_get(cursor, &key, &value, start.isEmpty ? MDB_FIRST : MDB_SET_RANGE)
            while code == MDB_SUCCESS {
                guard try body(Array(key.buffer), Array(value.buffer)) else { return }
                code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
            if code != MDB_NOTFOUND { try check(code, "mdb_cursor_get \(owner).\(database)") }
        }
    }

    /// Runs `body` with the value stored under `key` in place (no copy), nil when there is
    /// none; the bytes are valid only during the call.
    public func withValue<T>(_ database: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        let dbi = try handle(database)
        return try key.withUnsafeBytes { keyBytes -> T in
            var mdbKey = MDB_val(keyBytes)
            var value = MDB_val()
            let code = mdb_get(txn, dbi, &mdbKey, &value)
            if code == MDB_NOTFOUND { return try body(nil) }
            try check(code, "mdb_get \(owner).\(database)")
            return try body(value.buffer)
        }
    }
}

/// A misuse of the views or a damaged views environment.
public struct ViewError: Error, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
