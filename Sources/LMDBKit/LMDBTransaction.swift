import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One named database of an environment, opened by name with
/// ``LMDBTransaction/openDatabase(_:create:)``; valid for the environment's life once the
/// transaction that opened it committed. Keys sort in LMDB's default order: bytes compared
/// as unsigned, then the shorter first.
package struct LMDBDatabase: Hashable, Sendable, Comparable {
    let handle: MDB_dbi

    init(handle: MDB_dbi) { self.handle = handle }

    /// A number naming the database inside its environment (for ordering and hashing).
    package var number: UInt32 { UInt32(handle) }
    package static func < (left: LMDBDatabase, right: LMDBDatabase) -> Bool { left.handle < right.handle }
}

/// A key and a value found in a database; the bytes point into the map and are valid only
/// while the transaction that found them is open (and, in a write transaction, until it
/// next writes).
package struct LMDBEntry {
    package let key: UnsafeRawBufferPointer
    package let value: UnsafeRawBufferPointer
    @inline(__always)
    init(_ key: MDB_val, _ value: MDB_val) {
        self.key = key.buffer
        self.value = value.buffer
    }

    @inlinable @inline(__always)
    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        self.key = key
        self.value = value
    }
}

/// A transaction of an ``LMDBEnvironment``, lent to the closure of
/// ``LMDBEnvironment/withReadTransaction(_:)`` or ``LMDBEnvironment/withWriteTransaction(_:)``
/// (or by the ``LMDBWriteTransaction`` that owns it) and valid only until that returns.
///
/// Not `Sendable`: it stays on the thread that began it (see the thread rule on
/// ``LMDBEnvironment``). Only this module makes one. Reads hand out views of the map
/// (zero-copy) that are valid only while the transaction is open.
package struct LMDBTransaction {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    /// The transaction's id: for a read transaction, the snapshot it reads.
    package var id: UInt64 { UInt64(truncatingIfNeeded: mdb_txn_id(pointer)) }

    /// Opens the database `name`, creating it when `create` (in a write transaction).
    ///
    /// - Throws: ``LMDBError`` with code `MDB_NOTFOUND` when it is missing and not created,
    ///   `MDB_INCOMPATIBLE` when `name` is a key of the main database, not a database.
    package func openDatabase(_ name: String, create: Bool) throws(LMDBError) -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(pointer, name, create ? UInt32(MDB_CREATE) : 0, &dbi), "mdb_dbi_open \(name)")
        return LMDBDatabase(handle: dbi)
    }

    // MARK: Keys

    /// The value stored under `key`, nil when there is none; the bytes point into the map.
    @inline(__always)
    package func get(_ key: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var mdbKey = MDB_val(key)
        var value = MDB_val()
        let code = mdb_get(pointer, database.handle, &mdbKey, &value)
        if code == MDB_NOTFOUND { return nil }
        try check(code, "mdb_get")
        return value.buffer
    }

    /// The value stored under the bytes of `key`, nil when there is none.
    package func get(_ key: [UInt8], in database: LMDBDatabase) throws -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { bytes in try get(bytes, in: database) }
    }

    /// The value stored under the UTF-8 bytes of `key`, nil when there is none.
    package func get(_ key: String, in database: LMDBDatabase) throws -> UnsafeRawBufferPointer? {
        var key = key
        return try key.withUTF8 { utf8 in try get(UnsafeRawBufferPointer(utf8), in: database) }
    }

    /// Stores `value` under `key`, replacing what was there.
    @inline(__always)
    package func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) {
        var mdbKey = MDB_val(key)
        var mdbValue = MDB_val(value)
        try check(mdb_put(pointer, database.handle, &mdbKey, &mdbValue, 0), "mdb_put")
    }

    /// Stores `value` under `key`, replacing what was there.
    package func put(_ key: [UInt8], _ value: [UInt8], in database: LMDBDatabase) throws {
        try key.withUnsafeBytes { keyBytes in
            try value.withUnsafeBytes { valueBytes in try put(keyBytes, valueBytes, in: database) }
        }
    }

    /// Stores `value` under the UTF-8 bytes of `key`, replacing what was there.
    package func put(_ key: String, _ value: UnsafeRawBufferPointer, in database: LMDBDatabase) throws {
        var key = key
        try key.withUTF8 { utf8 in try put(UnsafeRawBufferPointer(utf8), value, in: database) }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    package func delete(_ key: UnsafeRawBufferPointer, in database: LMDBDatabase) throws(LMDBError) -> Bool {
        var mdbKey = MDB_val(key)
        let code = mdb_del(pointer, database.handle, &mdbKey, nil)
        if code == MDB_NOTFOUND { return false }
        try check(code, "mdb_del")
        return true
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    package func delete(_ key: [UInt8], in database: LMDBDatabase) throws -> Bool {
        try key.withUnsafeBytes { bytes in try delete(bytes, in: database) }
    }

    /// Removes the UTF-8 bytes of `key`; returns whether it was there.
    @discardableResult
    package func delete(_ key: String, in database: LMDBDatabase) throws -> Bool {
        var key = key
        return try key.withUTF8 { utf8 in try delete(UnsafeRawBufferPointer(utf8), in: database) }
    }

    // MARK: Databases

    /// Removes every entry of `database` (the database stays).
    package func empty(_ database: LMDBDatabase) throws(LMDBError) {
        try check(mdb_drop(pointer, database.handle, 0), "mdb_drop")
    }

    /// How many entries `database` holds.
    package func count(of database: LMDBDatabase) throws(LMDBError) -> UInt64 {
        var stat = MDB_stat()
        try check(mdb_stat(pointer, database.handle, &stat), "mdb_stat")
        return UInt64(stat.ms_entries)
    }

    /// How `database` orders two keys: negative, zero or positive.
    package func compare(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer, in database: LMDBDatabase) -> Int {
        var leftKey = MDB_val(left)
        var rightKey = MDB_val(right)
        return Int(mdb_cmp(pointer, database.handle, &leftKey, &rightKey)).signum()
    }

    // MARK: Cursors

    /// Runs `body` with a cursor over `database`, closed when `body` returns.
    package func withCursor<T>(_ database: LMDBDatabase, _ body: (LMDBCursor) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(pointer, database.handle, &cursor), "mdb_cursor_open")
        guard let cursor else { throw LMDBError(code: EINVAL, operation: "mdb_cursor_open") }
        defer { mdb_cursor_close(cursor) }
        return try body(LMDBCursor(cursor))
    }

    /// Visits the entries of `database` from the first key at or after `start` (from the
    /// first key when `start` is empty), in key order, until `body` returns false.
    package func forEach(
        in database: LMDBDatabase,
        from start: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        _ body: (LMDBEntry) throws -> Bool
    ) throws {
        try withCursor(database) { cursor in
            var entry = start.isEmpty ? try cursor.first() : try cursor.seek(start)
            while let current = entry {
                guard try body(current) else { return }
                entry = try cursor.next()
            }
        }
    }
}

@available(*, unavailable, message: "an LMDB transaction stays on the thread that began it")
extension LMDBTransaction: Sendable {}

/// A write transaction that spans several calls on one thread (a batch of the log's writer
/// or of the inline projections). It cannot be copied: exactly one owner ends it, with
/// ``commit()`` or ``abort()``; dropped without either, it is aborted. Not `Sendable`.
package struct LMDBWriteTransaction: ~Copyable {
    /// The transaction, for reads and writes while this owner lives.
    package let transaction: LMDBTransaction

    init(_ transaction: LMDBTransaction) { self.transaction = transaction }

    /// Commits the transaction. LMDB frees it even when the commit fails.
    package consuming func commit() throws(LMDBError) {
        let pointer = transaction.pointer
        discard self
        try check(mdb_txn_commit(pointer), "mdb_txn_commit")
    }

    /// Abandons everything the transaction wrote.
    package consuming func abort() {
        let pointer = transaction.pointer
        discard self
        mdb_txn_abort(pointer)
    }

    deinit { mdb_txn_abort(transaction.pointer) }
}

@available(*, unavailable, message: "an LMDB transaction stays on the thread that began it")
extension LMDBWriteTransaction: Sendable {}

/// A position in one database of one transaction, lent to the closure of
/// ``LMDBTransaction/withCursor(_:_:)``. Not `Sendable`. The moves return the entry they
/// reach, nil past either end.
package struct LMDBCursor {
    @usableFromInline let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    @inline(__always)
    func move(_ operation: MDB_cursor_op) throws(LMDBError) -> LMDBEntry? {
        var key = MDB_val()
        var value = MDB_val()
        let code = mdb_cursor_get(pointer, &key, &value, operation)
        if code == MDB_NOTFOUND { return nil }
        try check(code, "mdb_cursor_get")
        return LMDBEntry(key, value)
    }

    /// A move of ``first()``, ``last()``, ``next()`` or ``previous()``: inlinable, so that a
    /// reader's loop in another module calls `mdb_cursor_get` directly, as the code before
    /// this wrapper did, instead of a wrapper function per record.
    @inlinable @inline(__always)
    func step(_ operation: UInt32) throws(LMDBError) -> LMDBEntry? {
        var key = MDB_val(mv_size: 0, mv_data: nil)
        var value = MDB_val(mv_size: 0, mv_data: nil)
        let code = mdb_cursor_get(pointer, &key, &value, MDB_cursor_op(rawValue: operation))
        if code == MDB_NOTFOUND { return nil }
        guard code == MDB_SUCCESS else { throw Self.failure(code, "mdb_cursor_get") }
        return LMDBEntry(
            key: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
            value: UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
        )
    }

    /// The error of a failed cursor call, out of line.
    @usableFromInline @inline(never)
    static func failure(_ code: Int32, _ operation: StaticString) -> LMDBError {
        LMDBError(code: code, operation: "\(operation)")
    }

    /// The first entry.
    @inlinable @inline(__always)
    package func first() throws(LMDBError) -> LMDBEntry? { try step(MDB_FIRST.rawValue) }

    /// The last entry.
    @inlinable @inline(__always)
    package func last() throws(LMDBError) -> LMDBEntry? { try step(MDB_LAST.rawValue) }

    /// The entry after the current one.
    @inlinable @inline(__always)
    package func next() throws(LMDBError) -> LMDBEntry? { try step(MDB_NEXT.rawValue) }

    /// The entry before the current one.
    @inlinable @inline(__always)
    package func previous() throws(LMDBError) -> LMDBEntry? { try step(MDB_PREV.rawValue) }

    /// The first entry whose key is at or after `key`.
    @inline(__always)
    package func seek(_ key: UnsafeRawBufferPointer) throws(LMDBError) -> LMDBEntry? {
        var mdbKey = MDB_val(key)
        var value = MDB_val()
        let code = mdb_cursor_get(pointer, &mdbKey, &value, MDB_SET_RANGE)
        if code == MDB_NOTFOUND { return nil }
        try check(code, "mdb_cursor_get")
        return LMDBEntry(mdbKey, value)
    }

    /// Stores `value` under `key` through the cursor, replacing what was there.
    @inline(__always)
    package func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(LMDBError) {
        var mdbKey = MDB_val(key)
        var mdbValue = MDB_val(value)
        try check(mdb_cursor_put(pointer, &mdbKey, &mdbValue, 0), "mdb_cursor_put")
    }

    /// Adds `key`, which must sort after every key of the database, with room for `count`
    /// bytes of value, and returns that room to be filled before the transaction next
    /// writes: one copy of the value, not two, and no descent from the root.
    @inline(__always)
    package func append(_ key: UnsafeRawBufferPointer, reserving count: Int) throws(LMDBError) -> UnsafeMutableRawBufferPointer {
        var mdbKey = MDB_val(key)
        var value = MDB_val(mv_size: count, mv_data: nil)
        try check(mdb_cursor_put(pointer, &mdbKey, &value, UInt32(MDB_APPEND | MDB_RESERVE)), "mdb_cursor_put (append)")
        guard let data = value.mv_data else { throw LMDBError(code: EINVAL, operation: "mdb_cursor_put (reserve)") }
        return UnsafeMutableRawBufferPointer(start: data, count: count)
    }

    /// ``append(_:reserving:)`` under the 8-byte big-endian key of `position` (see
    /// ``withPositionKey(_:_:)``): the log writer's call for every event, so it is inlined
    /// into the caller's loop, without a closure for the key.
    @inlinable @inline(__always)
    package func append(position: UInt64, reserving count: Int) throws(LMDBError) -> UnsafeMutableRawBufferPointer {
        var keyBytes = position.bigEndian
        let (code, data) = withUnsafeMutableBytes(of: &keyBytes) { key in
            var mdbKey = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
            var value = MDB_val(mv_size: count, mv_data: nil)
            let code = mdb_cursor_put(pointer, &mdbKey, &value, UInt32(MDB_APPEND | MDB_RESERVE))
            return (code, value.mv_data)
        }
        guard code == MDB_SUCCESS, let data else { throw Self.appendFailure(code) }
        return UnsafeMutableRawBufferPointer(start: data, count: count)
    }

    /// The error of a failed ``append(position:reserving:)``, out of line.
    @usableFromInline @inline(never)
    static func appendFailure(_ code: Int32) -> LMDBError {
        LMDBError(code: code == MDB_SUCCESS ? EINVAL : code, operation: code == MDB_SUCCESS ? "mdb_cursor_put (reserve)" : "mdb_cursor_put (append)")
    }
}

@available(*, unavailable, message: "an LMDB cursor stays on the thread that began its transaction")
extension LMDBCursor: Sendable {}
