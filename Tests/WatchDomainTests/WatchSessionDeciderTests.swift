import EventLog
import Foundation
import Testing
import WatchDomain

@Suite("Watch-session decisions")
struct WatchSessionDeciderTests {
    let alice = Caller(userId: "alice")
    let start = Timestamp(microsecondsSince1970: 1_672_531_200_000_000)  // 2023-01-01T00:00:00Z

    func at(seconds: Int64) -> Timestamp { Timestamp(microsecondsSince1970: start.microsecondsSince1970 + seconds * 1_000_000) }

    func draft(events: [PlayerEvent] = [], end: Timestamp? = nil, percentage: Double = 50) -> WatchSessionDraft {
        WatchSessionDraft(
            videoId: try! VideoID("video-1"),
            startTime: start,
            endTime: end,
            actualTimeWatchedMillis: 510_000,
            percentageWatched: percentage,
            playerEvents: events
        )
    }

    func field(of body: () throws -> Void) -> String? {
        do {
            try body()
        } catch let error as CommandError {
            return error.field
        } catch {
            return "unexpected \(error)"
        }
        return nil
    }

    @Test("a new session becomes a started event and one event per distinct player event")
    func create() throws {
        let play = PlayerEvent(event: .play, eventTime: start, videoTimeMillis: 0)
        let pause = PlayerEvent(event: .pause, eventTime: at(seconds: 300), videoTimeMillis: 300_000)
        let id = UUID()
        let events = try WatchSessionDecider.create(
            draft(events: [play, pause, play], end: at(seconds: 600)),
            sessionId: id,
            caller: alice,
            userSession: nil,
            videoDurationMillis: 600_000
        )
        #expect(events.map { type(of: $0).eventType } == ["watch-session.started", "watch-session.player-event", "watch-session.player-event"])
        let started = try #require(events.first as? WatchSessionStarted)
        #expect(started.userId == "alice")
        #expect(started.sessionId == id)
        #expect((events.last as? PlayerEventRecorded)?.event == pause)
    }

    @Test("each bad field is refused, naming the field")
    func validation() {
        let userSession = UserSession(sessionId: UUID(), userId: "bob", startedAt: start)
        func create(_ draft: WatchSessionDraft, userSession: UserSession? = nil, length: UInt64? = nil) throws {
            _ = try WatchSessionDecider.create(draft, sessionId: UUID(), caller: alice, userSession: userSession, videoDurationMillis: length)
        }
        #expect(field { try create(draft(end: at(seconds: -1))) } == "endTime")
        #expect(field { try create(draft(percentage: 100.5)) } == "percentageWatched")
        #expect(field { try create(draft(percentage: -1)) } == "percentageWatched")
        #expect(field { try create(draft(percentage: .nan)) } == "percentageWatched")
        let late = PlayerEvent(event: .seek, eventTime: start, videoTimeMillis: 600_001)
        #expect(field { try create(draft(events: [late]), length: 600_000) } == "userEvent[0].videoTime")
        #expect(field { try create(draft(events: [late])) } == nil, "without a known length any position is accepted")
        let many = (0...WatchSessionEvents.maxPlayerEventsPerRequest).map { PlayerEvent(event: .play, eventTime: start, videoTimeMillis: UInt64($0)) }
        #expect(field { try create(draft(events: many)) } == "userEvent")
        var someoneElses = draft()
        someoneElses.userSessionId = userSession.sessionId
        #expect(field { try create(someoneElses, userSession: userSession) } == "userSessionId")
        #expect(field { try create(someoneElses, userSession: nil) } == "userSessionId")
        var guest = someoneElses
        guest.isGuest = true
        #expect(
            field { try create(guest, userSession: UserSession(sessionId: userSession.sessionId, userId: "alice", startedAt: start)) }
                == "userSessionId"
        )
        // The video id is a value checked when parsed, so a decider is never given a bad one.
        #expect(field { _ = try VideoID("a/b") } == "videoId")
        var longMetadata = draft()
        longMetadata.userMetadata.browser = String(repeating: "x", count: WatchSessionEvents.maxMetadataBytes + 1)
        #expect(field { try create(longMetadata) } == "userMetadata.browser")
    }

    @Test("an update records only what changed and the player events not yet recorded")
    func update() throws {
        let id = UUID()
        let started = WatchSessionStarted(
            sessionId: id,
            userId: "alice",
            userSessionId: nil,
            isGuest: false,
            videoId: "video-1",
            startTime: start,
            endTime: nil,
            actualTimeWatchedMillis: 0,
            percentageWatched: 10,
            userMetadata: ClientMetadata()
        )
        let session = WatchSession(started, at: start)
        let known = PlayerEvent(event: .play, eventTime: start, videoTimeMillis: 0)
        let new = PlayerEvent(event: .ended, eventTime: at(seconds: 900), videoTimeMillis: 900_000)
        let events = try WatchSessionDecider.update(
            WatchSessionChanges(endTime: at(seconds: 900), percentageWatched: 10, playerEvents: [known, new, new]),
            session: session,
            sessionId: id,
            caller: alice,
            videoDurationMillis: nil,
            isRecorded: { $0 == known }
        )
        #expect(events.count == 2)
        let updated = try #require(events.first as? WatchSessionUpdated)
        #expect(updated.endTime?.timestamp == at(seconds: 900))
        #expect(updated.percentageWatched == nil, "an unchanged figure is not repeated")
        #expect((events.last as? PlayerEventRecorded)?.event == new)

        let nothing = try WatchSessionDecider.update(
            WatchSessionChanges(percentageWatched: 10, playerEvents: [known]),
            session: session,
            sessionId: id,
            caller: alice,
            videoDurationMillis: nil,
            isRecorded: { $0 == known }
        )
        #expect(nothing.isEmpty)
        #expect(
            field {
                _ = try WatchSessionDecider.update(
                    WatchSessionChanges(endTime: at(seconds: -5)),
                    session: session,
                    sessionId: id,
                    caller: alice,
                    videoDurationMillis: nil,
                    isRecorded: { _ in false }
                )
            } == "endTime"
        )
        #expect(throws: CommandError.self) {
            _ = try WatchSessionDecider.update(
                WatchSessionChanges(),
                session: session,
                sessionId: id,
                caller: Caller(userId: "mallory"),
                videoDurationMillis: nil,
                isRecorded: { _ in false }
            )
        }
        var full = session
        full.playerEventCount = UInt64(WatchSessionEvents.maxPlayerEventsPerSession - 1)
        #expect(
            field {
                _ = try WatchSessionDecider.update(
                    WatchSessionChanges(playerEvents: [new, known]),
                    session: full,
                    sessionId: id,
                    caller: alice,
                    videoDurationMillis: nil,
                    isRecorded: { _ in false }
                )
            } == "userEvent",
            "past the per-session cap"
        )
        #expect(try WatchSessionDecider.delete(session, sessionId: id, caller: Caller(userId: "root", isAdmin: true)).count == 1)
        #expect(throws: CommandError.self) { try WatchSessionDecider.delete(nil, sessionId: id, caller: alice) }
    }

    @Test(
        "timecodes parse and format as HH:MM:SS with an optional fraction",
        arguments: [
            ("00:08:30", UInt64(510_000)), ("1:02:03.25", 3_723_250), ("120:00:00", 432_000_000), ("00:00:00.001", 1),
        ]
    )
    func timecodes(text: String, millis: UInt64) {
        #expect(Timecode.parse(text) == millis)
        #expect(Timecode.parse(Timecode.format(millis)) == millis)
    }

    @Test(
        "malformed timecodes are refused",
        arguments: ["", "8:30", "00:60:00", "00:00:60", "aa:00:00", "00:00:00.", "00:00:00.1234", "10001:00:00", "-1:00:00"]
    )
    func badTimecodes(text: String) {
        #expect(Timecode.parse(text) == nil)
    }
}
