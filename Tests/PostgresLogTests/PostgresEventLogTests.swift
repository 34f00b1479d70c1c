import EventLog
import Foundation
import PostgresNIO
import TestSupport
import Testing

@testable import PostgresLog

private func event(_ stream: String, _ payload: [UInt8] = [1]) -> ProposedEvent {
    ProposedEvent(type: "thing.happened", stream: stream, payload: payload)
}

/// Runs `body` with a new log in a database of its own.
private func withLog(
    _ configuration: PostgresEventLog.Configuration = PostgresEventLog.Configuration(),
    _ body: (PostgresEventLog, String) async throws -> Void
) async throws {
    try await TestPostgres.withDatabase { url in
        let log = try await PostgresEventLog.open(PostgresLocation(url: url), configuration: configuration)
        do {
            try await body(log, url)
        } catch {
            await log.close()
            throw error
        }
        await log.close()
    }
}

@Suite(
    "PostgresEventLog: the order, the schema and the conditions a node appends with",
    .enabled(if: TestPostgres.isAvailable, "needs PLAYHEAD_TEST_POSTGRES_URL (tools/test starts PostgreSQL)"),
    .timeLimit(.minutes(5))
)
struct PostgresEventLogTests {
    @Test("a sequence alone exposes a gap that later fills, which is why appends are ordered by a lock")
    func sequencesExposeGaps() async throws {
        try await TestPostgres.withDatabase { url in
            let components = try #require(URLComponents(string: url))
            _ = try await TestPostgres.withConnection(components) { setup in
                try await setup.query("CREATE TABLE numbered (id bigserial PRIMARY KEY)", logger: logger)
            }
            try await TestPostgres.withConnection(components) { first in
                try await TestPostgres.withConnection(components) { second in
                    try await first.query("BEGIN", logger: logger)
                    try await first.query("INSERT INTO numbered DEFAULT VALUES", logger: logger)  // draws 1, not committed
                    try await second.query("INSERT INTO numbered DEFAULT VALUES", logger: logger)  // draws 2, commits
                    #expect(try await ids(second) == [2])  // a reader sees 2 without 1...
                    try await first.query("COMMIT", logger: logger)
                    #expect(try await ids(second) == [1, 2])  // ...and 1 appears later, below what it saw.
                }
            }
        }
    }

    @Test("an append waits for an earlier uncommitted one of another node; a reader never sees a gap")
    func noGapWhileAnotherNodeCommits() async throws {
        try await withLog { log, url in
            _ = try await log.append(AppendRequest(events: [event("a")]))
            let components = try #require(URLComponents(string: url))
            try await TestPostgres.withConnection(components) { slowNode in
                // A node that has taken position 2 and not yet committed it.
                try await slowNode.query("BEGIN", logger: logger)
                try await slowNode.query("SELECT position FROM playhead_head WHERE id = 1 FOR UPDATE", logger: logger)
                try await slowNode.query(
                    """
                    INSERT INTO playhead_events (position, stream, stream_version, type, recorded_at, event_id, actor, payload)
                    VALUES (2, 'slow', 1, 'thing.happened', 0, gen_random_uuid(), '', '\\x01')
                    """,
                    logger: logger
                )
                try await slowNode.query("UPDATE playhead_head SET position = 2 WHERE id = 1", logger: logger)
                let appending = Task { try await log.append(AppendRequest(events: [event("b")])) }
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await log.currentHead() == 1)
                #expect(try await log.events(from: 1, direction: .forward, limit: 10).map(\.position) == [1])
                try await slowNode.query("COMMIT", logger: logger)
                #expect(try await appending.value.positions == 3...3)
            }
            let all = try await log.events(from: 1, direction: .forward, limit: 10)
            #expect(all.map(\.position) == [1, 2, 3])
            #expect(all.map(\.stream) == ["a", "slow", "b"])
        }
    }

    @Test("two nodes appending at once: a third reader sees every position once, in order, with stream versions in order")
    func concurrentNodes() async throws {
        try await withLog { reader, url in
            let nodes = [try await PostgresEventLog.open(PostgresLocation(url: url)), try await PostgresEventLog.open(PostgresLocation(url: url))]
            let perWriter = 60
            let writers = 6
            let subscription = reader.subscribe(from: 1)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        let node = nodes[writer % 2]
                        for index in 0..<perWriter {
                            _ = try await node.append(
                                AppendRequest(events: [event("shared", [UInt8(writer)]), event("w\(writer)", [UInt8(index % 256)])])
                            )
                        }
                    }
                }
                var seen: [RecordedEvent] = []
                for try await recorded in subscription {
                    seen.append(recorded)
                    if seen.count == writers * perWriter * 2 { break }
                }
                try await group.waitForAll()
                #expect(seen.map(\.position) == Array(1...LogPosition(writers * perWriter * 2)))
                #expect(seen.filter { $0.stream == "shared" }.map(\.streamVersion) == Array(1...UInt64(writers * perWriter)))
                #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.recordedAt <= $1.recordedAt })
                // Each request's two events are adjacent: a batch is never interleaved.
                for pair in stride(from: 0, to: seen.count, by: 2) {
                    #expect(seen[pair].stream == "shared" && seen[pair + 1].stream.hasPrefix("w"))
                }
            }
            for node in nodes { await node.close() }
        }
    }

    @Test("a node's append is refused when a stream it writes changed after the views it decided from")
    func streamsUnchangedAfter() async throws {
        try await withLog { log, _ in
            _ = try await log.append(AppendRequest(events: [event("party")]))
            _ = try await log.append(AppendRequest(events: [event("other")]))
            // Decided at 2: the party last changed at 1.
            let accepted = try await log.append(AppendRequest(events: [event("party")]), streamsUnchangedAfter: 2)
            #expect(accepted.positions == 3...3)
            // Decided at 2 again, but the party changed at 3.
            let error = await #expect(throws: StreamChangedError.self) {
                try await log.append(AppendRequest(events: [event("party")]), streamsUnchangedAfter: 2)
            }
            #expect(error == StreamChangedError(stream: "party", decidedAt: 2, changedAt: 3))
            #expect(try await log.currentHead() == 3)
        }
    }

    @Test("reads a node serves from memory equal what another node reads from PostgreSQL, from every position")
    func remembersWhatPostgresHolds() async throws {
        try await withLog { log, url in
            // Batches of several sizes, concurrent (group commit), with keys, one of them larger
            // than one statement's parameters (written in chunks).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<8 {
                    group.addTask {
                        for round in 0..<5 {
                            let events = (0..<(caller + 1)).map { event("stream-\(($0 + round) % 4)", [UInt8(caller), UInt8(round)]) }
                            _ = try await log.append(AppendRequest(events: events, idempotencyKey: "k-\(caller)-\(round)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await log.append(AppendRequest(events: (0..<6_500).map { event("big-\($0 % 7)", [UInt8($0 % 251)]) }))
            let other = try await PostgresEventLog.open(PostgresLocation(url: url))
            defer { Task { await other.close() } }
            let head = try await log.currentHead()
            #expect(head == 180 + 6_500)
            for start in [LogPosition(1), 2, 37, 179, 180, 181, 3_000, head - 1, head, head + 1] {
                for limit in [1, 5, 512, 20_000] {
                    let remembered = try await log.events(from: start, direction: .forward, limit: limit)
                    let stored = try await other.events(from: start, direction: .forward, limit: limit)
                    #expect(remembered == stored, "from \(start), limit \(limit)")
                }
            }
            let versions = try await other.events(inStream: "big-3", from: 1, direction: .forward, limit: 10_000).map(\.streamVersion)
            #expect(versions == Array(1...UInt64(versions.count)) && versions.count == 929)
            #expect(
                try await other.integrityReport()
                    == PostgresEventLog.IntegrityReport(
                        head: UInt64(head),
                        events: UInt64(head),
                        maxPosition: UInt64(head),
                        streams: 11,
                        recordedAtBackwards: 0,
                        streamVersionsOutOfOrder: 0,
                        streamRowsWrong: 0,
                        keysOutside: 0
                    )
            )
            // A key already stored answers its first positions again, from any node.
            let again = try await other.append(AppendRequest(events: [event("stream-0")], idempotencyKey: "k-3-2"))
            #expect(again.deduplicated)
        }
    }

    @Test("a write PostgreSQL refuses fails its callers, and nothing of it is served as committed")
    func refusedWriteIsNotCommitted() async throws {
        try await withLog { log, url in
            _ = try await log.append(AppendRequest(events: [event("a")]))
            // A row at position 2 the head does not know of: the log's next insert collides
            // with it inside its one write statement.
            let components = try #require(URLComponents(string: url))
            _ = try await TestPostgres.withConnection(components) { raw in
                try await raw.query(
                    """
                    INSERT INTO playhead_events (position, stream, stream_version, type, recorded_at, event_id, actor, payload)
                    VALUES (2, 'intruder', 1, 'thing', 0, gen_random_uuid(), '', '\\x01'::bytea)
                    """,
                    logger: logger
                )
            }
            let error = await #expect(throws: EventLogError.self) { try await log.append(AppendRequest(events: [event("b")])) }
            #expect(error?.code == .storage, "\(String(describing: error))")
            #expect(try await log.currentHead() == 1)
            // Position 2 read back is PostgreSQL's row, not the refused event remembered.
            let stored = try await log.events(from: 2, direction: .forward, limit: 10)
            #expect(stored.map(\.stream) == ["intruder"])
        }
    }

    @Test("the schema is versioned; a database of a newer schema is refused")
    func schemaVersions() async throws {
        try await withLog { log, url in
            await log.close()
            let components = try #require(URLComponents(string: url))
            // Opening again applies nothing twice.
            let again = try await PostgresEventLog.open(PostgresLocation(url: url))
            await again.close()
            try await TestPostgres.withConnection(components) { connection in
                #expect(try await ids(connection, "SELECT version::bigint FROM playhead_schema ORDER BY version") == [1])
                try await connection.query("INSERT INTO playhead_schema (version, description) VALUES (999, 'from the future')", logger: logger)
            }
            let error = await #expect(throws: EventLogError.self) { try await PostgresEventLog.open(PostgresLocation(url: url)) }
            #expect(error?.code == .newerFormat)
            #expect(error?.message.contains("999") == true)
        }
    }

    @Test("without notifications, a subscriber still follows by polling")
    func pollingFallback() async throws {
        var polling = PostgresEventLog.Configuration()
        polling.listens = false
        polling.pollInterval = .milliseconds(100)
        try await withLog(polling) { log, url in
            let other = try await PostgresEventLog.open(PostgresLocation(url: url))
            let subscription = log.subscribe(from: 1)
            let follower = Task {
                var positions: [LogPosition] = []
                for try await recorded in subscription {
                    positions.append(recorded.position)
                    if positions.count == 3 { break }
                }
                return positions
            }
            for _ in 0..<3 {
                _ = try await other.append(AppendRequest(events: [event("a")]))
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await follower.value == [1, 2, 3])
            await other.close()
        }
    }

    @Test("text PostgreSQL cannot hold is refused, naming the field, and nothing is written")
    func nulRefused() async throws {
        try await withLog { log, _ in
            let error = await #expect(throws: EventLogError.self) {
                try await log.append(AppendRequest(events: [event("a"), event("b\u{0}c")]))
            }
            #expect(error?.code == .invalidRequest)
            #expect(error?.message.contains("events[1].stream") == true)
            let head = try await log.currentHead()
            #expect(head == 0)
        }
    }

    @Test("an operation that ignores its cancellation is answered at its time limit, and never hangs the caller")
    func timeLimitAnswersAtOnce() async throws {
        var configuration = PostgresEventLog.Configuration()
        configuration.operationTimeout = .milliseconds(200)
        try await withLog(configuration) { log, _ in
            let clock = ContinuousClock()
            let started = clock.now
            let error = await #expect(throws: EventLogError.self) {
                try await log.withTimeout("a stuck lease") {
                    // Like a pool's lease whose server went away: it ignores cancellation.
                    let deadline = clock.now.advanced(by: .seconds(3))
                    while clock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
                    return 0
                }
            }
            #expect(error?.code == .unavailable)
            #expect(clock.now - started < .seconds(2))
        }
    }

    @Test("a bad URL is refused before connecting; an unreachable server is unavailable")
    func badLocations() async throws {
        #expect(throws: EventLogError.self) { try PostgresLocation(url: "mysql://localhost/x") }
        #expect(throws: EventLogError.self) { try PostgresLocation(url: "postgres://u@h/db?sslmode=sometimes") }
        #expect(try PostgresLocation(url: "postgres://u:secret@h:5/db").description == "postgres://u:***@h:5/db")
        let error = await #expect(throws: EventLogError.self) {
            try await PostgresEventLog.open(PostgresLocation(url: "postgres://postgres@127.0.0.1:1/nothing?sslmode=disable"))
        }
        #expect(error?.code == .unavailable)
    }
}

private let logger = Logger(label: "playhead.tests")

private func ids(_ connection: PostgresConnection, _ sql: String = "SELECT id FROM numbered ORDER BY id") async throws -> [Int64] {
    var ids: [Int64] = []
    for try await id in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64.self) { ids.append(id) }
    return ids
}
