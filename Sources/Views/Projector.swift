import CLMDB
public import EventLog
import LMDBKit

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
    /// The beginnings of the event types it folds (`user-session.`); events of other types
    /// are not given to it. By default, every event.
    var eventTypePrefixes: [String] { get }
    /// Applies one event to the read models.
    func apply(_ record: EventView, to views: ViewTransaction) throws
}

extension Projector {
    /// Every event.
    public var eventTypePrefixes: [String] { [""] }
}

/// Which projectors an event goes to, by the beginning of its type: checked once per event
/// and projector before the call, which is cheaper than calling every projector (a fold
/// sees many events, and most concern one projector).
struct ProjectorRouting: Sendable {
    private let prefixes: [[[UInt8]]]

    init(_ projectors: [any Projector]) {
        prefixes = projectors.map { $0.eventTypePrefixes.map { Array($0.utf8) } }
    }

    /// Whether the projector at `index` folds events of `type`.
    func wants(_ index: Int, _ type: UnsafeRawBufferPointer) -> Bool {
        for prefix in prefixes[index] where ViewKey.matches(type, prefixOf: prefix) { return true }
        return false
    }
}

/// Access to one projector's databases inside a `views` transaction. Exists only for the
/// duration of the call that hands it out; values it returns are copies.
///
/// During catch-up and rebuild, writes go to a ``ViewOverlay`` first (reads see them), and
/// reach LMDB in key order when the overlay is flushed: a row changed by many events is
/// written once per flush.
public struct ViewTransaction {
    let txn: OpaquePointer
    let handles: DatabaseHandles
    let owner: String
    /// Whether `put` and `delete` are allowed (a write transaction).
    public let isWritable: Bool
    /// Where writes wait for the flush, when the fold uses one.
    let overlay: ViewOverlay?

    init(txn: OpaquePointer, handles: DatabaseHandles, owner: String, isWritable: Bool, overlay: ViewOverlay? = nil) {
        self.txn = txn
        self.handles = handles
        self.owner = owner
        self.isWritable = isWritable
        self.overlay = overlay
    }

    private func handle(_ database: String) throws -> MDB_dbi {
        guard let handle = handles[database] else {
            throw ViewError("projector '\(owner)' has no database '\(database)'")
        }
        return handle
    }

    /// The value stored under `key`, nil when there is none.
    public func get(_ database: String, _ key: [UInt8]) throws -> [UInt8]? {
        let dbi = try handle(database)
        if let overlay, let pending = overlay.pending(dbi, key) { return pending.bytes }
        return try lookupStored(dbi, key)
    }

    /// Stores `value` under `key`, replacing what was there.
    public func put(_ database: String, _ key: [UInt8], _ value: [UInt8]) throws {
        guard isWritable else { throw ViewError("the views are read-only here") }
        let dbi = try handle(database)
        if let overlay {
            overlay.set(dbi, key, .value(value))
            return
        }
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
        if let overlay {
            overlay.set(dbi, key, .deleted)
            return
        }
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
        // A range must see the pending writes in order: they go to LMDB first.
        try overlay?.flush(dbi, txn)
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

    /// Changes the value stored under `key` with `body` and stores it again; returns false,
    /// changing nothing, when there is no value. During a fold with an overlay the change
    /// happens in place, without copying the row.
    @discardableResult
    public func update(_ database: String, _ key: [UInt8], _ body: (inout [UInt8]) throws -> Void) throws -> Bool {
        guard isWritable else { throw ViewError("the views are read-only here") }
        let dbi = try handle(database)
        if let overlay {
            return try overlay.update(dbi, key, fetch: { try lookupStored(dbi, key) }, body)
        }
        guard var bytes = try lookupStored(dbi, key) else { return false }
        try body(&bytes)
        try put(database, key, bytes)
        return true
    }

    /// The value in LMDB (not the overlay), copied.
    private func lookupStored(_ dbi: MDB_dbi, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { keyBytes -> [UInt8]? in
            var mdbKey = MDB_val(keyBytes)
            var value = MDB_val()
            let code = mdb_get(txn, dbi, &mdbKey, &value)
            if code == MDB_NOTFOUND { return nil }
            try check(code, "mdb_get \(owner)")
            return Array(value.buffer)
        }
    }

    /// Runs `body` with the value stored under `key` in place (no copy), nil when there is
    /// none; the bytes are valid only during the call.
    public func withValue<T>(_ database: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        let dbi = try handle(database)
        if let overlay, let pending = overlay.pending(dbi, key) {
            guard let bytes = pending.bytes else { return try body(nil) }
            return try bytes.withUnsafeBytes { try body($0) }
        }
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
    let entries: [(name: String, dbi: MDB_dbi)]

    static let none = DatabaseHandles(entries: [])

    subscript(_ name: String) -> MDB_dbi? {
        for entry in entries where entry.name == name { return entry.dbi }
        return nil
    }

    var values: [MDB_dbi] { entries.map(\.dbi) }
}

/// A misuse of the views or a damaged views environment.
public struct ViewError: Error, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Writes of a catch-up or rebuild waiting to reach LMDB: the newest value (or a delete)
/// per database and key. Flushed in key order, so LMDB sees each changed row once and walks
/// its pages in order.
final class ViewOverlay {
    /// A database and key. The key's length and first 16 bytes are kept inline as well:
    /// hashing and comparing them needs no trip to the array's storage, which matters
    /// because a hash table compares keys at every slot it probes, and the stored key's
    /// array is a cache miss away.
    private struct Key: Hashable {
        let dbi: MDB_dbi
        let count: UInt32
        let head: (UInt64, UInt64)
        let bytes: [UInt8]

        init(dbi: MDB_dbi, bytes: [UInt8]) {
            self.dbi = dbi
            self.bytes = bytes
            count = UInt32(truncatingIfNeeded: bytes.count)
            var head: (UInt64, UInt64) = (0, 0)
            bytes.withUnsafeBytes { source in
                withUnsafeMutableBytes(of: &head) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(16)))
                }
            }
            self.head = head
        }

        func hash(into hasher: inout Hasher) {
            // One word for the head, database and length (the hasher mixes it well); the
            // tail, when there is one, as bytes.
            hasher.combine(head.0 ^ (head.1 &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(dbi) << 48) ^ UInt64(count))
            if count > 16 { bytes.withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.dropFirst(16))) } }
        }

        /// LMDB's default order (bytes compared as unsigned, then the shorter first), by the
        /// inline head where it decides.
        func precedes(_ other: Key) -> Bool {
            if dbi != other.dbi { return dbi < other.dbi }
            if head.0 != other.head.0 { return UInt64(bigEndian: head.0) < UInt64(bigEndian: other.head.0) }
            if head.1 != other.head.1 { return UInt64(bigEndian: head.1) < UInt64(bigEndian: other.head.1) }
            return bytes.lexicographicallyPrecedes(other.bytes)
        }

        static func == (left: Key, right: Key) -> Bool {
            guard left.dbi == right.dbi && left.count == right.count && left.head == right.head else { return false }
            return left.count <= 16 || left.bytes.withUnsafeBytes { l in right.bytes.withUnsafeBytes { r in l.elementsEqual(r) } }
        }
    }

    /// What waits for a key.
    enum Pending {
        case value([UInt8])
        case deleted

        var bytes: [UInt8]? {
            if case .value(let bytes) = self { return bytes }
            return nil
        }
    }

    /// Used by one fold on one thread at a time, so the per-access exclusivity checks of
    /// this hot property are turned off.
    @exclusivity(unchecked) private var pending: [Key: Pending] = [:]

    /// How many keys wait.
    var count: Int { pending.count }

    /// What waits for the key, nil when nothing does.
    func pending(_ dbi: MDB_dbi, _ key: [UInt8]) -> Pending? {
        pending[Key(dbi: dbi, bytes: key)]
    }

    func set(_ dbi: MDB_dbi, _ key: [UInt8], _ value: Pending) {
        pending[Key(dbi: dbi, bytes: key)] = value
    }

    /// Changes the key's value in place; `fetch` supplies the stored value when nothing is
    /// pending. Returns false, changing nothing, when there is no value.
    func update(_ dbi: MDB_dbi, _ key: [UInt8], fetch: () throws -> [UInt8]?, _ body: (inout [UInt8]) throws -> Void) throws -> Bool {
        let key = Key(dbi: dbi, bytes: key)
        guard let index = pending.index(forKey: key) else {
            guard var bytes = try fetch() else { return false }
            try body(&bytes)
            pending[key] = .value(bytes)
            return true
        }
        guard case .value(var bytes) = pending.values[index] else { return false }
        // Leave the slot without a reference while `body` runs, so `bytes` is unique and
        // changes in place.
        pending.values[index] = .deleted
        defer { pending.values[index] = .value(bytes) }
        try body(&bytes)
        return true
    }

    /// Writes every pending change in `txn`, in database and key order.
    func flush(_ txn: OpaquePointer) throws {
        try flush(txn) { _ in true }
    }

    /// Writes the pending changes of one database in `txn`, in key order.
    func flush(_ dbi: MDB_dbi, _ txn: OpaquePointer) throws {
        try flush(txn) { $0 == dbi }
    }

    private func flush(_ txn: OpaquePointer, where included: (MDB_dbi) -> Bool) throws {
        let entries = pending.filter { included($0.key.dbi) }.sorted { $0.key.precedes($1.key) }
        for (key, value) in entries {
            pending.removeValue(forKey: key)
            try key.bytes.withUnsafeBytes { keyBytes in
                var mdbKey = MDB_val(keyBytes)
                switch value {
                case .value(let bytes):
                    try bytes.withUnsafeBytes { valueBytes in
                        var mdbValue = MDB_val(valueBytes)
                        try check(mdb_put(txn, key.dbi, &mdbKey, &mdbValue, 0), "mdb_put (flush)")
                    }
                case .deleted:
                    let code = mdb_del(txn, key.dbi, &mdbKey, nil)
                    if code != MDB_NOTFOUND { try check(code, "mdb_del (flush)") }
                }
            }
        }
    }
}
