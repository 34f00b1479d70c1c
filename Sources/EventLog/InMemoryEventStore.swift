import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ``EventStore`` kept in memory: the log of unit tests of commands and projectors, with
/// no file, no LMDB and no HTTP. It keeps every promise of the contract except durability
/// (nothing survives the process), and decides commands like the LMDB log does: one batch per
/// submission, in arrival order, with its ``BatchParticipant`` taking part.
public final class InMemoryEventStore: DecidingEventStore {
    private struct State {
        var events: [RecordedEvent] = []
        var streams: [UTF8Key: StreamInfo] = [:]
        var idempotency: [UTF8Key: ClosedRange<LogPosition>] = [:]
        var batches: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var caughtUp = false
    }

    private let state = Mutex(State())
    private let nextWaiter = Atomic<UInt64>(0)
    private let clock: @Sendable () -> Timestamp
    private let participant: (any BatchParticipant)?

    /// Creates an empty log; `clock` stamps recorded-at times (never going back), and
    /// `participant` takes part in every batch (the inline projections under test).
    public init(clock: @escaping @Sendable () -> Timestamp = Timestamp.now, participant: (any BatchParticipant)? = nil) {
        self.clock = clock
        self.participant = participant
    }

    // MARK: Appending

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        _ = try request.validate()
        let (result, _) = try write { _ in (request, ()) }
        guard let result else { throw EventLogError(.invalidRequest, "the append wrote nothing") }
        return result
    }

    public func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision) {
        try write(decide)
    }

    /// One batch: the participant begins, the decider decides, the events are stored and
    /// applied, and everything is kept or everything is forgotten.
    private func write<Decision>(
        _ decide: (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) throws -> (result: AppendResult?, decision: Decision) {
        let (outcome, waiters) = try state.withLock { state throws -> ((AppendResult?, Decision), [CheckedContinuation<Void, Never>]) in
            if let participant, !state.caughtUp {
                try participant.catchUp(RecordedEventsScanner(state.events))
                state.caughtUp = true
            }
            state.batches += 1
            let scope = BatchScope(batch: state.batches)
            try participant?.beginBatch(scope, RecordedEventsScanner(state.events))
            do {
                let (request, decision) = try decide(scope)
                guard let request else {
                    try participant?.commitBatch()
                    return ((nil, decision), [])
                }
                _ = try request.validate()
                var next = state
                let result = try Self.apply(request, to: &next, now: clock())
                if !result.deduplicated, let participant {
                    for event in next.events[(state.events.count)...] { try event.withView { try participant.apply($0) } }
                }
                try participant?.commitBatch()
                let waiters = Array(next.waiters.values)
                next.waiters = [:]
                state = next
                return ((result, decision), waiters)
            } catch {
                participant?.abortBatch()
                throw error
            }
        }
        for waiter in waiters { waiter.resume() }
        return outcome
    }

    private static func apply(_ request: AppendRequest, to state: inout State, now: Timestamp) throws -> AppendResult {
        if let key = request.idempotencyKey, let stored = state.idempotency[UTF8Key(key)] {
            return AppendResult(positions: stored, deduplicated: true)
        }
        for (stream, expected) in request.expectations {
            let actual = state.streams[stream]?.version ?? 0
            guard expected.isSatisfied(by: actual) else {
                throw WrongExpectedVersionError(stream: stream.string, expected: expected, actual: actual)
            }
        }
        var last = state.events.last?.recordedAt ?? Timestamp(microsecondsSince1970: .min)
        var recordedAt = last
        let first = LogPosition(state.events.count) + 1
        for event in request.events {
            if let kept = event.recordedAt {
                guard kept >= last else {
                    throw EventLogError(.recordedAtWentBack, "recordedAt \(kept) is earlier than the log's last, \(last)")
                }
                recordedAt = kept
            } else {
                recordedAt = max(now, last)
            }
            last = recordedAt
            let key = UTF8Key(event.stream)
            let info = state.streams[key] ?? StreamInfo(version: 0, lastPosition: nil)
            let position = LogPosition(state.events.count) + 1
            state.events.append(RecordedEvent(event, position: position, streamVersion: info.version + 1, recordedAt: recordedAt))
            state.streams[key] = StreamInfo(version: info.version + 1, lastPosition: position)
        }
        let positions = first...LogPosition(state.events.count)
        if let key = request.idempotencyKey { state.idempotency[UTF8Key(key)] = positions }
        return AppendResult(positions: positions, deduplicated: false, recordedAt: recordedAt)
    }

    // MARK: Reading

    public func currentHead() async throws -> LogPosition { head }

    /// The newest position (0 when empty).
    public var head: LogPosition { state.withLock { LogPosition($0.events.count) } }

    public func events(from position: LogPosition, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        state.withLock { state in
            let events = state.events
            guard limit > 0, !events.isEmpty else { return [] }
            switch direction {
            case .forward:
                let start = Int(max(position, 1)) - 1
                guard start < events.count else { return [] }
                return Array(events[start..<min(events.count, start + limit)])
            case .backward:
                guard position >= 1 else { return [] }
                let end = min(Int(position), events.count)
                return Array(events[max(0, end - limit)..<end].reversed())
            }
        }
    }

    public func events(inStream stream: String, from version: UInt64, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        let key = UTF8Key(stream)
        let all = state.withLock { state in state.events.filter { UTF8Key($0.stream) == key } }
        switch direction {
        case .forward: return Array(all.filter { $0.streamVersion >= version }.prefix(max(0, limit)))
        case .backward: return Array(all.filter { $0.streamVersion <= version }.reversed().prefix(max(0, limit)))
        }
    }

    public func info(ofStream stream: String) async throws -> StreamInfo {
        state.withLock { $0.streams[UTF8Key(stream)] ?? StreamInfo(version: 0, lastPosition: nil) }
    }

    /// Runs `body` with a scanner of the log as it is now (what catch-up and rebuild fold).
    public func withScanner<T>(_ body: (any EventScanner) throws -> T) rethrows -> T {
        try body(RecordedEventsScanner(state.withLock { $0.events }))
    }

    public func subscribe(from position: LogPosition) -> Subscription {
        Subscription(store: self, start: max(position, 1))
    }

    /// Suspends until the log holds more than `count` events, or the task is cancelled.
    fileprivate func waitForEvents(beyond count: LogPosition) async {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    if LogPosition(state.events.count) > count || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Events from a position on, then each new one; ends when the task is cancelled.
    public struct Subscription: AsyncSequence, Sendable {
        public typealias Element = RecordedEvent
        public typealias Failure = any Error

        let store: InMemoryEventStore
        let start: LogPosition

        public func makeAsyncIterator() -> Iterator { Iterator(store: store, next: start) }

        /// Iterates a subscription.
        public struct Iterator: AsyncIteratorProtocol {
            let store: InMemoryEventStore
            var next: LogPosition

            public mutating func next() async throws -> RecordedEvent? {
                while !Task.isCancelled {
                    if let event = try await store.events(from: next, direction: .forward, limit: 1).first {
                        next = event.position + 1
                        return event
                    }
                    await store.waitForEvents(beyond: next - 1)
                }
                return nil
            }
        }
    }
}
