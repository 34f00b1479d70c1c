import EventLog
import Foundation
import Logging
import PlayheadCore
import PostgresLog
import PostgresNIO
import TestSupport
import Testing
import Views
import WatchDomain

/// A node over a PostgreSQL log, without HTTP: its follower, its commands' conditions and
/// their retries.
@Suite(
    "PlayheadNode: commands decided on a node's views",
    .serialized,
    .enabled(if: TestPostgres.isAvailable, "needs PLAYHEAD_TEST_POSTGRES_URL (tools/test starts PostgreSQL)"),
    .timeLimit(.minutes(5))
)
struct PlayheadNodeTests {
    /// Runs `body` with a node on a new database and a temporary directory, its follower running.
    private func withNode(_ body: (PlayheadNode, OtherNode) async throws -> Void) async throws {
        try await TestPostgres.withDatabase { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-node-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let node = try await PlayheadNode.open(directory: directory, log: PostgresLocation(url: url))
            let follower = Task { try await NodeFollower(node: node, logger: .init(label: "test")).run() }
            let other = try await OtherNode.connect(url)
            do {
                try await body(node, other)
            } catch {
                follower.cancel()
                try await other.close()
                await node.close()
                throw error
            }
            follower.cancel()
            try await other.close()
            await node.close()
        }
    }

    @Test("a stream another node keeps changing while this one decides: 16 attempts, each on caught-up views, then a 409")
    func conflictsExhaustAttempts() async throws {
        try await withNode { node, other in
            let runner = CommandRunner(node: node)
            let attempts = Counter()
            let caller = Caller(userId: "alice")
            let error = await #expect(throws: CommandError.self) {
                try await runner.run(caller: caller, correlation: UUID()) { _ in
                    attempts.increment()
                    // Another node appends to the stream between this decision and its append.
                    try other.appendNote()
                    return ([Note()], ())
                }
            }
            #expect(error?.code == .conflict)
            #expect(attempts.value == NodeCommandLog.maxAttempts)
        }
    }

    @Test("commands on one busy stream are decided in rows: all succeed, in far fewer transactions than commands")
    func busyStreamInRows() async throws {
        try await withNode { node, _ in
            let runner = CommandRunner(node: node)
            let commands = 40
            let results = try await withThrowingTaskGroup(of: AppendResult?.self) { group in
                for index in 0..<commands {
                    group.addTask {
                        try await runner.runAppending(caller: Caller(userId: "user-\(index)"), correlation: UUID()) { _ in
                            ([Note()], ())
                        }.append
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let positions = results.compactMap { $0?.positions.lowerBound }.sorted()
            #expect(positions == Array(1...LogPosition(commands)))
            // A transaction gives its events one recorded-at time: a row is one transaction.
            let events = try await node.log.events(from: 1, direction: .forward, limit: 100)
            let transactions = Set(events.map(\.recordedAt)).count
            #expect(events.map(\.streamVersion) == Array(1...UInt64(commands)))
            #expect(transactions <= commands / 2, "\(transactions) transactions for \(commands) commands")
        }
    }

    @Test("a row stops taking commands past maxRowEvents: big commands on one stream commit in several rows, all of them")
    func rowsStayBounded() async throws {
        try await withNode { node, _ in
            let runner = CommandRunner(node: node)
            let commands = 12
            let perCommand = 1_000
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<commands {
                    group.addTask {
                        _ = try await runner.run(caller: Caller(userId: "user-\(index)"), correlation: UUID()) { _ in
                            (Array(repeating: Note(), count: perCommand), ())
                        }
                    }
                }
                try await group.waitForAll()
            }
            let events = try await node.log.events(from: 1, direction: .forward, limit: 100_000)
            #expect(events.map(\.streamVersion) == Array(1...UInt64(commands * perCommand)))
            // A transaction gives its events one recorded-at time.
            let transactions = Dictionary(grouping: events, by: \.recordedAt).values.map(\.count)
            #expect(transactions.max() ?? 0 < NodeCommandLog.maxRowEvents + perCommand, "\(transactions)")
        }
    }

    @Test("views folded from another log, past this log's head, are refused at start")
    func viewsAheadOfTheLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-node-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await TestPostgres.withDatabase { first in
            let log = try await PostgresEventLog.open(PostgresLocation(url: first))
            for _ in 0..<3 { _ = try await log.append(AppendRequest(events: [ProposedEvent(type: "thing", stream: "a", payload: [1])])) }
            // The node directory's views, folded from this first log.
            try await PlayheadNode.fold(log, into: ViewsLocation(store: directory).current(), projectors: PlayheadStore.projectors, through: 3)
            await log.close()
        }
        try await TestPostgres.withDatabase { second in
            let error = await #expect(throws: EventLogError.self) {
                try await PlayheadNode.open(directory: directory, log: PostgresLocation(url: second))
            }
            #expect(error?.message.contains("past the log's head") == true, "\(String(describing: error))")
        }
    }

    @Test("a conflict once: the node catches up, decides again on views that saw the other append, and succeeds")
    func conflictOnceThenSuccess() async throws {
        try await withNode { node, other in
            let runner = CommandRunner(node: node)
            let attempts = Counter()
            let applied = Counter()
            try await runner.run(caller: Caller(userId: "alice"), correlation: UUID()) { views in
                attempts.increment()
                applied.set(Int(try views.views.appliedPosition()))
                if attempts.value == 1 { try other.appendNote() }
                return ([Note()], ())
            }
            #expect(attempts.value == 2)
            // The second decision read views that had folded the other node's event.
            #expect(applied.value >= 1)
            #expect(try await node.log.currentHead() == 2)
        }
    }
}

/// Another node appending to the log, by PostgreSQL's own means and on NIO's threads: the
/// deciders that call it are synchronous, and waiting there for a Swift task could starve the
/// two threads of the test process's concurrent pool.
private struct OtherNode: Sendable {
    let connection: PostgresConnection

    static func connect(_ url: String) async throws -> OtherNode {
        let components = try #require(URLComponents(string: url))
        let configuration = PostgresConnection.Configuration(
            host: components.host ?? "127.0.0.1",
            port: components.port ?? 5432,
            username: components.user ?? "postgres",
            password: nil,
            database: String(components.path.dropFirst()),
            tls: .disable
        )
        return OtherNode(connection: try await PostgresConnection.connect(configuration: configuration, id: 9, logger: Logger(label: "other")))
    }

    /// Appends one event to the note stream in one statement, under the head row's lock as
    /// the log does, and notifies the followers. Blocks until PostgreSQL answered.
    func appendNote() throws {
        _ = try connection.simpleQuery(
            """
            WITH head AS (UPDATE playhead_head SET position = position + 1 WHERE id = 1 RETURNING position, greatest(recorded_at, 0) AS recorded_at),
            stream AS (INSERT INTO playhead_streams (stream, version, last_position) SELECT '\(Note.streamName)', 1, position FROM head
                ON CONFLICT (stream) DO UPDATE SET version = playhead_streams.version + 1, last_position = EXCLUDED.last_position
                RETURNING version)
            INSERT INTO playhead_events (position, stream, stream_version, type, recorded_at, event_id, actor, payload)
                SELECT head.position, '\(Note.streamName)', stream.version, 'thing', head.recorded_at, gen_random_uuid(), '', '\\x01'
                FROM head, stream
            """
        ).wait()
        _ = try connection.simpleQuery("SELECT pg_notify('\(PostgresEventLog.channel)', 'other')").wait()
    }

    func close() async throws { try await connection.close() }
}

/// An event no projector folds, on one stream.
private struct Note: DomainEvent {
    static let eventType = "test.note"
    static let schemaVersion: UInt8 = 1
    static let streamName = "notes/alice"
    var stream: String { Self.streamName }
    init() {}
    func encodeFields(to writer: inout BinaryWriter) {}
    init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {}
}

/// A count the deciders (run on the log's tasks) keep.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    func set(_ value: Int) { lock.withLock { count = value } }
    var value: Int { lock.withLock { count } }
}
