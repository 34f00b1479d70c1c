import LMDBKit

/// Access to one projector's databases inside a views transaction. Exists only for the
/// duration of the call that hands it out; values it returns are copies.
///
/// Two stores back it: the `views` LMDB environment (``InlineProjections``), and sorted
/// tables in memory (``InMemoryViews``, for unit tests), which order keys exactly as LMDB
/// does (bytes compared as unsigned, then the shorter first).
///
/// During catch-up and rebuild, writes go to a ``ViewOverlay`` first (reads see them), and
/// reach LMDB in key order when the overlay is flushed: a row changed by many events is
/// written once per flush.
public struct ViewTransaction {
    /// Where the databases are.
    enum Backend {
        /// In LMDB, through a ``ViewOverlay`` when the fold uses one.
        case lmdb(LMDBTransaction, DatabaseHandles, ViewOverlay?)
        /// In memory: the tables of one projector in one batch or snapshot.
        case memory(MemoryTables)
    }

    let backend: Backend
    let owner: String
    /// Whether `put` and `delete` are allowed (a write transaction).
    public let isWritable: Bool

    init(txn: LMDBTransaction, handles: DatabaseHandles, owner: String, isWritable: Bool, overlay: ViewOverlay? = nil) {
        self.backend = .lmdb(txn, handles, overlay)
        self.owner = owner
        self.isWritable = isWritable
    }

    init(memory tables: MemoryTables, owner: String, isWritable: Bool) {
        self.backend = .memory(tables)
        self.owner = owner
        self.isWritable = isWritable
    }

    private func missing(_ database: String) -> ViewError {
        ViewError("projector '\(owner)' has no database '\(database)'")
    }

    @inline(__always)
    private func handle(_ database: String, _ handles: DatabaseHandles) throws -> LMDBDatabase {
        guard let handle = handles[database] else { throw missing(database) }
        return handle
    }

    @inline(__always)
    private func checkWritable() throws {
        guard isWritable else { throw ViewError("the views are read-only here") }
    }

    /// The value stored under `key`, nil when there is none.
    public func get(_ database: String, _ key: [UInt8]) throws -> [UInt8]? {
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            if let overlay, let pending = overlay.pending(dbi, key) { return pending.bytes }
            return try txn.get(key, in: dbi).map(Array.init)
        case .memory(let tables):
            return try tables.table(database, owner).get(key)
        }
    }

    /// Stores `value` under `key`, replacing what was there.
    public func put(_ database: String, _ key: [UInt8], _ value: [UInt8]) throws {
        try checkWritable()
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            if let overlay {
                overlay.set(dbi, key, .value(value))
                return
            }
            try txn.put(key, value, in: dbi)
        case .memory(let tables):
            try tables.modify(database, owner) { $0.put(key, value) }
        }
    }

    /// Removes `key`; removing a missing key does nothing.
    public func delete(_ database: String, _ key: [UInt8]) throws {
        try checkWritable()
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            if let overlay {
                overlay.set(dbi, key, .deleted)
                return
            }
            try txn.delete(key, in: dbi)
        case .memory(let tables):
            try tables.modify(database, owner) { $0.delete(key) }
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
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            // A range must see the pending writes in order: they go to LMDB first.
            try overlay?.flush(dbi, txn)
            try start.withUnsafeBytes { startBytes in
                try txn.forEach(in: dbi, from: startBytes) { entry in try body(Array(entry.key), Array(entry.value)) }
            }
        case .memory(let tables):
            // A snapshot of the table: `body` may change it meanwhile.
            let table = try tables.table(database, owner)
            var index = table.index(atOrAfter: start)
            while index < table.count {
                guard try body(table.keys[index], table.values[index]) else { return }
                index += 1
            }
        }
    }

    /// Visits entries as ``forEach(_:from:_:)`` does, handing each key and value over in
    /// place (valid during `body` only): for scans that read many rows and keep none.
    public func forEachInPlace(
        _ database: String,
        from start: [UInt8],
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            try overlay?.flush(dbi, txn)
            try start.withUnsafeBytes { startBytes in
                try txn.forEach(in: dbi, from: startBytes) { entry in try body(entry.key, entry.value) }
            }
        case .memory:
            try forEach(database, from: start) { key, value in
                try key.withUnsafeBytes { key in try value.withUnsafeBytes { value in try body(key, value) } }
            }
        }
    }

    /// Changes the value stored under `key` with `body` and stores it again; returns false,
    /// changing nothing, when there is no value. During a fold with an overlay the change
    /// happens in place, without copying the row.
    @discardableResult
    public func update(_ database: String, _ key: [UInt8], _ body: (inout [UInt8]) throws -> Void) throws -> Bool {
        try checkWritable()
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            if let overlay {
                return try overlay.update(dbi, key, fetch: { try txn.get(key, in: dbi).map(Array.init) }, body)
            }
            guard var bytes = try txn.get(key, in: dbi).map(Array.init) else { return false }
            try body(&bytes)
            try txn.put(key, bytes, in: dbi)
            return true
        case .memory(let tables):
            return try tables.modify(database, owner) { try $0.update(key, body) }
        }
    }

    /// Runs `body` with the value stored under `key` in place (no copy), nil when there is
    /// none; the bytes are valid only during the call.
    public func withValue<T>(_ database: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        switch backend {
        case .lmdb(let txn, let handles, let overlay):
            let dbi = try handle(database, handles)
            if let overlay, let pending = overlay.pending(dbi, key) {
                guard let bytes = pending.bytes else { return try body(nil) }
                return try bytes.withUnsafeBytes { try body($0) }
            }
            return try body(try txn.get(key, in: dbi))
        case .memory(let tables):
            guard let bytes = try tables.table(database, owner).get(key) else { return try body(nil) }
            return try bytes.withUnsafeBytes { try body($0) }
        }
    }
}

extension ViewTransaction {
    /// Adds `change` to the counter stored under `key` (8 bytes big-endian; absent is 0),
    /// removing the key when the counter comes back to 0.
    public func addToCounter(_ database: String, _ key: [UInt8], _ change: Int64) throws {
        let current = try get(database, key).map(ViewKey.integer) ?? 0
        let next = UInt64(bitPattern: Int64(bitPattern: current) &+ change)
        if next == 0 {
            try delete(database, key)
        } else {
            try put(database, key, ViewKey.bigEndian(next))
        }
    }
}

/// A projector's database handles by name. A projector has a few databases, so a scan of
/// short names beats hashing them on every access.
struct DatabaseHandles: Sendable {
    let entries: [(name: String, dbi: LMDBDatabase)]

    static let none = DatabaseHandles(entries: [])

    @inline(__always)
    subscript(_ name: String) -> LMDBDatabase? {
        for entry in entries where entry.name == name { return entry.dbi }
        return nil
    }

    var values: [LMDBDatabase] { entries.map(\.dbi) }
}
