import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Testing
import Views
import WatchDomain

@testable import PlayheadDemo

/// ``DemoWorkload``: plausible, deterministic for a seed, and accepted by every command.
@Suite("Demo data", .timeLimit(.minutes(5)))
struct DemoWorkloadTests {
    /// What a demo store holds, without the ids the commands draw: the number of events of
    /// each type and every video's figures over the whole range.
    struct Fingerprint: Equatable {
        var types: [String: Int]
        var summaries: [VideoSummary]
        var top: TopVideos
        var summary: DemoWorkload.Summary
    }

    static func fingerprint(seed: UInt64, days: Int = 4) async throws -> Fingerprint {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-demo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = SimulatedClock()
        let store = try PlayheadStore(directory: directory) { $0.clock = { clock.now } }
        let lastDay = Timestamp(microsecondsSince1970: 1_764_460_800_000_000)  // 2026-11-30
        let workload = DemoWorkload(DemoWorkload.Options(users: 8, days: days, seed: seed, lastDay: lastDay))
        var summary = try await workload.run(on: store, clock: clock)
        try store.log.withReader { _ = try store.asyncProjections.catchUp($0) }
        var types: [String: Int] = [:]
        for record in try store.log.read(from: 1, limit: 1_000_000) { types[record.type, default: 0] += 1 }
        let queries = VideoAnalyticsQueries(store.asyncProjections)
        let range = try #require(DayRange(first: DayRange.day(of: lastDay) - Int64(days) + 1, last: DayRange.day(of: lastDay)))
        let summaries = try DemoWorkload.catalogue.map { try queries.summary(of: $0.id, over: range) }
        let top = try queries.topVideos(over: range, by: .views, limit: 10)
        await store.close()
        summary.partyId = nil
        return Fingerprint(types: types, summaries: summaries, top: top, summary: summary)
    }

    @Test("the same seed gives the same behaviour and figures; another seed other ones")
    func deterministic() async throws {
        let first = try await Self.fingerprint(seed: 7)
        let again = try await Self.fingerprint(seed: 7)
        let other = try await Self.fingerprint(seed: 8)
        #expect(first == again)
        #expect(first != other)
    }

    @Test("every kind of activity is there: logins, heartbeats, views with seeks and pauses, progress, interactions, a finished party")
    func plausible() async throws {
        let print = try await Self.fingerprint(seed: 1)
        for type in [
            "user-session.started", "user-session.heartbeat", "watch-session.started", "watch-session.player-event", "video.registered",
            "interaction.tracked", "watch-party.scheduled", "watch-party.ticket-purchased", "watch-party.logged",
        ] {
            #expect((print.types[type] ?? 0) > 0, "\(type): \(print.types)")
        }
        #expect(print.summary.watchSessions > 10 && print.summary.partyEntries > 10)
        let views = print.summaries.reduce(0) { $0 + $1.views }
        #expect(views == UInt64(print.summary.watchSessions))
        // Viewers drop off along a video and some rewatch: completions are fewer than views.
        #expect(print.summaries.allSatisfy { $0.completions <= $0.views })
        #expect(print.summaries.contains { $0.completions < $0.views })
        // The most viewed first, ties by id.
        let ranked = print.summaries.sorted { $0.views != $1.views ? $0.views > $1.views : $0.videoId < $1.videoId }
        #expect(print.top.videos.map(\.videoId) == ranked.filter { $0.views > 0 }.prefix(10).map(\.videoId))
    }

    @Test("one or two days: the catalogue is registered before the party is scheduled, two days before it starts")
    func shortDemos() async throws {
        for days in [1, 2] {
            let print = try await Self.fingerprint(seed: 3, days: days)
            #expect(print.types["watch-party.scheduled"] == 1, "\(days) days: \(print.types)")
            #expect(print.types["video.registered"] == DemoWorkload.catalogue.count)
        }
    }
}
