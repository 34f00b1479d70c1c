import Foundation
import PlayheadCore
import Testing
import Views
import WatchDomain

@testable import EventLog
@testable import LMDBLog
@testable import Projections

/// Appends a mixed watch-session and progress workload: videos registered part way
/// through, reports from several devices in any order, deletions and re-creations, watch
/// sessions with repeated player events, updates and deletions.
func appendWatchWorkload(_ log: LMDBEventLog, steps: Int, users: Int = 5, videos: Int = 8, seed: UInt64 = 7) async throws {
    var random = SeededRandom(seed: seed)
    var sessions: [(id: UUID, user: String)] = []
    let base: Int64 = 1_700_000_000_000_000
    for step in 0..<steps {
        let user = "user-\(random.next() % UInt64(users))"
        let video = "video-\(random.next() % UInt64(videos))"
        let clientTime = Timestamp(microsecondsSince1970: base + Int64(random.next() % 1_000_000) * 1_000_000)
        var events: [any DomainEvent] = []
        switch random.next() % 10 {
        case 0:
            events.append(
                VideoRegistered(
                    videoId: video,
                    durationMillis: 60_000 * (1 + random.next() % 20),
                    title: "t\(step)",
                    completionThreshold: 0.5 + Double(random.next() % 5) / 10
                )
            )
        case 1:
            events.append(ProgressDeleted(userId: user, videoId: video))
        case 2, 3, 4, 5:
            events.append(
                ProgressRecorded(
                    userId: user,
                    videoId: video,
                    watchedDuration: random.next() % 1_500,
                    lastWatched: clientTime,
                    videoDurationMillis: random.next() % 2 == 0 ? nil : 1_200_000,
                    source: .sync
                )
            )
        case 6:
            let id = UUID()
            sessions.append((id, user))
            events.append(
                WatchSessionStarted(
                    sessionId: id,
                    userId: user,
                    userSessionId: random.next() % 2 == 0 ? UUID() : nil,
                    isGuest: false,
                    videoId: video,
                    startTime: clientTime,
                    endTime: nil,
                    actualTimeWatchedMillis: 0,
                    percentageWatched: 0,
                    userMetadata: ClientMetadata(device: "d")
                )
            )
        case 7, 8:
            guard let session = sessions.randomElement(using: &random) else { continue }
            let kind = PlayerEventKind.allCases[Int(random.next() % UInt64(PlayerEventKind.allCases.count))]
            let event = PlayerEvent(event: kind, eventTime: clientTime, videoTimeMillis: random.next() % 600_000)
            events.append(PlayerEventRecorded(sessionId: session.id, event: event))
            events.append(PlayerEventRecorded(sessionId: session.id, event: event))
            events.append(
                WatchSessionUpdated(sessionId: session.id, endTime: nil, actualTimeWatchedMillis: random.next() % 600_000, percentageWatched: 42)
            )
        default:
            guard !sessions.isEmpty else { continue }
            let session = sessions.remove(at: Int(random.next() % UInt64(sessions.count)))
            events.append(WatchSessionDeleted(sessionId: session.id))
        }
        _ = try await log.append(AppendRequest(events: events.map { $0.proposed(actor: user) }))
    }
}

// A guard against hangs, not a speed check: these folds take seconds alone, but over a
// minute when a hundred suites start at once on two cores after a fresh build's writes.
@Suite("Watch-session and video-progress projections", .timeLimit(.minutes(5)))
struct WatchAndProgressProjectorTests {
    @Test("after a mixed workload, views folded inline equal views rebuilt from the log, key by key")
    func rebuildEqualsLive() async throws {
        try await withDirectory { directory in
            let clock = SteppingClock()
            let store = try PlayheadStore(directory: directory) { $0.clock = { clock.now() } }
            try await appendWatchWorkload(store.log, steps: 1_500)
            let rebuilt = directory + "/scratch"
            try store.log.withReader { reader in
                _ = try InlineProjections.build(directory: rebuilt, projectors: PlayheadStore.projectors, from: reader)
            }
            let (position, differences) = try store.projections.differences(from: rebuilt)
            #expect(position == (try store.log.head))
            #expect(differences.isEmpty, "\(differences)")

            // The totals equal the sums over the rows they summarise.
            let progress = VideoProgressQueries(views: store.projections)
            var viewers = 0
            for video in (0..<8).map({ "video-\($0)" }) {
                let summary = try progress.summary(video: video)
                var recount = ProgressTotals()
                for user in (0..<5).map({ "user-\($0)" }) {
                    guard let entry = try progress.entry(user: user, video: video) else { continue }
                    recount.viewers += 1
                    recount.watchedDuration += entry.watchedDuration
                    if entry.isCompleted(video: summary.video) { recount.completed += 1 }
                }
                #expect(summary.totals == recount, "\(video)")
                viewers += Int(recount.viewers)
            }
            #expect(viewers > 10)
            await store.close()
        }
    }

    @Test("reports arriving out of order leave the latest; a deleted entry is re-created by a later report")
    func outOfOrder() async throws {
        let store = MemoryStore()
        let queries = VideoProgressQueries(store.committed)
        func report(_ watched: UInt64, at seconds: Int64, length: UInt64? = 100_000) async throws {
            let event = ProgressRecorded(
                userId: "u",
                videoId: "v",
                watchedDuration: watched,
                lastWatched: Timestamp(microsecondsSince1970: seconds * 1_000_000),
                videoDurationMillis: length,
                source: .sync
            )
            _ = try await store.log.append(AppendRequest(events: [event.proposed(actor: "u")]))
        }
        try await report(95, at: 200)
        try await report(10, at: 100)  // an older device syncing late
        #expect(try queries.entry(user: "u", video: "v")?.watchedDuration == 95)
        #expect(try queries.summary(video: "v").totals == totals(viewers: 1, watched: 95, completed: 1))

        _ = try await store.log.append(AppendRequest(events: [ProgressDeleted(userId: "u", videoId: "v").proposed(actor: "u")]))
        #expect(try queries.entry(user: "u", video: "v") == nil)
        #expect(try queries.summary(video: "v").totals == ProgressTotals())
        #expect(try queries.engagement(user: "u", limit: 10).mostWatched.isEmpty)

        try await report(10, at: 100)
        #expect(try queries.entry(user: "u", video: "v")?.watchedDuration == 10)
        #expect(try queries.summary(video: "v").totals == totals(viewers: 1, watched: 10, completed: 0))
    }

    @Test("registering a video's length recounts who completed it")
    func registrationRecounts() async throws {
        let store = MemoryStore()
        let queries = VideoProgressQueries(store.committed)
        var events: [any DomainEvent] = []
        for (index, watched) in [50, 80, 95, 120].enumerated() {
            events.append(
                ProgressRecorded(
                    userId: "u\(index)",
                    videoId: "v",
                    watchedDuration: UInt64(watched),
                    lastWatched: Timestamp(microsecondsSince1970: 1),
                    videoDurationMillis: nil,
                    source: .update
                )
            )
        }
        _ = try await store.log.append(AppendRequest(events: events.map { $0.proposed(actor: "t") }))
        #expect(try queries.summary(video: "v").totals == totals(viewers: 4, watched: 345, completed: 0), "no length known yet")
        func register(_ seconds: UInt64, threshold: Double) async throws {
            let event = VideoRegistered(videoId: "v", durationMillis: seconds * 1_000, title: nil, completionThreshold: threshold)
            _ = try await store.log.append(AppendRequest(events: [event.proposed(actor: "admin")]))
        }
        try await register(100, threshold: 0.9)
        #expect(try queries.summary(video: "v").totals.completed == 2)
        #expect(try queries.engagement(user: "u2", limit: 1).totals.completed == 1)
        try await register(100, threshold: 0.5)
        #expect(try queries.summary(video: "v").totals.completed == 4)
        try await register(1_000, threshold: 0.9)
        #expect(try queries.summary(video: "v").totals.completed == 0)
        #expect(try queries.engagement(user: "u3", limit: 1).totals.completed == 0)
    }

    @Test("the most watched list is ordered by watched duration and follows changes")
    func mostWatched() async throws {
        let store = MemoryStore()
        let queries = VideoProgressQueries(store.committed)
        for (video, watched, time) in [("a", 10, 1), ("b", 30, 1), ("c", 20, 1), ("a", 40, 2)] as [(String, UInt64, Int64)] {
            let event = ProgressRecorded(
                userId: "u",
                videoId: video,
                watchedDuration: watched,
                lastWatched: Timestamp(microsecondsSince1970: time),
                videoDurationMillis: nil,
                source: .realtime
            )
            _ = try await store.log.append(AppendRequest(events: [event.proposed(actor: "u")]))
        }
        let engagement = try queries.engagement(user: "u", limit: 2)
        #expect(engagement.mostWatched.map(\.videoId) == ["a", "b"])
        #expect(engagement.mostWatched.map(\.watchedDuration) == [40, 30])
        #expect(engagement.totals == totals(viewers: 3, watched: 90, completed: 0))
    }

    @Test("watch sessions: lists newest first with totals, player events once each, deletion removes every row")
    func watchSessions() async throws {
        let store = MemoryStore()
        let queries = WatchSessionQueries(store.committed)
        let userSession = UUID()
        var ids: [UUID] = []
        for index in 0..<5 {
            let id = UUID()
            ids.append(id)
            let started = WatchSessionStarted(
                sessionId: id,
                userId: index < 3 ? "alice" : "bob",
                userSessionId: index < 2 ? userSession : nil,
                isGuest: false,
                videoId: "v",
                startTime: Timestamp(microsecondsSince1970: 0),
                endTime: nil,
                actualTimeWatchedMillis: 0,
                percentageWatched: 0,
                userMetadata: ClientMetadata()
            )
            _ = try await store.log.append(AppendRequest(events: [started.proposed(actor: "t")]))
        }
        let alicePage = try queries.page(of: .user("alice"), limit: 2, offset: 1)
        #expect(alicePage.total == 3)
        #expect(alicePage.sessions.map(\.sessionId) == [ids[1], ids[0]])
        #expect(try queries.page(of: .all, limit: 10, offset: 0).sessions.map(\.sessionId) == ids.reversed())
        #expect(try queries.page(of: .userSession(userSession), limit: 10, offset: 0).total == 2)

        let play = PlayerEvent(event: .play, eventTime: Timestamp(microsecondsSince1970: 5), videoTimeMillis: 0)
        let seek = PlayerEvent(event: .seek, eventTime: Timestamp(microsecondsSince1970: 2), videoTimeMillis: 9)
        let recorded = [play, seek, play].map { PlayerEventRecorded(sessionId: ids[0], event: $0).proposed(actor: "t") }
        _ = try await store.log.append(AppendRequest(events: recorded))
        #expect(try queries.playerEvents(of: ids[0]) == [seek, play], "in event-time order, each once")
        #expect(try queries.session(ids[0])?.playerEventCount == 2)
        #expect(try queries.isRecorded(seek, in: ids[0]))

        _ = try await store.log.append(AppendRequest(events: [WatchSessionDeleted(sessionId: ids[0]).proposed(actor: "t")]))
        #expect(try queries.session(ids[0]) == nil)
        #expect(try queries.playerEvents(of: ids[0]).isEmpty)
        #expect(try queries.page(of: .user("alice"), limit: 10, offset: 0).total == 2)
        #expect(try queries.page(of: .userSession(userSession), limit: 10, offset: 0).sessions.map(\.sessionId) == [ids[1]])
        #expect(try queries.page(of: .all, limit: 10, offset: 0).total == 4)
        // The log keeps the history: started, the player events and the deletion.
        #expect(try await store.log.events(inStream: WatchSessionEvents.stream(ids[0]), from: 1, direction: .forward, limit: 100).count == 5)
    }

    private func totals(viewers: UInt64, watched: UInt64, completed: UInt64) -> ProgressTotals {
        var totals = ProgressTotals()
        totals.viewers = viewers
        totals.watchedDuration = watched
        totals.completed = completed
        return totals
    }
}
