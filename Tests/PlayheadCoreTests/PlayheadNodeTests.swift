import EventLog
import Foundation
import Logging
import PlayheadCore
import PostgresLog
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
    .timeLimit(.minutes(1))
)
struct PlayheadNodeTests {
    /// Runs `body` with a node on a new database and a temporary directory, its follower running.
    private func withNode(_ body: (PlayheadNode, String) async throws -> Void) async throws {
        try await TestPostgres.withDatabase { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-node-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let node = try await PlayheadNode.open(directory: directory, log: PostgresLocation(url: url))
            let follower = Task { try await NodeFollower(node: node, logger: .init(label: "test")).run() }
            do {
                try await body(node, url)
            } catch {
                follower.cancel()
                await node.close()
                throw error
            }
            follower.cancel()
            await node.close()
        }
    }

    @Test("a stream another node keeps changing while this one decides: 8 attempts, each on caught-up views, then a 409")
    func conflictsExhaustAttempts() async throws {
        try await withNode { node, url in
            let other = try await PostgresEventLog.open(PostgresLocation(url: url))
            let runner = CommandRunner(node: node)
            let attempts = Counter()
            let caller = Caller(userId: "alice")
            let error = await #expect(throws: CommandError.self) {
                try await runner.run(caller: caller, correlation: UUID()) { _ in
                    attempts.increment()
                    // Another node appends to the stream between this decision and its append.
                    let semaphore = DispatchSemaphore(value: 0)
                    Task {
                        _ = try? await other.append(AppendRequest(events: [ProposedEvent(type: "thing", stream: Note.streamName, payload: [1])]))
                        semaphore.signal()
                    }
                    semaphore.wait()
                    return ([Note()], ())
                }
            }
            #expect(error?.code == .conflict)
            #expect(attempts.value == NodeCommandLog.maxAttempts)
            await other.close()
        }
    }

    @Test("a conflict once: the node catches up, decides again on views that saw the other append, and succeeds")
    func conflictOnceThenSuccess() async throws {
        try await withNode { node, url in
            let other = try await PostgresEventLog.open(PostgresLocation(url: url))
            let runner = CommandRunner(node: node)
            let attempts = Counter()
            let applied = Counter()
            try await runner.run(caller: Caller(userId: "alice"), correlation: UUID()) { views in
                attempts.increment()
                applied.set(Int(try views.views.appliedPosition()))
                if attempts.value == 1 {
                    let semaphore = DispatchSemaphore(value: 0)
                    Task {
                        _ = try? await other.append(AppendRequest(events: [ProposedEvent(type: "thing", stream: Note.streamName, payload: [1])]))
                        semaphore.signal()
                    }
                    semaphore.wait()
                }
                return ([Note()], ())
            }
            #expect(attempts.value == 2)
            // The second decision read views that had folded the other node's event.
            #expect(applied.value >= 1)
            #expect(try await node.log.currentHead() == 2)
            await other.close()
        }
    }
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
