import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

@Suite("Append and read", .timeLimit(.minutes(5)))
struct AppendAndReadTests {
    @Test("every header field and the payload round-trip")
    func roundTrip() async throws {
        try await withLog { log, _ in
            let id = UUID()
            let correlation = UUID()
            let causation = UUID()
            let proposed = ProposedEvent(
                type: "session.started",
                stream: "user-session/42",
                payload: [0, 1, 2, 255],
                eventID: id,
                occurredAt: Timestamp(microsecondsSince1970: 1_700_000_000_123_456),
                correlationID: correlation,
                causationID: causation,
                actor: "user-42"
            )
            let result = try await log.append(AppendRequest(events: [proposed, event("user-session/43", "plain")]))
            #expect(result.positions == 1...2)
            #expect(!result.deduplicated)

            let events = try log.read(from: 1, limit: 10)
            #expect(events.count == 2)
            let first = try #require(events.first)
            #expect(first.position == 1)
            #expect(first.type == "session.started")
            #expect(first.stream == "user-session/42")
            #expect(first.streamVersion == 1)
            #expect(first.payload == [0, 1, 2, 255])
            #expect(first.eventID == id)
            #expect(first.occurredAt == Timestamp(microsecondsSince1970: 1_700_000_000_123_456))
            #expect(first.correlationID == correlation)
            #expect(first.causationID == causation)
            #expect(first.actor == "user-42")
            let second = events[1]
            #expect(second.occurredAt == nil && second.correlationID == nil && second.causationID == nil && second.actor.isEmpty)
            #expect(second.eventID != first.eventID)
            #expect(second.eventID.uuidString.dropFirst(14).first == "7")  // a UUIDv7 made by the log
        }
    }

    @Test("global reads forward and backward with limits")
    func globalReads() async throws {
        try await withLog { log, _ in
            for index in 1...30 {
                _ = try await log.append(AppendRequest(events: [event("s-\(index % 3)", "e\(index)")]))
            }
            #expect(try log.head == 30)
            #expect(try log.read(from: 11, limit: 5).map(\.position) == [11, 12, 13, 14, 15])
            #expect(try log.read(from: 28, limit: 10).map(\.position) == [28, 29, 30])
            #expect(try log.read(from: 31, limit: 10).isEmpty)
            #expect(try log.read(from: 5, direction: .backward, limit: 3).map(\.position) == [5, 4, 3])
            #expect(try log.read(from: 1000, direction: .backward, limit: 2).map(\.position) == [30, 29])
            #expect(try log.read(from: 0, direction: .backward, limit: 2).isEmpty)
            #expect(try log.read(from: 0, limit: 1).map(\.position) == [1])
        }
    }

    @Test(
        "stream reads match a filter of the whole log, across checkpoints and the unflushed tail",
        arguments: [UInt64(1), 3, 64]
    )
    func streamReads(checkpointInterval: UInt64) async throws {
        let configuration = configured {
            $0.streamCheckpointInterval = checkpointInterval
            $0.streamRowFlushInterval = 23
        }
        try await withLog(configuration) { log, _ in
            var random = SystemRandomNumberGenerator()
            for batch in 0..<40 {
                let events = (0..<Int.random(in: 1...9, using: &random)).map { index in
                    event("stream-\(Int.random(in: 0..<4, using: &random))", "b\(batch)-\(index)")
                }
                _ = try await log.append(AppendRequest(events: events))
            }
            let all = try log.read(from: 1, limit: .max)
            for stream in ["stream-0", "stream-1", "stream-2", "stream-3"] {
                let expected = all.filter { $0.stream == stream }
                let info = try log.streamInfo(stream)
                #expect(info.version == UInt64(expected.count))
                #expect(info.lastPosition == expected.last?.position)
                #expect(expected.map(\.streamVersion) == Array(1...UInt64(expected.count)))
                for from in [0, 1, 2, 3, 5, 8, UInt64(expected.count), UInt64(expected.count) + 1] {
                    for limit in [1, 2, 7, 1000] {
                        let forward = try log.readStream(stream, from: from, limit: limit)
                        let wanted = expected.filter { $0.streamVersion >= max(from, 1) }.prefix(limit)
                        #expect(forward == Array(wanted), "forward \(stream) from \(from) limit \(limit)")
                        let backward = try log.readStream(stream, from: from, direction: .backward, limit: limit)
                        let wantedBack = expected.filter { $0.streamVersion <= from }.reversed().prefix(limit)
                        #expect(backward == Array(wantedBack), "backward \(stream) from \(from) limit \(limit)")
                    }
                }
            }
            #expect(try log.streamInfo("no-such-stream") == StreamInfo(version: 0, lastPosition: nil))
            #expect(try log.readStream("no-such-stream", from: 1, limit: 10).isEmpty)
            #expect(try log.verify().isSound)
        }
    }

    @Test("recorded-at never decreases, even when the clock goes back")
    func recordedAtNeverDecreases() async throws {
        let clock = ManualClock(2_000_000)
        let configuration = configured { $0.clock = clock.clock }
        try await withLog(configuration) { log, _ in
            _ = try await log.append(AppendRequest(events: [event("a", "1")]))
            clock.set(1_000_000)
            _ = try await log.append(AppendRequest(events: [event("a", "2")]))
            clock.set(3_000_000)
            _ = try await log.append(AppendRequest(events: [event("a", "3")]))
            let stamps = try log.read(from: 1, limit: 10).map(\.recordedAt.microsecondsSince1970)
            #expect(stamps == [2_000_000, 2_000_000, 3_000_000])
        }
    }

    @Test("an import keeps its recorded-at times, and is refused when they would go back")
    func importedRecordedAt() async throws {
        let clock = ManualClock(5_000_000)
        let configuration = configured { $0.clock = clock.clock }
        try await withLog(configuration) { log, _ in
            var old = event("a", "imported")
            old.recordedAt = Timestamp(microsecondsSince1970: 1_000_000)
            _ = try await log.append(AppendRequest(events: [old]))
            #expect(try log.read(from: 1, limit: 1).first?.recordedAt.microsecondsSince1970 == 1_000_000)

            _ = try await log.append(AppendRequest(events: [event("a", "live")]))
            var late = event("a", "too old")
            late.recordedAt = Timestamp(microsecondsSince1970: 2_000_000)
            await #expect(throws: EventLogError.self) { try await log.append(AppendRequest(events: [late])) }
            do {
                _ = try await log.append(AppendRequest(events: [late]))
            } catch let error as EventLogError {
                #expect(error.code == .recordedAtWentBack)
            }
            #expect(try log.head == 2)
        }
    }

    @Test("bad requests are refused with a message naming the field, and nothing is written")
    func invalidRequests() async throws {
        try await withLog { log, _ in
            let cases: [(AppendRequest, String)] = [
                (AppendRequest(events: []), "at least one event"),
                (AppendRequest(events: [event("s", "x", type: "")]), "events[0].type"),
                (AppendRequest(events: [event("s", "x"), event("", "x")]), "events[1].stream"),
                (AppendRequest(events: [event(String(repeating: "s", count: 401), "x")]), "events[0].stream"),
                (AppendRequest(events: [event("s", "x")], idempotencyKey: ""), "idempotencyKey"),
            ]
            for (request, field) in cases {
                do {
                    _ = try await log.append(request)
                    Issue.record("accepted an invalid request naming \(field)")
                } catch let error as EventLogError {
                    #expect(error.code == .invalidRequest)
                    #expect(error.message.contains(field), "\(error.message)")
                }
            }
            #expect(try log.head == 0)
        }
    }

    @Test("the log works through the EventStore protocol")
    func eventStoreProtocol() async throws {
        try await withLog { log, _ in
            let store: some EventStore = log
            _ = try await store.append(AppendRequest(stream: "p", expecting: .noStream, events: [event("p", "1"), event("p", "2")]))
            #expect(try await store.currentHead() == 2)
            #expect(try await store.info(ofStream: "p").version == 2)
            #expect(try await store.events(inStream: "p", from: 2, direction: .forward, limit: 5).map(\.position) == [2])
            #expect(try await store.events(from: 2, direction: .backward, limit: 5).map(\.position) == [2, 1])
        }
    }
}

@Suite("Stream rows", .timeLimit(.minutes(5)))
struct StreamRowTests {
    @Test("an idle writer stores the changed stream rows, so readers have no tail to fold")
    func idleFlush() async throws {
        let configuration = configured { $0.idleFlushDelay = .milliseconds(10) }
        try await withLog(configuration) { log, _ in
            _ = try await log.append(AppendRequest(events: (0..<20).map { event("idle-\($0 % 3)", "\($0)") }))
            let stored = try await eventually { (try? log.withReader { try $0.streamsThrough() }) == 20 }
            #expect(stored)
            #expect(
                try log.withReader { try StreamState.stored("idle-1", in: log.databases.streams, txn: $0.txn) }
                    == StreamState(version: 7, lastPosition: 20)
            )
            #expect(try log.streamInfo("idle-1") == StreamInfo(version: 7, lastPosition: 20))
            #expect(try log.verify().isSound)
        }
    }

    @Test("without idle time, stream rows wait for the flush interval and readers fold the tail")
    func busyWriterDefersRows() async throws {
        let configuration = configured {
            $0.idleFlushDelay = .seconds(60)
            $0.streamRowFlushInterval = 1000
        }
        try await withLog(configuration) { log, _ in
            _ = try await log.append(AppendRequest(events: (0..<20).map { event("busy-\($0 % 3)", "\($0)") }))
            #expect(try log.withReader { try $0.streamsThrough() } == 0)
            #expect(try log.streamInfo("busy-1") == StreamInfo(version: 7, lastPosition: 20))
            #expect(try log.statistics().streams == 3)
        }
    }
}
