import Foundation
import PlayheadCore
import Testing
import Views
import WatchDomain

@testable import EventLog
@testable import LMDBLog
@testable import Projections

/// Appends a mixed user-session workload: starts, heartbeats, engagement, ends, expiries
/// and renewals over `users` users, with recorded-at times from a moving clock.
func appendSessionWorkload(_ log: LMDBEventLog, sessions: Int, users: Int = 7, seed: UInt64 = 42) async throws {
    var random = SeededRandom(seed: seed)
    var open: [UUID: String] = [:]
    for index in 0..<sessions {
        let user = "user-\(index % users)"
        let id = UUID()
        var events: [any DomainEvent] = [UserSessionStarted(sessionId: id, userId: user, userAgent: index % 2 == 0 ? "agent" : nil)]
        for _ in 0..<Int(random.next() % 5) { events.append(UserSessionHeartbeat(sessionId: id)) }
        switch random.next() % 4 {
        case 0: events.append(UserSessionEngagementChanged(sessionId: id, engaged: true))
        case 1: events.append(UserSessionEnded(sessionId: id))
        case 2:
            let renewal = UUID()
            events.append(UserSessionExpired(sessionId: id, lastActiveAt: Timestamp(microsecondsSince1970: 0), renewedBy: renewal))
            events.append(UserSessionRenewed(sessionId: renewal, userId: user, previousSessionId: id))
            open[renewal] = user
        default: open[id] = user
        }
        _ = try await log.append(AppendRequest(events: events.map { $0.proposed(actor: user) }))
    }
}

/// A small deterministic generator (SplitMix64) for repeatable workloads.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A clock that moves one second per reading, so that times differ and durations are non-zero.
final class SteppingClock: Sendable {
    private let ticks = Counter()
    func now() -> Timestamp {
        ticks.add()
        return Timestamp(microsecondsSince1970: 1_800_000_000_000_000 + Int64(ticks.count) * 1_000_000)
    }
}

// A guard against hangs, not a speed check: these folds take seconds alone, but over a
// minute when a hundred suites start at once on two cores after a fresh build's writes.
@Suite("User-session projection, rebuild and swap", .timeLimit(.minutes(5)))
struct UserSessionsProjectorTests {
    @Test("views folded inline equal views rebuilt from the log alone, key by key")
    func rebuildEqualsLive() async throws {
        try await withDirectory { directory in
            let clock = SteppingClock()
            let store = try PlayheadStore(directory: directory) { $0.clock = { clock.now() } }
            try await appendSessionWorkload(store.log, sessions: 300)
            let rebuilt = directory + "/scratch"
            try store.log.withReader { reader in
                _ = try InlineProjections.build(directory: rebuilt, projectors: PlayheadStore.projectors, from: reader)
            }
            let (position, differences) = try store.projections.differences(from: rebuilt)
            #expect(position == (try store.log.head))
            #expect(differences.isEmpty, "\(differences)")
            let queries = UserSessionQueries(views: store.projections)
            let metrics = try queries.metrics(from: Timestamp(microsecondsSince1970: 0), to: Timestamp(microsecondsSince1970: .max))
            #expect(metrics.totalSessions > 300)
            #expect(metrics.uniqueUsers == 7)
            await store.close()
        }
    }

    @Test("a changed row is found: differences name the database and key")
    func differencesAreFound() async throws {
        try await withDirectory { directory in
            let store = try PlayheadStore(directory: directory)
            try await appendSessionWorkload(store.log, sessions: 20)
            let rebuilt = directory + "/scratch"
            try store.log.withReader { reader in
                // Folded only part way: the later sessions are missing from the scratch views.
                _ = try InlineProjections.build(directory: rebuilt, projectors: PlayheadStore.projectors, from: reader, through: 10)
            }
            let (_, differences) = try store.projections.differences(from: rebuilt)
            #expect(!differences.isEmpty)
            #expect(
                differences.allSatisfy {
                    $0.database.hasPrefix("user-sessions.") && ($0.reason == "only in the live views" || $0.reason == "values differ")
                }
            )
            await store.close()
        }
    }

    @Test("published views are adopted, catching up on what was appended after the rebuild read the log")
    func swapWhileLive() async throws {
        try await withDirectory { directory in
            let generation = try await swapAndCheck(directory)
            // Reopened, the store serves the published generation.
            let reopened = try PlayheadStore(directory: directory)
            #expect(reopened.projections.directory == generation)
            await reopened.close()
        }
    }

    /// Publishes a rebuild while appends go on, checks the switch, and returns the generation.
    private func swapAndCheck(_ directory: String) async throws -> String {
        let store = try PlayheadStore(directory: directory)
        try await appendSessionWorkload(store.log, sessions: 50, seed: 1)
        let generation = store.views.newGeneration()
        try store.log.withReader { reader in
            _ = try InlineProjections.build(directory: generation, projectors: PlayheadStore.projectors, from: reader)
        }
        // Appended after the rebuild read the log: the switch must catch up on these.
        try await appendSessionWorkload(store.log, sessions: 50, seed: 2)
        try store.views.publish(generation)
        #expect(try await store.adoptPublishedViews())
        #expect(store.projections.directory == generation)
        #expect(try store.projections.appliedPosition() == (try store.log.head))
        #expect(!FileManager.default.fileExists(atPath: directory + "/views"))

        let check = directory + "/check"
        try store.log.withReader { reader in
            _ = try InlineProjections.build(directory: check, projectors: PlayheadStore.projectors, from: reader)
        }
        #expect(try store.projections.differences(from: check).differences.isEmpty)
        #expect(try await store.adoptPublishedViews() == false)
        await store.close()
        return generation
    }

    @Test("a copy that refolds one projection equals a full rebuild")
    func refoldOne() async throws {
        try await withDirectory { directory in
            let store = try PlayheadStore(directory: directory)
            try await appendSessionWorkload(store.log, sessions: 40)
            let copy = directory + "/copy"
            try store.projections.copy(to: copy, refolding: ["user-sessions"])
            let folded = try store.log.withReader { reader in
                try InlineProjections.build(directory: copy, projectors: PlayheadStore.projectors, from: reader)
            }
            #expect(folded == Int(try store.log.head))
            #expect(try store.projections.differences(from: copy).differences.isEmpty)
            #expect(throws: ViewError.self) { try store.projections.copy(to: directory + "/other", refolding: ["nope"]) }
            await store.close()
        }
    }

    @Test("active sessions follow the clock: silent past the timeout, they are not listed")
    func activeByClock() async throws {
        let clock = SteppingClock()
        let store = MemoryStore { clock.now() }
        let id = UUID()
        _ = try await store.log.append(AppendRequest(events: [UserSessionStarted(sessionId: id, userId: "u").proposed(actor: "u")]))
        let queries = UserSessionQueries(store.committed)
        let row = try #require(try queries.session(id))
        let later = Timestamp(microsecondsSince1970: row.lastActiveAt.microsecondsSince1970 + 3_600_000_000)
        #expect(try queries.activeSessions(of: "u", at: later, timeout: .seconds(3600)).map(\.sessionId) == [id])
        let tooLate = Timestamp(microsecondsSince1970: later.microsecondsSince1970 + 1)
        #expect(try queries.activeSessions(of: "u", at: tooLate, timeout: .seconds(3600)).isEmpty)
        #expect(try queries.activeSessions(of: "someone-else", at: later, timeout: .seconds(3600)).isEmpty)
    }
}
