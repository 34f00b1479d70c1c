/// One database kept in memory: keys sorted as LMDB sorts them by default (bytes compared
/// as unsigned, then the shorter first), each with its value. A value type: a copy is a
/// snapshot, and copies share storage until one changes.
struct MemoryTable: Sendable, Equatable {
    private(set) var keys: [[UInt8]] = []
    private(set) var values: [[UInt8]] = []

    var count: Int { keys.count }

    /// LMDB's default order: `[UInt8]`'s lexicographic order compares bytes as unsigned and
    /// puts a prefix before the longer key, as `memcmp` then the length does.
    @inline(__always)
    static func precedes(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        left.lexicographicallyPrecedes(right)
    }

    /// The index of the first key at or after `key` (``count`` when there is none).
    func index(atOrAfter key: [UInt8]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if Self.precedes(keys[middle], key) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// The index of `key`, nil when it is absent.
    private func index(of key: [UInt8]) -> Int? {
        let index = index(atOrAfter: key)
        return index < keys.count && keys[index] == key ? index : nil
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        index(of: key).map { values[$0] }
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        let index = index(atOrAfter: key)
        if index < keys.count && keys[index] == key {
            values[index] = value
        } else {
            keys.insert(key, at: index)
            values.insert(value, at: index)
        }
    }

    mutating func delete(_ key: [UInt8]) {
        guard let index = index(of: key) else { return }
        keys.remove(at: index)
        values.remove(at: index)
    }

    /// Changes the value of `key` in place; false, changing nothing, when it is absent.
    mutating func update(_ key: [UInt8], _ body: (inout [UInt8]) throws -> Void) rethrows -> Bool {
        guard let index = index(of: key) else { return false }
        try body(&values[index])
        return true
    }
}

/// The tables of one projector as one transaction sees them: a batch's working copy, or a
/// snapshot of the committed state. Used by one thread at a time (the writer, or the reader
/// of the snapshot).
final class MemoryTables: @unchecked Sendable {
    private(set) var tables: [String: MemoryTable]

    init(_ tables: [String: MemoryTable]) { self.tables = tables }

    /// The table of `database`; `owner` names the projector in the error when it has none.
    func table(_ database: String, _ owner: String) throws -> MemoryTable {
        guard let table = tables[database] else { throw ViewError("projector '\(owner)' has no database '\(database)'") }
        return table
    }

    /// Changes the table of `database` in place.
    func modify<T>(_ database: String, _ owner: String, _ body: (inout MemoryTable) throws -> T) throws -> T {
        guard let index = tables.index(forKey: database) else {
            throw ViewError("projector '\(owner)' has no database '\(database)'")
        }
        return try body(&tables.values[index])
    }
}
