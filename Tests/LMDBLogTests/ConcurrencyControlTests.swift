import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

@Suite("Expected versions and idempotency", .timeLimit(.minutes(5)))
struct ConcurrencyControlTests {
    @Test("a wrong expected version is a typed conflict naming stream, expected and actual, and writes nothing")
    func conflicts() async throws {
        try await withLog { log, _ in
            _ = try await log.append(AppendRequest(stream: "a", expecting: .noStream, events: [event("a", "1")]))
            _ = try await log.append(AppendRequest(stream: "a", expecting: .exactly(1), events: [event("a", "2")]))
            let cases: [(ExpectedVersion, UInt64)] = [(.noStream, 2), (.exactly(1), 2), (.exactly(5), 2)]
            for (expected, actual) in cases {
                do {
                    _ = try await log.append(AppendRequest(stream: "a", expecting: expected, events: [event("a", "x")]))
                    Issue.record("no conflict for \(expected)")
                } catch let error as WrongExpectedVersionError {
                    #expect(error == WrongExpectedVersionError(stream: "a", expected: expected, actual: actual))
                    #expect(error.description.contains("'a'"))
                }
            }
            #expect(try log.head == 2)
            #expect(try log.streamInfo("a").version == 2)
        }
    }

    @Test("a multi-stream batch with one failing expectation writes none of its events")
    func atomicAcrossStreams() async throws {
        try await withLog { log, _ in
            _ = try await log.append(AppendRequest(events: [event("b", "1")]))
            let request = AppendRequest(
                events: [event("a", "1"), event("b", "2"), event("c", "1")],
                expectations: ["a": .noStream, "b": .noStream]
            )
            await #expect(throws: WrongExpectedVersionError.self) { try await log.append(request) }
            #expect(try log.head == 1)
            #expect(try log.streamInfo("a").version == 0)
            #expect(try log.streamInfo("c").version == 0)

            let fixed = AppendRequest(events: request.events, expectations: ["a": .noStream, "b": .exactly(1), "c": .any])
            #expect(try await log.append(fixed).positions == 2...4)
            #expect(try log.streamInfo("b") == StreamInfo(version: 2, lastPosition: 3))
        }
    }

    @Test("a failed request in a group commit does not hold back the others")
    func conflictInsideBatch() async throws {
        let commits = CommitCounter()
        let configuration = configured { configuration in configuration.commitObserver = commits.observer }
        try await withLog(configuration) { log, _ in
            log.queue?.pause()
            let good = Task { try await log.append(AppendRequest(stream: "x", expecting: .noStream, events: [event("x", "1")])) }
            let bad = Task { try await log.append(AppendRequest(stream: "x", expecting: .noStream, events: [event("x", "again")])) }
            let other = Task { try await log.append(AppendRequest(stream: "y", expecting: .noStream, events: [event("y", "1")])) }
            let allQueued = try await eventually { log.queue?.depth.queued == 3 }
            #expect(allQueued)
            log.queue?.resume()
            let results = [await good.result, await bad.result, await other.result]
            #expect(results.filter { (try? $0.get()) != nil }.count == 2)
            #expect(results.contains { if case .failure(let error) = $0 { error is WrongExpectedVersionError } else { false } })
            let head = try log.head
            let sound = try log.verify().isSound
            #expect(commits.appendCommits.count == 1)
            #expect(head == 2)
            #expect(sound)
        }
    }

    @Test("a repeated idempotency key returns the first positions and writes nothing")
    func idempotency() async throws {
        try await withLog { log, _ in
            let request = AppendRequest(events: [event("a", "1"), event("a", "2")], idempotencyKey: "req-1")
            let first = try await log.append(request)
            #expect(first.positions == 1...2 && !first.deduplicated)
            #expect(first.recordedAt == (try log.read(from: 2, limit: 1).first?.recordedAt), "the last event's recorded-at")
            _ = try await log.append(AppendRequest(events: [event("b", "1")]))
            let again = try await log.append(request)
            #expect(again == AppendResult(positions: 1...2, deduplicated: true))
            // The key wins over an expectation that would now fail: the retry of a success succeeds.
            let retried = try await log.append(AppendRequest(stream: "a", expecting: .noStream, events: request.events, idempotencyKey: "req-1"))
            #expect(retried.positions == 1...2 && retried.deduplicated)
            #expect(try log.head == 3)
            #expect(try log.statistics().idempotencyKeys == 1)
        }
    }

    @Test("the same key twice in one group commit is written once")
    func idempotencyInsideBatch() async throws {
        try await withLog { log, _ in
            log.queue?.pause()
            let request = AppendRequest(events: [event("a", "1")], idempotencyKey: "same")
            let first = Task { try await log.append(request) }
            let second = Task { try await log.append(request) }
            #expect(try await eventually { log.queue?.depth.queued == 2 })
            log.queue?.resume()
            let results = try await [first.value, second.value]
            #expect(results.map(\.positions) == [1...1, 1...1])
            #expect(results.filter(\.deduplicated).count == 1)
            #expect(try log.head == 1)
        }
    }
}

@Suite("Rows of streams without events", .timeLimit(.minutes(5)))
struct ExpectationOnlyTests {
    @Test("a refused or expectation-only request leaves no stream row behind")
    func noEmptyRows() async throws {
        let configuration = configured { $0.idleFlushDelay = .milliseconds(5) }
        try await withLog(configuration) { log, _ in
            _ = try await log.append(AppendRequest(events: [event("real", "1")]))
            await #expect(throws: WrongExpectedVersionError.self) {
                try await log.append(AppendRequest(stream: "ghost", expecting: .exactly(3), events: [event("ghost", "x")]))
            }
            _ = try await log.append(AppendRequest(events: [event("real", "2")], expectations: ["checked-only": .noStream]))
            let flushed = try await eventually { (try? log.withReader { try $0.streamsThrough() }) == 2 }
            #expect(flushed)
            #expect(try log.statistics().streams == 1)
            #expect(try log.verify().isSound)
        }
    }

    @Test("an explicit recorded-at earlier than an event the log stamps in the same request is refused")
    func explicitAfterStamped() async throws {
        let clock = ManualClock(5_000_000)
        let configuration = configured { $0.clock = clock.clock }
        try await withLog(configuration) { log, _ in
            var imported = event("i", "explicit")
            imported.recordedAt = Timestamp(microsecondsSince1970: 1_000_000)
            await #expect(throws: EventLogError.self) {
                try await log.append(AppendRequest(events: [event("i", "stamped now"), imported]))
            }
            let head = try log.head
            #expect(head == 0)
        }
    }
}
