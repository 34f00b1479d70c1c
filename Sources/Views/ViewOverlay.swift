import LMDBKit

/// Writes of a catch-up or rebuild waiting to reach LMDB: the newest value (or a delete)
/// per database and key. Flushed in key order, so LMDB sees each changed row once and walks
/// its pages in order.
final class ViewOverlay {
    /// A database and key. The key's length and first 16 bytes are kept inline as well:
    /// hashing and comparing them needs no trip to the array's storage, which matters
    /// because a hash table compares keys at every slot it probes, and the stored key's
    /// array is a cache miss away.
    private struct Key: Hashable {
        let dbi: LMDBDatabase
        let count: UInt32
        let head: (UInt64, UInt64)
        let bytes: [UInt8]

        init(dbi: LMDBDatabase, bytes: [UInt8]) {
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
            hasher.combine(head.0 ^ (head.1 &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(dbi.number) << 48) ^ UInt64(count))
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
    /// The keys that entered `pending`, per database (a key flushed since may still be
    /// listed): a fold that scans a range of one database flushes that database's keys
    /// alone, in O(its keys), however many other rows wait.
    @exclusivity(unchecked) private var keysByDatabase: [LMDBDatabase: [Key]] = [:]

    /// How many keys wait.
    var count: Int { pending.count }

    /// What waits for the key, nil when nothing does.
    func pending(_ dbi: LMDBDatabase, _ key: [UInt8]) -> Pending? {
        pending[Key(dbi: dbi, bytes: key)]
    }

    func set(_ dbi: LMDBDatabase, _ key: [UInt8], _ value: Pending) {
        let key = Key(dbi: dbi, bytes: key)
        if pending.updateValue(value, forKey: key) == nil { keysByDatabase[dbi, default: []].append(key) }
    }

    /// Changes the key's value in place; `fetch` supplies the stored value when nothing is
    /// pending. Returns false, changing nothing, when there is no value.
    func update(_ dbi: LMDBDatabase, _ key: [UInt8], fetch: () throws -> [UInt8]?, _ body: (inout [UInt8]) throws -> Void) throws -> Bool {
        let key = Key(dbi: dbi, bytes: key)
        guard let index = pending.index(forKey: key) else {
            guard var bytes = try fetch() else { return false }
            try body(&bytes)
            pending[key] = .value(bytes)
            keysByDatabase[dbi, default: []].append(key)
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
    func flush(_ txn: LMDBTransaction) throws {
        let entries = pending.sorted { $0.key.precedes($1.key) }
        pending.removeAll(keepingCapacity: true)
        keysByDatabase.removeAll(keepingCapacity: true)
        try write(entries, txn)
    }

    /// Writes the pending changes of one database in `txn`, in key order.
    func flush(_ dbi: LMDBDatabase, _ txn: LMDBTransaction) throws {
        guard let keys = keysByDatabase.removeValue(forKey: dbi) else { return }
        var entries: [(key: Key, value: Pending)] = []
        entries.reserveCapacity(keys.count)
        for key in keys {
            if let value = pending.removeValue(forKey: key) { entries.append((key, value)) }
        }
        entries.sort { $0.key.precedes($1.key) }
        try write(entries, txn)
    }

    private func write(_ entries: [(key: Key, value: Pending)], _ txn: LMDBTransaction) throws {
        for (key, value) in entries {
            switch value {
            case .value(let bytes): try txn.put(key.bytes, bytes, in: key.dbi)
            case .deleted: try txn.delete(key.bytes, in: key.dbi)
            }
        }
    }
}
