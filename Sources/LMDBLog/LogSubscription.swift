public import EventLog
import LMDBKit

/// Events from a position on: first those already in the log, then each newly committed
/// one, in position order with no gap and no duplicate.
///
/// The iterator reads the log by position in its own read transactions and waits on the
/// log's committed head only when it has caught up; the head is published after each
/// commit, so the switch from catch-up to live cannot lose or repeat an event. Iteration
/// ends (returns nil) when the log closes or the task is cancelled.
public struct LogSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    public typealias Failure = any Error

    let log: LMDBEventLog
    let start: LogPosition
    let chunkSize: Int

    /// Creates the iterator.
    public func makeAsyncIterator() -> Iterator {
        Iterator(log: log, next: Swift.max(start, 1), chunkSize: chunkSize)
    }

    /// Iterates a subscription.
    public struct Iterator: AsyncIteratorProtocol {
        let log: LMDBEventLog
        var next: LogPosition
        let chunkSize: Int
        var buffer: [RecordedEvent] = []
        var index = 0

        /// The next event, waiting for one to be committed when caught up.
        public mutating func next() async throws -> RecordedEvent? {
            while index == buffer.count {
                if Task.isCancelled { return nil }
                buffer = try log.read(from: next, limit: chunkSize)
                index = 0
                if let last = buffer.last {
                    next = last.position + 1
                } else if !(await log.waitForHead(past: next - 1)) {
                    return nil
                }
            }
            defer { index += 1 }
            return buffer[index]
        }
    }
}

extension LMDBEventLog {
    /// Subscribes from `position` (inclusive; 1 is the first event).
    public func subscribe(from position: LogPosition, chunkSize: Int) -> LogSubscription {
        LogSubscription(log: self, start: position, chunkSize: max(1, chunkSize))
    }

    /// Suspends until the head is past `position`; false when the log closed or the task was
    /// cancelled. A read-only log learns of other processes' commits by polling.
    func waitForHead(past position: LogPosition) async -> Bool {
        if writer != nil { return await notifier.wait(forHeadPast: position) }
        while !Task.isCancelled && !notifier.isClosed {
            if let head = try? self.head, head > position { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Copies up to `limit` events from `position` (inclusive) in `direction`.
    public func read(from position: LogPosition, direction: ReadDirection = .forward, limit: Int) throws -> [RecordedEvent] {
        try withReader { reader in
            var events: [RecordedEvent] = []
            events.reserveCapacity(min(limit, 4096))
            try reader.visit(from: position, direction: direction, limit: limit) { record in
                events.append(record.copy())
                return true
            }
            return events
        }
    }

    /// Copies up to `limit` events of one stream from `version` (inclusive) in `direction`.
    public func readStream(
        _ stream: String,
        from version: UInt64,
        direction: ReadDirection = .forward,
        limit: Int
    ) throws -> [RecordedEvent] {
        try withReader { reader in
            var events: [RecordedEvent] = []
            try reader.visitStream(stream, from: version, direction: direction, limit: limit) { record in
                events.append(record.copy())
                return true
            }
            return events
        }
    }

    /// A stream's version and newest position.
    public func streamInfo(_ stream: String) throws -> StreamInfo {
        try withReader { try $0.streamInfo(stream) }
    }
}
