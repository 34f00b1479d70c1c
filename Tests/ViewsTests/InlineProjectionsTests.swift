import Foundation
import Synchronization
import Testing

@testable import EventLog
@testable import LMDBLog
@testable import Views

/// Counts events per type and remembers each stream's newest position (and, optionally,
/// a payload-sized value per event, to fill the map).
struct EventCounts: Projector {
    var version: UInt32 = 1
    var keepPayloads = false
    let applied = Counter()

    var name: String { "counts" }
    var databases: [String] { ["byType", "lastByStream", "payloads"] }

    func apply(_ record: EventView, to views: ViewTransaction) throws {
        applied.add()
        let type = Array(record.typeBytes)
        let count = try views.get("byType", type).map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } } ?? 0
        try views.put("byType", type, withUnsafeBytes(of: count + 1) { Array($0) })
        try views.put("lastByStream", Array(record.streamBytes), withUnsafeBytes(of: record.position) { Array($0) })
        if keepPayloads {
            try views.put("payloads", withUnsafeBytes(of: record.position.bigEndian) { Array($0) }, Array(record.payload))
        }
    }

    static func count(_ type: String, in views: ViewTransaction) throws -> UInt64 {
        try views.get("byType", Array(type.utf8)).map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } } ?? 0
    }
}

/// A thread-safe counter of `apply` calls.
final class Counter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-views-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func openLog(_ directory: String, _ views: InlineProjections?) throws -> LMDBEventLog {
    var configuration = LMDBEventLog.Configuration()
    configuration.participant = views
    return try LMDBEventLog(directory: directory + "/log", configuration: configuration)
}

func event(_ type: String, _ stream: String, _ payload: [UInt8] = [1]) -> ProposedEvent {
    ProposedEvent(type: type, stream: stream, payload: payload)
}

/// Every entry of every database of `projector`, for comparing two views.
func dump(_ views: any ViewReading, _ projector: any Projector) throws -> [String: [[UInt8]]] {
    var all: [String: [[UInt8]]] = [:]
    for database in projector.databases {
        try views.read(projector.name) { tx in
            try tx.forEach(database) { key, value in
                all[database, default: []].append(key + [0xFF] + value)
                return true
            }
        }
    }
    return all
}

@Suite("Inline projections", .timeLimit(.minutes(5)))
struct InlineProjectionsTests {
    @Test("the read models follow every commit, with the checkpoint at the head")
    func inlineApply() async throws {
        try await withDirectory { directory in
            let views = try InlineProjections(directory: directory + "/views", projectors: [EventCounts()])
            let log = try openLog(directory, views)
            _ = try await log.append(AppendRequest(events: [event("a", "s1"), event("b", "s1"), event("a", "s2")]))
            _ = try await log.append(AppendRequest(events: [event("a", "s1")]))
            #expect(try views.read("counts") { try EventCounts.count("a", in: $0) } == 3)
            #expect(try views.read("counts") { try EventCounts.count("b", in: $0) } == 1)
            #expect(try views.checkpoint(of: "counts")?.position == 4)
            #expect(throws: ViewError.self) { try views.read("nope") { _ in 0 } }
            await log.close()
        }
    }

    @Test("a decider reads the views as the earlier submissions of its batch left them")
    func decidersReadBatchState() async throws {
        try await withDirectory { directory in
            let views = try InlineProjections(directory: directory + "/views", projectors: [EventCounts()])
            let log = try openLog(directory, views)
            struct Full: Error {}
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        do {
                            _ = try await log.append(deciding: { scope in
                                let taken = try views.read("counts", in: scope) { try EventCounts.count("seat.taken", in: $0) }
                                guard taken < 4 else { throw Full() }
                                return (AppendRequest(events: [event("seat.taken", "room")]), taken)
                            })
                            return true
                        } catch is Full {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 4)
            #expect(try views.read("counts") { try EventCounts.count("seat.taken", in: $0) } == 4)
            #expect(try log.head == 4)
            await log.close()
        }
    }

    @Test("views behind the log catch up on open; views that are current fold nothing")
    func catchUp() async throws {
        try await withDirectory { directory in
            do {
                let log = try openLog(directory, nil)
                _ = try await log.append(AppendRequest(events: (0..<50).map { event($0 % 2 == 0 ? "even" : "odd", "s\($0 % 5)") }))
                await log.close()
            }
            let first = EventCounts()
            do {
                let views = try InlineProjections(directory: directory + "/views", projectors: [first])
                let log = try openLog(directory, views)
                _ = try await log.append(AppendRequest(events: [event("even", "s0")]))
                #expect(try views.read("counts") { try EventCounts.count("even", in: $0) } == 26)
                await log.close()
            }
            #expect(first.applied.count == 51)
            let second = EventCounts()
            let views = try InlineProjections(directory: directory + "/views", projectors: [second])
            let log = try openLog(directory, views)
            _ = try await log.append(AppendRequest(events: [event("odd", "s1")]))
            #expect(second.applied.count == 1)
            #expect(try views.read("counts") { try EventCounts.count("odd", in: $0) } == 26)
            await log.close()
        }
    }

    @Test("a new projector version empties its views and folds the whole log again")
    func versionBump() async throws {
        try await withDirectory { directory in
            do {
                let views = try InlineProjections(directory: directory + "/views", projectors: [EventCounts()])
                let log = try openLog(directory, views)
                _ = try await log.append(AppendRequest(events: (0..<10).map { _ in event("t", "s") }))
                await log.close()
            }
            let bumped = EventCounts(version: 2)
            let views = try InlineProjections(directory: directory + "/views", projectors: [bumped])
            let log = try openLog(directory, views)
            _ = try await log.append(AppendRequest(events: [event("t", "s")]))
            #expect(bumped.applied.count == 11)
            #expect(try views.read("counts") { try EventCounts.count("t", in: $0) } == 11)
            #expect(try views.checkpoint(of: "counts")?.version == 2)
            await log.close()
        }
    }

    @Test("the views map grows when full and the batch is written again")
    func viewsMapGrowth() async throws {
        try await withDirectory { directory in
            let projector = EventCounts(keepPayloads: true)
            let views = try InlineProjections(directory: directory + "/views", projectors: [projector], initialMapSize: 256 << 10)
            let log = try openLog(directory, views)
            let payload = [UInt8](repeating: 9, count: 3000)
            for batch in 0..<20 {
                _ = try await log.append(AppendRequest(events: (0..<20).map { _ in event("big", "b\(batch)", payload) }))
            }
            #expect(try views.read("counts") { try EventCounts.count("big", in: $0) } == 400)
            var stored = 0
            try views.read("counts") { tx in
                try tx.forEach("payloads") { _, _ in
                    stored += 1
                    return true
                }
            }
            #expect(stored == 400)
            await log.close()
        }
    }

    @Test("views folded inline equal views folded from the log alone, entry by entry")
    func inlineEqualsCatchUp() async throws {
        try await withDirectory { directory in
            let projector = EventCounts(keepPayloads: true)
            let inline = try InlineProjections(directory: directory + "/inline", projectors: [projector])
            do {
                let log = try openLog(directory, inline)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<8 {
                        group.addTask {
                            for index in 0..<30 {
                                let type = ["play", "pause", "seek"][index % 3]
                                _ = try await log.append(AppendRequest(events: [event(type, "w\(writer)", [UInt8(index)])]))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                await log.close()
            }
            let rebuilt = try InlineProjections(directory: directory + "/rebuilt", projectors: [EventCounts(keepPayloads: true)])
            let log = try openLog(directory, rebuilt)
            _ = try await log.append(deciding: { _ in (AppendRequest(events: [event("noop", "x")]), 0) })
            await log.close()
            // The rebuilt views saw one event more (the append that made the writer catch up).
            var expected = try dump(inline, projector)
            let last = try #require(try rebuilt.checkpoint(of: "counts")?.position)
            #expect(last == 241)
            var actual = try dump(rebuilt, projector)
            actual["byType"]?.removeAll { $0.starts(with: Array("noop".utf8) + [0xFF]) }
            actual["lastByStream"]?.removeAll { $0.starts(with: Array("x".utf8) + [0xFF]) }
            actual["payloads"]?.removeLast()
            expected["payloads"] = expected["payloads"] ?? []
            #expect(actual == expected)
        }
    }

    @Test("a failed log commit leaves the views unchanged")
    func abortedBatch() async throws {
        try await withDirectory { directory in
            let views = try InlineProjections(directory: directory + "/views", projectors: [EventCounts()])
            let log = try openLog(directory, views)
            _ = try await log.append(AppendRequest(events: [event("k", "s")]))
            log.writer?.faultInjector = { _ in EIO }
            await #expect(throws: EventLogError.self) { try await log.append(AppendRequest(events: [event("k", "s")])) }
            log.writer?.faultInjector = nil
            try await failingAppend(log)
            #expect(try views.read("counts") { try EventCounts.count("k", in: $0) } == 1)
            #expect(try views.checkpoint(of: "counts")?.position == 1)
            _ = try await log.append(AppendRequest(events: [event("k", "s")]))
            #expect(try views.read("counts") { try EventCounts.count("k", in: $0) } == 2)
            await log.close()
        }
    }
}

/// A decider that refuses: nothing is written, to the log or the views.
private func failingAppend(_ log: LMDBEventLog) async throws {
    struct Refused: Error {}
    await #expect(throws: Refused.self) {
        _ = try await log.append(deciding: { _ throws -> (request: AppendRequest, decision: Int) in throw Refused() })
    }
}

@Suite("Views commit failures", .timeLimit(.minutes(5)))
struct ViewsCommitFailureTests {
    @Test("a views commit that fails after the log's is repaired by the next batch")
    func failedViewsCommitCatchesUp() async throws {
        try await withDirectory { directory in
            let views = try InlineProjections(directory: directory + "/views", projectors: [EventCounts()])
            let log = try openLog(directory, views)
            _ = try await log.append(AppendRequest(events: [event("a", "s1")]))
            views.failNextCommit.store(true, ordering: .relaxed)
            // The log commits (the append succeeds); the views miss the batch.
            _ = try await log.append(AppendRequest(events: [event("a", "s1"), event("b", "s2")]))
            #expect(try views.read("counts") { try EventCounts.count("a", in: $0) } == 1)
            _ = try await log.append(AppendRequest(events: [event("b", "s3")]))
            #expect(try views.read("counts") { try EventCounts.count("a", in: $0) } == 2)
            #expect(try views.read("counts") { try EventCounts.count("b", in: $0) } == 2)
            #expect(try views.checkpoint(of: "counts")?.position == (try log.head))
            await log.close()
        }
    }
}
