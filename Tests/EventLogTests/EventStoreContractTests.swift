import EventLog
import Foundation
import LMDBLog
import PostgresLog
import Synchronization
import TestSupport
import Testing

/// The implementations of the log's contract. Every test of ``EventStoreContractTests``
/// runs against each. The PostgreSQL log is on the list when a test server is named
/// (`PLAYHEAD_TEST_POSTGRES_URL`, which `tools/test` always sets).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case inMemory = "in memory"
    case lmdb = "LMDB"
    case postgres = "PostgreSQL"

    static var allCases: [StoreKind] { TestPostgres.isAvailable ? [.inMemory, .lmdb, .postgres] : [.inMemory, .lmdb] }

    var testDescription: String { rawValue }

    /// Runs `body` with a new, empty store of this kind, closed and removed afterwards.
    func withStore(_ body: (any DecidingEventStore) async throws -> Void) async throws {
        switch self {
        case .inMemory:
            try await body(InMemoryEventStore())
        case .lmdb:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-contract-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let log = try LMDBEventLog(directory: directory + "/log")
            do {
                try await body(log)
            } catch {
                await log.close()
                throw error
            }
            await log.close()
        case .postgres:
            try await TestPostgres.withDatabase { url in
                let log = try await PostgresEventLog.open(PostgresLocation(url: url))
                do {
                    try await body(log)
                } catch {
                    await log.close()
                    throw error
                }
                await log.close()
            }
        }
    }
}

private func event(_ stream: String, _ payload: [UInt8] = [1], type: String = "thing.happened") -> ProposedEvent {
    ProposedEvent(type: type, stream: stream, payload: payload)
}

@Suite("The EventStore contract, for every implementation", .timeLimit(.minutes(5)))
struct EventStoreContractTests {
    @Test("positions start at 1, are contiguous across batches and follow commit order", arguments: StoreKind.allCases)
    func positions(kind: StoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.currentHead() == 0)
            let first = try await store.append(AppendRequest(events: [event("a"), event("b")]))
            let second = try await store.append(AppendRequest(events: [event("a")]))
            #expect(first.positions == 1...2)
            #expect(second.positions == 3...3)
            #expect(try await store.currentHead() == 3)
            let all = try await store.events(from: 1, direction: .forward, limit: 10)
            #expect(all.map(\.position) == [1, 2, 3])
            #expect(all.map(\.stream) == ["a", "b", "a"])
            #expect(all.map(\.streamVersion) == [1, 1, 2])
            // Recorded-at never decreases along the log.
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.recordedAt <= $1.recordedAt })
        }
    }

    @Test("reads go forward or backward from a position, within a limit", arguments: StoreKind.allCases)
    func reads(kind: StoreKind) async throws {
        try await kind.withStore { store in
            for index in 0..<5 { _ = try await store.append(AppendRequest(events: [event("s\(index % 2)", [UInt8(index)])])) }
            #expect(try await store.events(from: 2, direction: .forward, limit: 2).map(\.position) == [2, 3])
            #expect(try await store.events(from: 4, direction: .backward, limit: 3).map(\.position) == [4, 3, 2])
            #expect(try await store.events(from: 6, direction: .forward, limit: 2).isEmpty)
            #expect(try await store.events(inStream: "s0", from: 2, direction: .forward, limit: 10).map(\.payload) == [[2], [4]])
            #expect(try await store.events(inStream: "s1", from: 2, direction: .backward, limit: 10).map(\.payload) == [[3], [1]])
            let info = try await store.info(ofStream: "s0")
            #expect(info.version == 3)
            #expect(info.lastPosition == 5)
            #expect(try await store.info(ofStream: "nobody").version == 0)
            #expect(try await store.info(ofStream: "nobody").lastPosition == nil)
        }
    }

    @Test("a failed expectation writes nothing of the batch and names the stream", arguments: StoreKind.allCases)
    func expectations(kind: StoreKind) async throws {
        try await kind.withStore { store in
            _ = try await store.append(AppendRequest(stream: "a", expecting: .noStream, events: [event("a")]))
            _ = try await store.append(AppendRequest(stream: "a", expecting: .exactly(1), events: [event("a")]))
            await #expect(throws: WrongExpectedVersionError(stream: "a", expected: .exactly(1), actual: 2)) {
                try await store.append(AppendRequest(events: [event("b"), event("a")], expectations: ["a": .exactly(1)]))
            }
            await #expect(throws: WrongExpectedVersionError(stream: "a", expected: .noStream, actual: 2)) {
                try await store.append(AppendRequest(stream: "a", expecting: .noStream, events: [event("a")]))
            }
            #expect(try await store.currentHead() == 2)
            #expect(try await store.info(ofStream: "b").version == 0)
            _ = try await store.append(AppendRequest(stream: "a", expecting: .any, events: [event("a")]))
            #expect(try await store.info(ofStream: "a").version == 3)
        }
    }

    @Test("a retried idempotency key answers the first positions and writes nothing", arguments: StoreKind.allCases)
    func idempotency(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let request = AppendRequest(events: [event("a"), event("a")], idempotencyKey: "order-7")
            let first = try await store.append(request)
            _ = try await store.append(AppendRequest(events: [event("b")]))
            let again = try await store.append(request)
            #expect(first.positions == 1...2)
            #expect(!first.deduplicated)
            #expect(again.positions == 1...2)
            #expect(again.deduplicated)
            #expect(try await store.currentHead() == 3)
        }
    }

    @Test("a request that breaks a limit is refused before anything is written", arguments: StoreKind.allCases)
    func limits(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let refusals = [
                AppendRequest(events: []),
                AppendRequest(events: [event("")]),
                AppendRequest(events: [event(String(repeating: "s", count: EventLogLimits.maxStreamBytes + 1))]),
                AppendRequest(events: [event("a", type: "")]),
                AppendRequest(events: [event("a")], idempotencyKey: ""),
            ]
            for request in refusals {
                do {
                    _ = try await store.append(request)
                    Issue.record("\(request) was appended")
                } catch let error as EventLogError {
                    #expect(error.code == .invalidRequest)
                }
            }
            #expect(try await store.currentHead() == 0)
        }
    }

    @Test("a decider's events are appended; nothing when it returns no request or throws", arguments: StoreKind.allCases)
    func deciding(kind: StoreKind) async throws {
        struct Refused: Error {}
        try await kind.withStore { store in
            let appended = try await store.append(deciding: { _ in (AppendRequest(events: [event("a")]), "yes") })
            #expect(appended.decision == "yes")
            #expect(appended.result?.positions == 1...1)
            let nothing = try await store.append(deciding: { _ in (nil, 7) })
            #expect(nothing.decision == 7)
            #expect(nothing.result == nil)
            await #expect(throws: Refused.self) {
                try await store.append(deciding: { _ -> (request: AppendRequest?, decision: Int) in throw Refused() })
            }
            #expect(try await store.currentHead() == 1)
        }
    }

    @Test("a subscription yields every event once, in order: those stored, then those appended concurrently", arguments: StoreKind.allCases)
    func subscription(kind: StoreKind) async throws {
        try await kind.withStore { store in
            for _ in 0..<3 { _ = try await store.append(AppendRequest(events: [event("before")])) }
            let total = 3 + 4 * 25
            let subscription = store.subscribe(from: 2)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for _ in 0..<25 { _ = try await store.append(AppendRequest(events: [event("w\(writer)")])) }
                    }
                }
                var positions: [LogPosition] = []
                for try await recorded in subscription {
                    positions.append(recorded.position)
                    if positions.count == total - 1 { break }
                }
                #expect(positions == Array(2...LogPosition(total)))
                try await group.waitForAll()
            }
        }
    }

    @Test("a subscription waiting for new events ends when its task is cancelled", arguments: StoreKind.allCases)
    func cancelledSubscription(kind: StoreKind) async throws {
        try await kind.withStore { store in
            _ = try await store.append(AppendRequest(events: [event("a")]))
            let subscription = store.subscribe(from: 1)
            let (received, signal) = AsyncStream.makeStream(of: Void.self)
            let follower = Task {
                var seen = 0
                for try await _ in subscription {
                    seen += 1
                    signal.yield()
                }
                return seen
            }
            // Once the follower has the one event, it waits for the next; cancelling ends it.
            for await _ in received { break }
            follower.cancel()
            #expect(try await follower.value == 1)
        }
    }
}
