import Foundation
import PlayheadCore
import Synchronization
import Testing
import Views
import WatchDomain

@testable import EventLog
@testable import LMDBLog
@testable import Projections

/// A clock the test sets by hand.
final class ManualClock: Sendable {
    private let time = Mutex(Timestamp(microsecondsSince1970: 0))
    func set(_ time: Timestamp) { self.time.withLock { $0 = time } }
    func now() -> Timestamp { time.withLock { $0 } }
}

// A guard against hangs, not a speed check: these folds take seconds alone, but over a
// minute when a hundred suites start at once on two cores after a fresh build's writes.
@Suite("Content-interaction projection and queries", .timeLimit(.minutes(5)))
struct InteractionsProjectorTests {
    static let day: Int64 = 86_400_000_000
    static let hour: Int64 = 3_600_000_000
    /// 2026-01-01T00:00:00Z.
    static let base: Int64 = 1_767_225_600_000_000

    func track(
        _ store: MemoryStore,
        _ clock: ManualClock,
        at micros: Int64,
        user: String = "u",
        content: String,
        _ type: InteractionType,
        _ details: InteractionDetails = InteractionDetails()
    ) async throws {
        try await track(store.log, InteractionQueries(store.committed), clock, at: micros, user: user, content: content, type, details)
    }

    func track(
        _ store: PlayheadStore,
        _ clock: ManualClock,
        at micros: Int64,
        user: String = "u",
        content: String,
        _ type: InteractionType,
        _ details: InteractionDetails = InteractionDetails()
    ) async throws {
        try await track(store.log, InteractionQueries(views: store.projections), clock, at: micros, user: user, content: content, type, details)
    }

    /// Tracks one interaction as the command does: decided on the committed views, then appended.
    private func track(
        _ log: some EventStore,
        _ queries: InteractionQueries,
        _ clock: ManualClock,
        at micros: Int64,
        user: String,
        content: String,
        _ type: InteractionType,
        _ details: InteractionDetails
    ) async throws {
        clock.set(Timestamp(microsecondsSince1970: micros))
        let existing = try queries.interaction(user: user, content: content, type: type)
        let event = try InteractionDecider.track(
            userId: UserID(user),
            contentId: ContentID(content),
            type: type,
            details: details,
            caller: Caller(userId: user),
            existing: existing,
            newId: { UUID() }
        )
        _ = try await log.append(AppendRequest(events: [event.proposed(actor: user)]))
    }

    @Test("re-tracking updates one interaction; history is newest first, filtered, with exact totals across days")
    func history() async throws {
        let clock = ManualClock()
        let store = MemoryStore { clock.now() }
        // Ten interactions, one every 6 hours from 2026-01-01T00:00Z; even ones likes, odd ones views.
        for index in 0..<10 {
            try await track(store, clock, at: Self.base + Int64(index) * 6 * Self.hour, content: "c\(index)", index % 2 == 0 ? .like : .view)
        }
        // c0's like again, later, with new details: still one interaction.
        try await track(store, clock, at: Self.base + 100 * Self.hour, content: "c0", .like, InteractionDetails(interactionValue: 7))
        let queries = InteractionQueries(store.committed)
        let c0 = try #require(try queries.interaction(user: "u", content: "c0", type: .like))
        #expect(c0.count == 2)
        #expect(c0.details.interactionValue == 7)
        #expect(c0.createdAt.microsecondsSince1970 == Self.base)
        #expect(c0.updatedAt.microsecondsSince1970 == Self.base + 100 * Self.hour)

        let all = try queries.history(InteractionFilter(userId: "u"), limit: 3, offset: 0)
        #expect(all.total == 10)
        #expect(all.interactions.map(\.contentId) == ["c9", "c8", "c7"])
        #expect(try queries.history(InteractionFilter(userId: "u"), limit: 3, offset: 8).interactions.map(\.contentId) == ["c1", "c0"])
        let likes = try queries.history(InteractionFilter(userId: "u", type: .like), limit: 10, offset: 0)
        #expect(likes.total == 5)
        #expect(likes.interactions.map(\.contentId) == ["c8", "c6", "c4", "c2", "c0"])

        // Every range, checked against a count made by hand: the totals come from day
        // counters plus the keys of the days the ends fall in.
        let times = (0..<10).map { Self.base + Int64($0) * 6 * Self.hour }
        for startHour in stride(from: -6, through: 60, by: 5) {
            for length in [1, 6, 23, 24, 25, 48, 70] {
                let start = Self.base + Int64(startHour) * Self.hour
                let end = start + Int64(length) * Self.hour
                for type in [nil, InteractionType.view] {
                    let filter = InteractionFilter(
                        userId: "u",
                        type: type,
                        start: Timestamp(microsecondsSince1970: start),
                        end: Timestamp(microsecondsSince1970: end)
                    )
                    let expected = times.enumerated().filter { index, time in
                        time >= start && time < end && (type == nil || index % 2 == 1)
                    }
                    let page = try queries.history(filter, limit: 50, offset: 0)
                    #expect(page.total == expected.count, "\(startHour)h + \(length)h, \(String(describing: type))")
                    #expect(page.interactions.map(\.contentId) == expected.reversed().map { "c\($0.offset)" })
                }
            }
        }
        #expect(
            try queries.history(InteractionFilter(userId: "someone-else"), limit: 10, offset: 0) == InteractionPage(total: 0, interactions: [])
        )
    }

    @Test("patterns of a crafted data set have the answers worked out by hand")
    func patterns() async throws {
        let clock = ManualClock()
        let store = MemoryStore { clock.now() }
        let now = Self.base + 90 * Self.day
        // Mood intensity and value rise together (r = 1) on the three rated ones.
        let crafted: [(Int64, String, InteractionType, InteractionDetails)] = [
            (
                now - 70 * Self.day + 9 * Self.hour, "a", .like,
                InteractionDetails(interactionValue: 2, moodIntensityAtInteraction: 1, interactionDurationSeconds: 60, contentType: "movies")
            ),
            (
                now - 10 * Self.day + 19 * Self.hour, "b", .like,
                InteractionDetails(interactionValue: 4, moodIntensityAtInteraction: 2, interactionDurationSeconds: 120, contentType: "movies")
            ),
            (
                now - 5 * Self.day + 20 * Self.hour, "c", .rate,
                InteractionDetails(interactionValue: 6, moodIntensityAtInteraction: 3, contentType: "series")
            ),
            (now - 2 * Self.day + 21 * Self.hour, "d", .view, InteractionDetails(interactionDurationSeconds: 30)),
            (now - 1 * Self.day + 23 * Self.hour, "e", .share, InteractionDetails(contentType: "movies")),
        ]
        for (time, content, type, details) in crafted {
            try await track(store, clock, at: time, content: content, type, details)
        }
        let queries = InteractionQueries(store.committed)
        let utc = try queries.patterns(user: "u", now: Timestamp(microsecondsSince1970: now)) { time in
            Int((time.microsecondsSince1970 % Self.day) / 60_000_000)
        }
        #expect(utc.totalInteractions == 5)
        #expect(utc.firstCreatedAt?.microsecondsSince1970 == crafted[0].0)
        #expect(utc.lastUpdatedAt?.microsecondsSince1970 == crafted[4].0)
        #expect(utc.mostCommonType == .like)
        #expect(utc.averageDuration == 70)  // (60 + 120 + 30) / 3
        #expect(abs((utc.moodCorrelation ?? 0) - 1) < 1e-9)
        #expect(utc.moodTrend == .positive)
        #expect(utc.timeOfDay == .evening)  // 09, 19, 20, 21, 23 h UTC: three in the evening
        #expect(utc.contentTypePreference == "movies")
        #expect(utc.recentTrackings == 4)
        #expect(utc.previousTrackings == 0)
        #expect(utc.frequencyTrend == .increasing)

        // Seven hours ahead, the evening ones fall at night: 16, 02, 03, 04, 06 h.
        let ahead = try queries.patterns(user: "u", now: Timestamp(microsecondsSince1970: now)) { time in
            Int(((time.microsecondsSince1970 + 7 * Self.hour) % Self.day) / 60_000_000)
        }
        #expect(ahead.timeOfDay == .night)

        let nobody = try queries.patterns(user: "nobody", now: Timestamp(microsecondsSince1970: now)) { _ in 0 }
        #expect(nobody == InteractionPatterns())
    }

    @Test("an imported event whose id another interaction has still makes its own interaction")
    func doctoredIds() async throws {
        let store = MemoryStore()
        let id = UUID()
        let events = [("a", InteractionType.like), ("b", .like), ("a", .like)].map { content, type in
            InteractionTracked(interactionId: id, userId: "u", contentId: content, interactionType: type, details: InteractionDetails()).proposed(
                actor: "u"
            )
        }
        _ = try await store.log.append(AppendRequest(events: events))
        let queries = InteractionQueries(store.committed)
        let a = try #require(try queries.interaction(user: "u", content: "a", type: .like))
        let b = try #require(try queries.interaction(user: "u", content: "b", type: .like))
        #expect(a.count == 2)
        #expect(b.count == 1)
        #expect(a.interactionId == id)
        #expect(b.interactionId != id)
        #expect(try queries.history(InteractionFilter(userId: "u"), limit: 10, offset: 0).total == 2)
    }

    @Test("after a mixed workload, the live views equal a rebuild, key by key")
    func rebuildEqualsLive() async throws {
        try await withDirectory { directory in
            let clock = ManualClock()
            let store = try PlayheadStore(directory: directory) { configuration in configuration.clock = { clock.now() } }
            var random = SeededRandom(seed: 3)
            for step in 0..<600 {
                let type = InteractionType.allCases[Int(random.next() % 9)]
                try await track(
                    store,
                    clock,
                    at: Self.base + Int64(step) * 5 * Self.hour,
                    user: "user-\(random.next() % 4)",
                    content: "content-\(random.next() % 30)",
                    type,
                    InteractionDetails(interactionValue: Int64(1 + random.next() % 10), notes: step % 7 == 0 ? "a, \"quoted\"\nnote" : nil)
                )
            }
            let rebuilt = directory + "/scratch"
            try store.log.withReader { reader in
                _ = try InlineProjections.build(directory: rebuilt, projectors: PlayheadStore.projectors, from: reader)
            }
            #expect(try store.projections.differences(from: rebuilt).differences.isEmpty)
            await store.close()
        }
    }
}
