import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

/// An inline projection for tests: events per stream, staged during a batch.
final class CountingProjection: BatchParticipant, @unchecked Sendable {
    private let lock = NSLock()
    private var committed: [String: Int] = [:]
    private var staged: [String: Int]?
    private var checkpoint: LogPosition = 0
    private var failApply = false

    func catchUp(_ reader: some EventScanner) throws {
        try reader.scan(from: lock.withLock { checkpoint } + 1) { record in
            lock.withLock {
                committed[record.stream, default: 0] += 1
                checkpoint = record.position
            }
            return true
        }
    }

    func beginBatch(_ scope: BatchScope, _ log: some EventScanner) throws { lock.withLock { staged = committed } }

    func apply(_ record: EventView) throws {
        try lock.withLock {
            if failApply { throw CocoaError(.fileWriteUnknown) }
            staged?[record.stream, default: 0] += 1
            checkpoint = record.position
        }
    }

    func commitBatch() throws {
        lock.withLock {
            committed = staged ?? committed
            staged = nil
        }
    }

    func abortBatch() { lock.withLock { staged = nil } }

    /// What a decider sees: the batch's state so far when inside one.
    func count(_ stream: String) -> Int { lock.withLock { (staged ?? committed)[stream] ?? 0 } }

    /// What the committed read model holds.
    func committedCount(_ stream: String) -> Int { lock.withLock { committed[stream] ?? 0 } }

    func failApplies(_ fail: Bool) { lock.withLock { failApply = fail } }
}

struct SoldOut: Error, Equatable {}

@Suite("Batch participants and decided appends", .timeLimit(.minutes(5)))
struct BatchParticipantTests {
    @Test("a decider sees the effects of the submissions before it in the same batch")
    func decidersSeeEarlierSubmissions() async throws {
        let projection = CountingProjection()
        let commits = CommitCounter()
        let configuration = configured {
            $0.participant = projection
            $0.commitObserver = commits.observer
        }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let takers = (0..<5).map { _ in
                Task {
                    try await log.append(deciding: { _ in
                        let taken = projection.count("seats")
                        guard taken < 3 else { throw SoldOut() }
                        return (AppendRequest(events: [event("seats", "take")]), taken + 1)
                    })
                }
            }
            let allQueued = try await eventually { log.queue?.depth.queued == 5 }
            #expect(allQueued)
            log.queue?.resume()
            var seats: [Int] = []
            var soldOut = 0
            for taker in takers {
                switch await taker.result {
                case .success(let outcome): seats.append(outcome.decision)
                case .failure(let error): if error as? SoldOut == SoldOut() { soldOut += 1 }
                }
            }
            let head = try log.head
            #expect(seats.sorted() == [1, 2, 3])
            #expect(soldOut == 2)
            #expect(commits.appendCommits.count == 1)
            #expect(head == 3)
            #expect(projection.committedCount("seats") == 3)
        }
    }

    @Test("a participant catches up with the log before the first batch")
    func catchUp() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            do {
                let log = try LMDBEventLog(directory: path)
                _ = try await log.append(AppendRequest(events: (0..<10).map { event("c-\($0 % 2)", "\($0)") }))
                await log.close()
            }
            let projection = CountingProjection()
            let log = try LMDBEventLog(directory: path, configuration: configured { $0.participant = projection })
            _ = try await log.append(AppendRequest(events: [event("c-0", "new")]))
            #expect(projection.committedCount("c-0") == 6)
            #expect(projection.committedCount("c-1") == 5)
            await log.close()
        }
    }

    @Test("a failed commit discards the participant's batch; a failing participant fails the batch")
    func abortAndFailure() async throws {
        let projection = CountingProjection()
        try await withLog(configured { $0.participant = projection }) { log, _ in
            _ = try await log.append(AppendRequest(events: [event("p", "1")]))
            log.writer?.faultInjector = { _ in ENOSPC }
            await #expect(throws: EventLogError.self) { try await log.append(AppendRequest(events: [event("p", "2")])) }
            log.writer?.faultInjector = nil
            #expect(projection.committedCount("p") == 1)

            projection.failApplies(true)
            await #expect(throws: CocoaError.self) { try await log.append(AppendRequest(events: [event("p", "3")])) }
            projection.failApplies(false)
            let head = try log.head
            #expect(head == 1)
            #expect(projection.committedCount("p") == 1)

            _ = try await log.append(AppendRequest(events: [event("p", "4")]))
            #expect(projection.committedCount("p") == 2)
            #expect(try log.read(from: 2, limit: 1).first?.payload == Array("4".utf8))
        }
    }
}
