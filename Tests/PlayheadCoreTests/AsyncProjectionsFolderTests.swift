import EventLog
import Foundation
import LMDBLog
import Logging
import PlayheadCore
import ServiceLifecycle
import Testing
import Views

/// Counts the events of each type: an asynchronous projector for the tests.
private struct TypeCounts: Projector {
    var name: String { "type-counts" }
    var version: UInt32 { 1 }
    var databases: [String] { ["counts"] }

    func apply(_ record: EventView, to views: ViewTransaction) throws {
        try views.addToCounter("counts", Array(record.typeBytes), 1)
    }

    static func count(_ type: String, in views: ViewTransaction) throws -> UInt64 {
        try views.get("counts", Array(type.utf8)).map { $0.reduce(0) { $0 << 8 | UInt64($1) } } ?? 0
    }
}

/// A projector that takes a while per event, so that a fold of a long log is still running
/// when the test asks for a shutdown.
private struct SlowCounts: Projector {
    var name: String { "slow-counts" }
    var version: UInt32 { 1 }
    var databases: [String] { ["counts"] }

    func apply(_ record: EventView, to views: ViewTransaction) throws {
        usleep(20)
        try views.addToCounter("counts", Array(record.typeBytes), 1)
    }
}

@Suite("The asynchronous projections' folder", .timeLimit(.minutes(5)))
struct AsyncProjectionsFolderTests {
    @Test("it folds what the writer commits, behind it, until the lag is 0; a reopened store continues from the checkpoint")
    func followsTheLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-async-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try PlayheadStore(directory: directory, asyncProjectors: [TypeCounts()])
            let folder = Task { try await AsyncProjectionsFolder(store: store, logger: Logger(label: "test")).run() }
            for index in 0..<20 {
                _ = try await store.log.append(AppendRequest(events: [ProposedEvent(type: index % 4 == 0 ? "b" : "a", stream: "s", payload: [])]))
            }
            while try store.asyncProjections.lag(behind: try store.log.head) > 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(try store.asyncProjections.read("type-counts") { try TypeCounts.count("a", in: $0) } == 15)
            #expect(try store.asyncProjections.read("type-counts") { try TypeCounts.count("b", in: $0) } == 5)
            folder.cancel()
            _ = try? await folder.value
            // Appended while nothing folds: the lag says so.
            _ = try await store.log.append(AppendRequest(events: [ProposedEvent(type: "a", stream: "s", payload: [])]))
            #expect(try store.asyncProjections.lag(behind: try store.log.head) == 1)
            await store.close()
        }
        let reopened = try PlayheadStore(directory: directory, asyncProjectors: [TypeCounts()])
        #expect(try reopened.asyncProjections.lag(behind: try reopened.log.head) == 1)
        try reopened.log.withReader { _ = try reopened.asyncProjections.catchUp($0) }
        #expect(try reopened.asyncProjections.read("type-counts") { try TypeCounts.count("a", in: $0) } == 16)
        await reopened.close()
    }

    @Test("a graceful shutdown stops a long fold between two committed steps; the next start continues from there")
    func shutdownDuringALongFold() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-async-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let events: UInt64 = 60_000
        do {
            let store = try PlayheadStore(directory: directory, asyncProjectors: [])
            for _ in 0..<12 {
                _ = try await store.log.append(AppendRequest(events: (0..<5_000).map { _ in ProposedEvent(type: "a", stream: "s", payload: []) }))
            }
            await store.close()
        }
        // A new projector: the whole log to fold, a few seconds of work.
        let store = try PlayheadStore(directory: directory, asyncProjectors: [SlowCounts()])
        let group = ServiceGroup(
            configuration: .init(services: [AsyncProjectionsFolder(store: store, logger: Logger(label: "test"))], logger: Logger(label: "test"))
        )
        let running = Task { try await group.run() }
        while try store.asyncProjections.appliedPosition() == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await group.triggerGracefulShutdown()
        try await running.value
        let stopped = try store.asyncProjections.appliedPosition()
        #expect(stopped > 0 && stopped < events, "stopped at \(stopped) of \(events)")
        // While the fold is behind, the lag says so (a projector under another version counts as 0).
        #expect(try store.asyncProjections.lag(behind: try store.log.head) == events - stopped)
        try store.log.withReader { _ = try store.asyncProjections.catchUp($0) }
        #expect(try store.asyncProjections.read("slow-counts") { try TypeCounts.count("a", in: $0) } == events)
        await store.close()
    }
}
