import EventLog
import Foundation
import LMDBLog
import Testing
import Views
import WatchDomain

@testable import Projections

/// ``VideoAnalyticsProjector`` and ``VideoAnalyticsQueries`` on crafted sessions with
/// worked-out answers: a seek back, a seek forward, a pause across midnight, a view that
/// never plays, an unregistered video, and a deleted view.
@Suite("Video analytics", .timeLimit(.minutes(5)))
struct VideoAnalyticsTests {
    /// 2026-11-30T00:00:00Z, day 20,422.
    static let day0: Int64 = 1_764_460_800_000_000
    static let dayNumber = day0 / 86_400_000_000

    /// A log and the projector's views in a temporary directory.
    final class Fixture {
        let directory: String
        let log: LMDBEventLog
        let projections: AsyncProjections
        var queries: VideoAnalyticsQueries { VideoAnalyticsQueries(projections) }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-video-analytics-\(UUID().uuidString)").path
            log = try LMDBEventLog(directory: directory + "/log")
            projections = try AsyncProjections(directory: directory + "/async", projectors: [VideoAnalyticsProjector()])
        }

        func append(_ events: any DomainEvent...) async throws {
            _ = try await log.append(AppendRequest(events: events.map { $0.proposed(actor: "test") }))
            try log.withReader { _ = try projections.catchUp($0) }
        }

        /// A view of `video` by `user`, started at `start` (µs); returns its session id.
        func view(_ video: String, _ user: String, at start: Int64) async throws -> UUID {
            let id = UUID()
            try await append(
                WatchSessionStarted(
                    sessionId: id,
                    userId: user,
                    userSessionId: nil,
                    isGuest: false,
                    videoId: video,
                    startTime: Timestamp(microsecondsSince1970: start),
                    endTime: nil,
                    actualTimeWatchedMillis: 0,
                    percentageWatched: 0,
                    userMetadata: ClientMetadata()
                )
            )
            return id
        }

        /// A player event at `at` µs, at `videoSeconds` into the video.
        func player(_ session: UUID, _ kind: PlayerEventKind, at time: Int64, video videoSeconds: UInt64) async throws {
            try await append(
                PlayerEventRecorded(
                    sessionId: session,
                    event: PlayerEvent(event: kind, eventTime: Timestamp(microsecondsSince1970: time), videoTimeMillis: videoSeconds * 1_000)
                )
            )
        }

        func close() async {
            await log.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Seconds after 10:00 on day 0, in µs.
    static func at(_ seconds: Int64) -> Int64 { day0 + 36_000_000_000 + seconds * 1_000_000 }

    /// The worked-out scenario: `film` (100 s, completes at 90 %) and the unregistered `clip`.
    ///
    /// - a (alice, day 0): plays 0–30 s, seeks back to 10 s while paused, plays to the end.
    /// - b (bob, day 0): plays 0–20 s, seeks forward to 80 s, plays to 89 s, pauses.
    /// - c (carol, day 1): never plays.
    /// - d (alice, day 1, at 23:59): plays 40 s across midnight.
    /// - e (bob, day 0, `clip`): plays 200 s.
    static func scenario(_ fixture: Fixture) async throws -> (a: UUID, b: UUID, c: UUID, d: UUID, e: UUID) {
        try await fixture.append(VideoRegistered(videoId: "film", durationMillis: 100_000, title: "Film", completionThreshold: 0.9))
        let a = try await fixture.view("film", "alice", at: at(0))
        try await fixture.player(a, .play, at: at(0), video: 0)
        try await fixture.player(a, .pause, at: at(30), video: 30)
        try await fixture.player(a, .seek, at: at(35), video: 10)
        try await fixture.player(a, .play, at: at(40), video: 10)
        try await fixture.player(a, .ended, at: at(130), video: 100)

        let b = try await fixture.view("film", "bob", at: at(0))
        try await fixture.player(b, .play, at: at(0), video: 0)
        try await fixture.player(b, .seek, at: at(20), video: 80)
        try await fixture.player(b, .pause, at: at(29), video: 89)

        let c = try await fixture.view("film", "carol", at: at(86_400))

        let midnight = day0 + 2 * 86_400_000_000
        let d = try await fixture.view("film", "alice", at: midnight - 60_000_000)
        try await fixture.player(d, .play, at: midnight - 20_000_000, video: 0)
        try await fixture.player(d, .pause, at: midnight + 20_000_000, video: 40)

        let e = try await fixture.view("clip", "bob", at: at(0))
        try await fixture.player(e, .play, at: at(0), video: 0)
        try await fixture.player(e, .pause, at: at(200), video: 200)
        return (a, b, c, d, e)
    }

    static func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let fixture = try Fixture()
        do {
            try await body(fixture)
        } catch {
            await fixture.close()
            throw error
        }
        await fixture.close()
    }

    static func days(_ first: Int64, _ last: Int64) throws -> DayRange {
        try #require(DayRange(first: dayNumber + first, last: dayNumber + last))
    }

    @Test("summary: views, unique viewers over the range and per day, watch time, average duration and percentage, plays that count, completions")
    func summary() async throws {
        try await Self.withFixture { fixture in
            _ = try await Self.scenario(fixture)
            let both = try fixture.queries.summary(of: "film", over: try Self.days(0, 1))
            #expect(both.views == 4)
            #expect(both.uniqueViewers == 3)
            #expect(both.watchTimeMillis == 120_000 + 29_000 + 40_000)
            #expect(both.averageViewDurationMillis == 47_250)
            #expect(both.averagePercentageViewed == 47.25)
            #expect(both.countedPlays == 2)
            #expect(both.completions == 1)
            #expect(both.lengthMillis == 100_000)
            #expect(both.days.map(\.views) == [2, 2])
            #expect(both.days.map(\.uniqueViewers) == [2, 2])
            #expect(both.days.map(\.watchTimeMillis) == [149_000, 40_000])

            let second = try fixture.queries.summary(of: "film", over: try Self.days(1, 1))
            #expect(second.views == 2 && second.uniqueViewers == 2 && second.watchTimeMillis == 40_000)
            let week = try fixture.queries.summary(of: "film", over: try Self.days(-3, 3))
            #expect(week.uniqueViewers == 3 && week.days.count == 7)

            let clip = try fixture.queries.summary(of: "clip", over: try Self.days(0, 1))
            #expect(clip.views == 1 && clip.watchTimeMillis == 200_000 && clip.countedPlays == 1)
            #expect(clip.lengthMillis == nil && clip.averagePercentageViewed == nil)
            #expect(try fixture.queries.retention(of: "clip", over: try Self.days(0, 1)) == nil)
        }
    }

    @Test("retention: each view counts once per point it watched; rewatching is its own curve; a seek's jump is not watched")
    func retention() async throws {
        try await Self.withFixture { fixture in
            _ = try await Self.scenario(fixture)
            let curve = try #require(try fixture.queries.retention(of: "film", over: try Self.days(0, 1)))
            #expect(curve.views == 4)
            #expect(curve.points.count == 100)
            #expect(curve.points[37].positionMillis == 37_000)
            // Point: (views that watched it, views that rewatched it).
            let expected: [Int: (UInt64, UInt64)] = [
                0: (3, 0), 10: (3, 1), 19: (3, 1), 20: (2, 1), 25: (2, 1), 29: (2, 1), 30: (2, 0), 39: (2, 0), 40: (1, 0), 79: (1, 0), 80: (2, 0),
                88: (2, 0), 89: (1, 0), 99: (1, 0),
            ]
            for (point, (watched, rewatched)) in expected {
                #expect(curve.points[point].watched == watched, "point \(point)")
                #expect(curve.points[point].rewatched == rewatched, "point \(point)")
            }
        }
    }

    @Test("seeks: where viewers left from and landed, and the stretches forward seeks skipped")
    func seeks() async throws {
        try await Self.withFixture { fixture in
            _ = try await Self.scenario(fixture)
            let heatmap = try #require(try fixture.queries.seeks(of: "film", over: try Self.days(0, 1)))
            #expect(heatmap.seeks == 2)
            #expect(heatmap.buckets.filter { $0.seeksFrom > 0 }.map(\.index) == [20, 30])
            #expect(heatmap.buckets.filter { $0.seeksTo > 0 }.map(\.index) == [10, 80])
            #expect(heatmap.buckets.filter { $0.skipped > 0 }.map(\.index) == Array(20..<80))
            #expect(heatmap.mostSkipped.map(\.index) == [20, 21, 22, 23, 24])
            #expect(heatmap.buckets[20].fromMillis == 20_000 && heatmap.buckets[20].toMillis == 21_000)
        }
    }

    @Test("concurrent viewers: a view counts once in each minute it played, across midnight too; all videos together")
    func concurrent() async throws {
        try await Self.withFixture { fixture in
            _ = try await Self.scenario(fixture)
            let tenOClock = Timestamp(microsecondsSince1970: Self.at(0))
            let film = try fixture.queries.concurrentViewers(of: "film", from: tenOClock, to: tenOClock.adding(millis: 300_000))
            #expect(film.minutes.map(\.viewers) == [2, 1, 1, 0, 0])
            #expect(film.peak == 2 && film.peakAt == tenOClock)
            let all = try fixture.queries.concurrentViewers(of: nil, from: tenOClock, to: tenOClock.adding(millis: 300_000))
            #expect(all.minutes.map(\.viewers) == [3, 2, 2, 1, 0])
            let midnight = Timestamp(microsecondsSince1970: Self.day0 + 2 * 86_400_000_000)
            let acrossMidnight = try fixture.queries.concurrentViewers(
                of: "film",
                from: midnight.adding(millis: -120_000),
                to: midnight.adding(millis: 120_000)
            )
            #expect(acrossMidnight.minutes.map(\.viewers) == [0, 1, 1, 0])
        }
    }

    @Test("top videos by views and by watch time, ties by id")
    func top() async throws {
        try await Self.withFixture { fixture in
            _ = try await Self.scenario(fixture)
            let range = try Self.days(0, 1)
            #expect(try fixture.queries.topVideos(over: range, by: .views, limit: 10).videos.map(\.videoId) == ["film", "clip"])
            #expect(try fixture.queries.topVideos(over: range, by: .watchTime, limit: 10).videos.map(\.videoId) == ["clip", "film"])
            #expect(try fixture.queries.topVideos(over: range, by: .views, limit: 1).videos.map(\.views) == [4])
            #expect(try fixture.queries.topVideos(over: try Self.days(1, 1), by: .views, limit: 10).videos.map(\.videoId) == ["film"])
        }
    }

    @Test("a deleted view takes back everything it added; deleting a user's only view of a day changes the unique viewers")
    func deletion() async throws {
        try await Self.withFixture { fixture in
            let (_, b, c, _, _) = try await Self.scenario(fixture)
            try await fixture.append(WatchSessionDeleted(sessionId: b), WatchSessionDeleted(sessionId: c))
            let range = try Self.days(0, 1)
            let summary = try fixture.queries.summary(of: "film", over: range)
            #expect(summary.views == 2 && summary.uniqueViewers == 1 && summary.watchTimeMillis == 160_000)
            #expect(summary.countedPlays == 2 && summary.completions == 1)
            let curve = try #require(try fixture.queries.retention(of: "film", over: range))
            #expect(curve.views == 2 && curve.points[0].watched == 2 && curve.points[85].watched == 1)
            let heatmap = try #require(try fixture.queries.seeks(of: "film", over: range))
            #expect(heatmap.seeks == 1 && heatmap.mostSkipped.isEmpty)
            let tenOClock = Timestamp(microsecondsSince1970: Self.at(0))
            #expect(
                try fixture.queries.concurrentViewers(of: "film", from: tenOClock, to: tenOClock.adding(millis: 60_000)).minutes.map(\.viewers) == [1]
            )
        }
    }

    @Test("folded one append at a time or all at once, the read models are the same (rebuild equals live)")
    func rebuildEqualsLive() async throws {
        try await Self.withFixture { fixture in
            let (a, _, _, _, _) = try await Self.scenario(fixture)
            try await fixture.append(WatchSessionDeleted(sessionId: a))
            let other = fixture.directory + "/other"
            do {
                let allAtOnce = try AsyncProjections(directory: other, projectors: [VideoAnalyticsProjector()])
                try fixture.log.withReader { _ = try allAtOnce.catchUp($0) }
            }
            let (_, differences) = try fixture.projections.differences(from: other)
            #expect(differences.isEmpty)
        }
    }

    /// Local day `day` of a fixed offset of `minutes` from UTC starts at its midnight there.
    static func fixedOffset(_ minutes: Int64) -> (Int64) -> Timestamp {
        { day in Timestamp(microsecondsSince1970: day * 86_400_000_000 - minutes * 60_000_000) }
    }

    static func zoneDays(_ first: Int64, _ last: Int64, _ name: String, _ startOfDay: (Int64) -> Timestamp) throws(DayRange.Failure) -> DayRange {
        try DayRange(first: dayNumber + first, last: dayNumber + last, timeZone: name, startOfDay: startOfDay)
    }

    @Test("days of other time zones: a view is in the local day its session began; unique viewers, tallies, curves and the ranking follow")
    func otherTimeZones() async throws {
        try await Self.withFixture { fixture in
            let hour: Int64 = 3_600_000_000
            let day: Int64 = 86_400_000_000
            try await fixture.append(VideoRegistered(videoId: "film", durationMillis: 100_000, title: "Film", completionThreshold: 0.9))
            // UTC: alice day 0 22:00 and day 1 03:00, bob day 1 23:30, carol day 0 01:00; dave's clip day 1 23:50.
            let v1 = try await fixture.view("film", "alice", at: Self.day0 + 22 * hour)
            try await fixture.player(v1, .play, at: Self.day0 + 22 * hour, video: 0)
            try await fixture.player(v1, .pause, at: Self.day0 + 22 * hour + 10_000_000, video: 10)
            let v2 = try await fixture.view("film", "alice", at: Self.day0 + day + 3 * hour)
            try await fixture.player(v2, .play, at: Self.day0 + day + 3 * hour, video: 0)
            try await fixture.player(v2, .seek, at: Self.day0 + day + 3 * hour + 5_000_000, video: 50)
            _ = try await fixture.view("film", "bob", at: Self.day0 + day + 23 * hour + hour / 2)
            _ = try await fixture.view("film", "carol", at: Self.day0 + hour)
            _ = try await fixture.view("clip", "dave", at: Self.day0 + day + 23 * hour + 50 * 60_000_000)

            // UTC days, for comparison: day 1 has alice (03:00) and bob.
            let utc = try fixture.queries.summary(of: "film", over: try Self.days(1, 1))
            #expect(utc.views == 2 && utc.uniqueViewers == 2)

            // +05:45: alice's two views are both on local day 1; bob's is on day 2; carol's on day 0.
            let kathmandu = Self.fixedOffset(5 * 60 + 45)
            let day1 = try fixture.queries.summary(of: "film", over: try Self.zoneDays(1, 1, "+05:45", kathmandu))
            #expect(day1.views == 2 && day1.uniqueViewers == 1 && day1.watchTimeMillis == 15_000)
            #expect(day1.range.timeZone == "+05:45")
            let days01 = try fixture.queries.summary(of: "film", over: try Self.zoneDays(0, 1, "+05:45", kathmandu))
            #expect(days01.views == 3 && days01.uniqueViewers == 2)
            #expect(days01.days.map(\.views) == [1, 2] && days01.days.map(\.uniqueViewers) == [1, 1])
            let days12 = try fixture.queries.summary(of: "film", over: try Self.zoneDays(1, 2, "+05:45", kathmandu))
            #expect(days12.views == 3 && days12.uniqueViewers == 2 && days12.days.map(\.views) == [2, 1])
            let curve1 = try #require(try fixture.queries.retention(of: "film", over: try Self.zoneDays(1, 1, "+05:45", kathmandu)))
            #expect(curve1.views == 2 && curve1.points[5].watched == 1 && curve1.points[2].watched == 2)
            let curve2 = try #require(try fixture.queries.retention(of: "film", over: try Self.zoneDays(2, 2, "+05:45", kathmandu)))
            #expect(curve2.views == 1 && curve2.points[2].watched == 0)
            #expect(try fixture.queries.seeks(of: "film", over: try Self.zoneDays(1, 1, "+05:45", kathmandu))?.seeks == 1)
            #expect(try fixture.queries.seeks(of: "film", over: try Self.zoneDays(2, 2, "+05:45", kathmandu))?.seeks == 0)
            let top1 = try fixture.queries.topVideos(over: try Self.zoneDays(1, 1, "+05:45", kathmandu), by: .views, limit: 10)
            #expect(top1.videos.map(\.videoId) == ["film"])
            let top2 = try fixture.queries.topVideos(over: try Self.zoneDays(2, 2, "+05:45", kathmandu), by: .views, limit: 10)
            #expect(top2.videos.map(\.videoId) == ["clip", "film"] && top2.videos.map(\.views) == [1, 1])

            // −03:30: carol's view is on local day −1, alice's two on day 0, bob's on day 1.
            let newfoundland = Self.fixedOffset(-(3 * 60 + 30))
            let around = try fixture.queries.summary(of: "film", over: try Self.zoneDays(-1, 1, "-03:30", newfoundland))
            #expect(around.views == 4 && around.uniqueViewers == 3 && around.days.map(\.views) == [1, 2, 1])
            #expect(around.days.map(\.uniqueViewers) == [1, 1, 1])

            // A day of 23 hours (+01:00, then +02:00 from local day 2): bob's 23:30 is on day 2.
            let summer: (Int64) -> Timestamp = { local in
                Timestamp(microsecondsSince1970: local * day - (local >= Self.dayNumber + 2 ? 2 : 1) * hour)
            }
            let short = try fixture.queries.summary(of: "film", over: try Self.zoneDays(0, 2, "Europe/Somewhere", summer))
            #expect(short.days.map(\.views) == [2, 1, 1] && short.uniqueViewers == 3)
        }
    }

    @Test("days that do not start on a quarter-hour, reversed or too long are refused")
    func refusedZoneDays() throws {
        func refusal(_ body: () throws(DayRange.Failure) -> DayRange) -> DayRange.Failure.Code? {
            do {
                _ = try body()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(refusal { () throws(DayRange.Failure) in try Self.zoneDays(0, 0, "-00:05", Self.fixedOffset(-5)) } == .offQuarterHour)
        #expect(refusal { () throws(DayRange.Failure) in try Self.zoneDays(1, 0, "+01:00", Self.fixedOffset(60)) } == .reversed)
        #expect(refusal { () throws(DayRange.Failure) in try Self.zoneDays(0, DayRange.maxDays, "+01:00", Self.fixedOffset(60)) } == .tooLong)
        #expect(try Self.zoneDays(0, DayRange.maxDays - 1, "+01:00", Self.fixedOffset(60)).boundaries.count == Int(DayRange.maxDays) + 1)
    }

    @Test("a day's quarter-hour slots round-trip, values of 128 bytes and more included; a cut row is an error")
    func quarterSlots() throws {
        let slots: [(index: Int, bytes: [UInt8])] = [(0, []), (5, [1, 2, 3]), (94, Array(repeating: 7, count: 300)), (95, [9])]
        let encoded = QuarterSlots.encode(slots)
        let decoded = try encoded.withUnsafeBytes { try QuarterSlots.decode($0) }
        #expect(decoded.map(\.index) == [0, 5, 94, 95])
        #expect(decoded.map(\.bytes) == slots.map(\.bytes))
        let cut = Array(encoded.dropLast(2))
        #expect(throws: DomainCodecError.self) { try cut.withUnsafeBytes { try QuarterSlots.decode($0) } }
    }
}
