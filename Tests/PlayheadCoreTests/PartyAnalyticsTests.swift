import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Synchronization
import Testing
import Views
import WatchDomain

/// ``PartyAnalyticsProjector`` and ``WatchPartyCommands/analytics(of:caller:)``: a crafted
/// party with worked-out figures, read before, during and after it.
@Suite("Party analytics", .timeLimit(.minutes(5)))
struct PartyAnalyticsTests {
    static let admin = Caller(userId: "root", isAdmin: true)
    static let start: Int64 = 1_795_982_400_000_000

    /// The clock's time, in microseconds.
    final class Now: Sendable {
        let value: Mutex<Int64>
        init(_ value: Int64) { self.value = Mutex(value) }
    }

    /// A store whose clock the test sets, in seconds from the party's start.
    struct Fixture {
        let store: PlayheadStore
        let commands: WatchPartyCommands
        let now: Now
        let party: UUID

        func at(_ seconds: Int64) { now.value.withLock { $0 = PartyAnalyticsTests.start + seconds * 1_000_000 } }

        func log(_ seconds: Int64, _ user: String, _ type: PartyLogEventType, message: String? = nil, videoTime: UInt64? = nil) async throws {
            at(seconds)
            _ = try await commands.log(
                .init(
                    userId: try UserID(user),
                    eventType: type,
                    username: type == .join ? user.capitalized : nil,
                    message: message,
                    videoTimeMillis: videoTime
                ),
                in: party,
                caller: PartyAnalyticsTests.admin,
                correlation: UUID()
            )
        }

        /// The analytics at `seconds` from the start, once the fold has caught up.
        func analytics(at seconds: Int64) throws -> PartyAnalytics {
            try store.log.withReader { _ = try store.asyncProjections.catchUp($0) }
            at(seconds)
            return try commands.analytics(of: party, caller: PartyAnalyticsTests.admin)
        }
    }

    /// A 10-minute party of a 20-minute film; alice, bob and carol hold tickets, carol never
    /// comes, root (an administrator) drops in. `upTo` stops the script at that second.
    static func withParty(upTo last: Int64 = .max, _ body: (Fixture) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-analytics-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Now(start - 3_600_000_000)
        let clock: @Sendable () -> Timestamp = { Timestamp(microsecondsSince1970: now.value.withLock { $0 }) }
        let store = try PlayheadStore(directory: directory) { $0.clock = clock }
        let runner = CommandRunner(store: store)
        _ = try await VideoProgressCommands(runner: runner, clock: clock)
            .registerVideo(try VideoID("film"), durationMillis: 1_200_000, title: nil, completionThreshold: nil, caller: admin, correlation: UUID())
        let commands = WatchPartyCommands(runner: runner, analytics: store.asyncProjections, clock: clock)
        let party = try await commands.schedule(
            movieId: try VideoID("film"),
            startTime: Timestamp(microsecondsSince1970: start),
            endTime: Timestamp(microsecondsSince1970: start + 600_000_000),
            isFeatured: false,
            maxParticipants: 10,
            caller: admin,
            correlation: UUID()
        )
        let ticket = try await commands.createTicket(
            TicketDefinition(name: "Seat", price: Price(hundredths: 500, currency: "EUR"), description: nil, isVoucher: false),
            caller: admin,
            correlation: UUID()
        )
        for user in ["alice", "bob", "carol"] {
            _ = try await commands.purchase(
                partyId: party.partyId,
                ticketId: ticket.ticketId,
                idempotencyKey: nil,
                caller: Caller(userId: user),
                correlation: UUID()
            )
        }
        let fixture = Fixture(store: store, commands: commands, now: now, party: party.partyId)
        let script: [(Int64, String, PartyLogEventType, String?, UInt64?)] = [
            (-90, "alice", .join, nil, nil),
            (-30, "bob", .join, nil, nil),
            (30, "alice", .message, "it starts", nil),  // film 0:30
            (35, "bob", .message, "hi", nil),  // film 0:35
            (45, "alice", .message, "wow", nil),  // film 0:45
            (60, "root", .join, nil, nil),  // 3 online: the peak
            (90, "root", .leave, nil, nil),
            (120, "alice", .pause, nil, nil),  // film 2:00
            (130, "alice", .seek, nil, 30_000),  // film 0:30, paused
            (140, "alice", .play, nil, nil),
            (150, "bob", .message, "again", nil),  // film 0:40
            (180, "bob", .leave, nil, nil),  // 1 online
            (200, "bob", .join, nil, nil),  // back: 2 online
            (200, "bob", .join, nil, nil),  // a second device: still 2
            (300, "bob", .leave, nil, nil),  // one device left: still 2
            (599, "alice", .leave, nil, nil),  // 1 online at the end
        ]
        for (seconds, user, type, message, videoTime) in script where seconds <= last {
            try await fixture.log(seconds, user, type, message: message, videoTime: videoTime)
        }
        try await body(fixture)
        await store.close()
    }

    @Test("a finished party: tickets, attendance, peak, time-weighted average, who stayed, minutes, chat moments, members")
    func finished() async throws {
        try await Self.withParty { fixture in
            let analytics = try fixture.analytics(at: 700)
            #expect(analytics.status == .finished)
            #expect(analytics.ticketsSold == 3)
            #expect(analytics.attendance == 2)  // carol never came; root holds no ticket
            #expect(analytics.participants == 3)
            #expect(analytics.participantsOnline == 0, "the room has closed: nobody is in it, as the party says")
            #expect(analytics.peakParticipants == 3)
            #expect(analytics.peakAt == Timestamp(microsecondsSince1970: Self.start + 60_000_000))
            // 0-60 s: 2, 60-90: 3, 90-180: 2, 180-200: 1, 200-599: 2, 599-600: 1 → 1,209 user-seconds over 600 s.
            #expect(analytics.averageParticipants == 1_209.0 / 600)
            #expect(analytics.stayedToEnd == 1)
            #expect(analytics.messages == 4)
            #expect((analytics.joins, analytics.leaves) == (5, 4))
            #expect(analytics.playerActions == .init(play: 1, pause: 1, seek: 1))
            #expect(
                analytics.chatMoments == [
                    .init(videoFromMillis: 30_000, videoToMillis: 40_000, messages: 2),
                    .init(videoFromMillis: 40_000, videoToMillis: 50_000, messages: 2),
                ]
            )
            #expect(analytics.topMembers.map(\.userId) == ["alice", "bob", "root"])
            #expect(analytics.topMembers.map(\.messages) == [2, 2, 0])
            #expect(analytics.topMembers.map(\.playerActions) == [3, 0, 0])
            #expect(analytics.topMembers.map(\.online) == [false, false, false])
            #expect(analytics.topMembers.map(\.holdsTicket) == [true, true, false])
            #expect(analytics.topMembers.first?.username == "Alice")

            let timeline = analytics.timeline
            #expect(timeline.map(\.minute) == Array(-2...9))
            #expect(timeline.map(\.participants) == [1, 2, 2, 3, 2, 2, 2, 2, 2, 2, 2, 2])
            #expect(timeline.map(\.messages) == [0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0])
            #expect(timeline.map(\.joins) == [1, 1, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0])
            #expect(timeline.map(\.leaves) == [0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1])
            #expect(timeline.map(\.playerActions) == [0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0])
        }
    }

    @Test("before the start only the lobby's minutes; while it runs, the average and the timeline run to now; no one has stayed to the end yet")
    func upcomingAndOngoing() async throws {
        try await Self.withParty(upTo: -30) { fixture in
            let lobby = try fixture.analytics(at: -10)
            #expect(lobby.status == .upcoming)
            #expect(lobby.averageParticipants == nil)
            #expect(lobby.stayedToEnd == nil)
            #expect(lobby.timeline.map(\.minute) == [-2, -1])
            #expect(lobby.participantsOnline == 2)
            // Two online from the start: an average of 2 over any stretch of the party.
            let running = try fixture.analytics(at: 150)
            #expect(running.status == .ongoing)
            #expect(running.averageParticipants == 2)
            #expect(running.stayedToEnd == nil)
            #expect(running.timeline.map(\.minute) == Array(-2...2))
            #expect(running.timeline.last?.participants == 2)
        }
    }

    @Test("a cancelled party: the room closed at the cancellation, so the timeline and the average stop there")
    func cancelled() async throws {
        try await Self.withParty(upTo: 150) { fixture in
            fixture.at(200)
            _ = try await fixture.commands.cancel(fixture.party, caller: Self.admin, correlation: UUID())
            let analytics = try fixture.analytics(at: 700)
            #expect(analytics.status == .cancelled)
            #expect(analytics.participantsOnline == 0 && analytics.stayedToEnd == nil)
            #expect(analytics.timeline.map(\.minute) == Array(-2...3))
            // 0-60 s: 2, 60-90: 3, 90-200: 2 → 430 user-seconds over the 200 s it ran.
            #expect(analytics.averageParticipants == 430.0 / 200)
        }
    }

    @Test("analytics are for administrators; an unknown party is not found")
    func access() async throws {
        try await Self.withParty(upTo: 0) { fixture in
            #expect(throws: CommandError.self) { try fixture.commands.analytics(of: fixture.party, caller: Caller(userId: "alice")) }
            do {
                _ = try fixture.commands.analytics(of: UUID(), caller: Self.admin)
                Issue.record("an unknown party answered")
            } catch let error as CommandError {
                #expect(error.code == .notFound)
            }
        }
    }

    @Test("folded one event at a time or all at once, the read models are the same (rebuild equals live)")
    func rebuildEqualsLive() async throws {
        try await Self.withParty { fixture in
            let other = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-analytics-rebuild-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: other) }
            do {
                let stepwise = try AsyncProjections(directory: other, projectors: PlayheadStore.asyncProjectors)
                let head = try fixture.store.log.head
                for position in 1...head { try fixture.store.log.withReader { _ = try stepwise.catchUp($0, through: position) } }
            }
            try fixture.store.log.withReader { _ = try fixture.store.asyncProjections.catchUp($0) }
            let (_, differences) = try fixture.store.asyncProjections.differences(from: other)
            #expect(differences.isEmpty)
        }
    }
}
