public import EventLog
import LMDBKit

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
    let txn: LMDBTransaction
    let databases: LogDatabases

    /// The position of the newest event in this snapshot (0 when empty), from its key: the
    /// record itself is not read.
    public func head() throws -> LogPosition {
        try txn.withCursor(databases.events) { cursor in
            guard let last = try cursor.last() else { return 0 }
            guard let position = logPosition(fromKey: last.key) else {
                throw RecordFormatError(position: 0, reason: "an event key is not 8 bytes long")
            }
            return position
        }
    }

    /// The newest record, if any.
    public func lastRecord() throws -> EventRecord? {
        try txn.withCursor(databases.events) { cursor in
            try cursor.last().map(record(_:))
        }
    }

    /// The record at `position`, nil when there is none.
    public func record(at position: LogPosition) throws -> EventRecord? {
        guard let bytes = try withPositionKey(position, { key in try txn.get(key, in: databases.events) }) else { return nil }
        return try EventRecord(position: position, bytes: bytes)
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
        return try txn.withCursor(databases.events) { cursor in
            var entry = try withPositionKey(position) { start in try cursor.seek(start) }
            let forward = direction == .forward
            if !forward {
                // Start at the last record at or before `position`.
                if let found = entry {
                    if let at = logPosition(fromKey: found.key), at > position { entry = try cursor.previous() }
                } else {
                    entry = try cursor.last()
                }
            }
            var visited = 0
            while let current = entry {
                visited += 1
                guard try visit(try record(current)), visited < limit else { break }
                entry = forward ? try cursor.next() : try cursor.previous()
            }
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
            try CheckpointKey.withKey(stream: bytes, version: version) { key in
                guard let value = try txn.get(key, in: databases.checkpoints), value.count == 8 else {
                    throw RecordFormatError(position: 0, reason: "the stream index has no checkpoint for version \(version)")
                }
                return UInt64(littleEndian: value.loadUnaligned(as: UInt64.self))
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
    private func record(_ entry: LMDBEntry) throws -> EventRecord {
        guard let position = logPosition(fromKey: entry.key) else {
            throw RecordFormatError(position: 0, reason: "an event key is not 8 bytes long")
        }
        return try EventRecord(position: position, bytes: entry.value)
    }
}

extension LogReader: EventScanner {
    /// Visits the records from `position` on as store-neutral views; see ``visit(from:direction:limit:_:)``.
    @discardableResult
    public func scan(from position: LogPosition, _ visit: (EventView) throws -> Bool) throws -> Int {
        try self.visit(from: position) { record in try visit(record.view) }
    }
}
