import CLMDB
public import EventLog
import LMDBKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one consistent snapshot of the log. Exists only inside
/// ``LMDBEventLog/withReader(_:)``; it and every ``EventRecord`` it hands out are invalid
/// once that closure returns.
///
/// Every record it hands out has passed its checksum: a damaged one throws
/// ``RecordFormatError`` naming its position, so a fold, an export or a subscription stops
/// there instead of skipping it or reading it wrong.
///
/// Visiting functions call `visit` for each record in order until `limit` records were
/// visited or `visit` returns false, and return how many were visited.
public struct LogReader {
    let txn: OpaquePointer
    let databases: LogDatabases

    /// The position of the newest event in this snapshot (0 when empty), from its key: the
    /// record itself is not read.
    public func head() throws -> LogPosition {
        try withCursor(databases.events) { cursor in
            var key = MDB_val()
            var value = MDB_val()
            let code = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
            if code == MDB_NOTFOUND { return 0 }
            try check(code, "mdb_cursor_get last")
            guard let position = logPosition(fromKey: key) else {
                throw RecordFormatError(position: 0, reason: "an event key is not 8 bytes long")
            }
            return position
        }
    }

    /// The newest record, if any.
    public func lastRecord() throws -> EventRecord? {
        try withCursor(databases.events) { cursor in
            var key = MDB_val()
            var value = MDB_val()
            let code = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
            if code == MDB_NOTFOUND { return nil }
            try check(code, "mdb_cursor_get last")
            return try record(key: key, value: value)
        }
    }

    /// The record at `position`, nil when there is none.
    public func record(at position: LogPosition) throws -> EventRecord? {
        var value = MDB_val()
        let code = withPositionKey(position) { key in mdb_get(txn, databases.events, &key, &value) }
        if code == MDB_NOTFOUND { return nil }
        try check(code, "mdb_get event \(position)")
        return try EventRecord(position: position, bytes: value.buffer)
    }

    /// Visits records from `position` (inclusive) in `direction`. Reading backward from a
    /// position past the head starts at the head.
    @discardableResult
    public func visit(
        from position: LogPosition,
        direction: ReadDirection = .forward,
        limit: Int = .max,
        _ visit: (EventRecord) throws -> Bool
    ) throws -> Int {
        guard limit > 0 else { return 0 }
        return try withCursor(databases.events) { cursor in
            var key = MDB_val()
            var value = MDB_val()
            var code = withPositionKey(position) { start in
                key = start
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
            if direction == .backward {
                // Start at the last record at or before `position`.
                if code == MDB_NOTFOUND {
                    code = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
                } else if code == MDB_SUCCESS, let found = logPosition(fromKey: key), found > position {
                    code = mdb_cursor_get(cursor, &key, &value, MDB_PREV)
                }
            }
            let step = direction == .forward ? MDB_NEXT : MDB_PREV
            var visited = 0
            while code == MDB_SUCCESS {
                visited += 1
                guard try visit(try record(key: key, value: value)), visited < limit else { break }
                code = mdb_cursor_get(cursor, &key, &value, step)
            }
            if code != MDB_SUCCESS && code != MDB_NOTFOUND { try check(code, "mdb_cursor_get events") }
            return visited
        }
    }

    /// The stream's version and newest position; version 0 when it has no events.
    public func streamInfo(_ stream: String) throws -> StreamInfo {
        let state = try streamState(stream)
        return StreamInfo(version: state.version, lastPosition: state.version == 0 ? nil : state.lastPosition)
    }

    /// Visits one stream's records from `version` (inclusive; 1 is its first event).
    ///
    /// Forward, it finds the stream's next indexed checkpoint and walks the chain of
    /// previous positions back to `version`, one chunk of at most the checkpoint interval at
    /// a time; backward, it walks the chain down. Either way a read costs a bounded number of
    /// lookups per record, however long the stream.
    @discardableResult
    public func visitStream(
        _ stream: String,
        from version: UInt64,
        direction: ReadDirection = .forward,
        limit: Int = .max,
        _ visit: (EventRecord) throws -> Bool
    ) throws -> Int {
        let state = try streamState(stream)
        guard state.version > 0, limit > 0 else { return 0 }
        let interval = databases.checkpointInterval
        var utf8 = Array(stream.utf8)
        var visited = 0

        /// The position of `target` and the record there, found from the nearest anchor at or above it.
        func locate(_ target: UInt64) throws -> (anchor: UInt64, position: LogPosition) {
            let anchor = min((target + interval - 1) / interval * interval, state.version)
            if anchor == state.version { return (anchor, state.lastPosition) }
            return (anchor, try checkpoint(&utf8, version: anchor))
        }

        /// Walks back from (`version`, `position`) to `target`, returning that record's position.
        func walkBack(from version: UInt64, position: LogPosition, to target: UInt64) throws -> LogPosition {
            var version = version
            var position = position
            while version > target {
                let record = try expectRecord(at: position, stream: utf8, version: version)
                position = record.previousPositionInStream
                version -= 1
            }
            return position
        }

        switch direction {
        case .forward:
            var next = max(version, 1)
            while next <= state.version && visited < limit {
                // Walk the chain back from the anchor once, keeping the views (valid for the
                // whole transaction), then visit them oldest first.
                let (anchor, anchorPosition) = try locate(next)
                var chunk: [EventRecord] = []
                chunk.reserveCapacity(Int(anchor - next + 1))
                var position = anchorPosition
                for version in stride(from: anchor, through: next, by: -1) {
                    let record = try expectRecord(at: position, stream: utf8, version: version)
                    chunk.append(record)
                    position = record.previousPositionInStream
                }
                for record in chunk.reversed() {
                    visited += 1
                    guard try visit(record), visited < limit else { return visited }
                    next += 1
                }
            }
        case .backward:
            var current = min(version, state.version)
            guard current >= 1 else { return 0 }
            let (anchor, anchorPosition) = try locate(current)
            var position = try walkBack(from: anchor, position: anchorPosition, to: current)
            while current >= 1 {
                let record = try expectRecord(at: position, stream: utf8, version: current)
                visited += 1
                guard try visit(record), visited < limit else { return visited }
                position = record.previousPositionInStream
                current -= 1
            }
        }
        return visited
    }

    // MARK: Internals

    /// The log position the stored stream rows reflect.
    func streamsThrough() throws -> LogPosition {
        try MetaKey.get(MetaKey.streamsThrough, database: databases.meta, txn: txn) ?? 0
    }

    /// A stream's stored row with the events after the rows' position folded in.
    func streamState(_ stream: String) throws -> StreamState {
        var state = try StreamState.stored(stream, in: databases.streams, txn: txn)
        let utf8 = Array(stream.utf8)
        try visit(from: try streamsThrough() + 1) { record in
            if record.streamBytes.elementsEqual(utf8) {
                state = StreamState(version: record.streamVersion, lastPosition: record.position)
            }
            return true
        }
        return state
    }

    private func checkpoint(_ stream: inout [UInt8], version: UInt64) throws -> LogPosition {
        try stream.withUnsafeBytes { bytes in
            try CheckpointKey.withKey(stream: bytes, version: version) { keyBytes in
                var key = MDB_val(keyBytes)
                var value = MDB_val()
                let code = mdb_get(txn, databases.checkpoints, &key, &value)
                guard code != MDB_NOTFOUND, value.mv_size == 8, let data = value.mv_data else {
                    throw RecordFormatError(position: 0, reason: "the stream index has no checkpoint for version \(version)")
                }
                try check(code, "mdb_get stream checkpoint")
                return UInt64(littleEndian: data.loadUnaligned(as: UInt64.self))
            }
        }
    }

    /// The record at `position`, which the stream index says is `stream` at `version`.
    private func expectRecord(at position: LogPosition, stream: [UInt8], version: UInt64) throws -> EventRecord {
        guard let record = try record(at: position) else {
            throw RecordFormatError(position: position, reason: "the stream index points at a missing event")
        }
        guard record.streamVersion == version, record.streamBytes.elementsEqual(stream) else {
            throw RecordFormatError(position: position, reason: "the stream index expected version \(version) of another stream here")
        }
        return record
    }

    @inline(__always)
    private func record(key: MDB_val, value: MDB_val) throws -> EventRecord {
        guard let position = logPosition(fromKey: key) else {
            throw RecordFormatError(position: 0, reason: "an event key is not 8 bytes long")
        }
        return try EventRecord(position: position, bytes: value.buffer)
    }

    func withCursor<T>(_ database: MDB_dbi, _ body: (OpaquePointer) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, database, &cursor), "mdb_cursor_open")
        guard let cursor else { throw LMDBError(code: EINVAL, operation: "mdb_cursor_open") }
        defer { mdb_cursor_close(cursor) }
        return try body(cursor)
    }
}

extension LogReader: EventScanner {
    /// Visits the records from `position` on as store-neutral views; see ``visit(from:direction:limit:_:)``.
    @discardableResult
    public func scan(from position: LogPosition, _ visit: (EventView) throws -> Bool) throws -> Int {
        try self.visit(from: position) { record in try visit(record.view) }
    }
}
