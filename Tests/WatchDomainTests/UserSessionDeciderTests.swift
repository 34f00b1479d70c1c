import EventLog
import Foundation
import Testing
import WatchDomain

@Suite("User-session decisions")
struct UserSessionDeciderTests {
    let alice = Caller(userId: "alice")
    let start = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)
    let hour = Duration.seconds(3600)

    func session(lastActive offset: Duration = .zero, status: UserSession.Status = .active, renewedBy: UUID? = nil) -> UserSession {
        UserSession(
            sessionId: UUID(),
            userId: "alice",
            startedAt: start,
            lastActiveAt: Timestamp(microsecondsSince1970: start.microsecondsSince1970 + offset.microseconds),
            status: status,
            renewedBy: renewedBy
        )
    }

    func at(_ offset: Duration) -> Timestamp { Timestamp(microsecondsSince1970: start.microsecondsSince1970 + offset.microseconds) }

    @Test("within the timeout (inclusive) a heartbeat keeps the session active")
    func active() throws {
        let row = session()
        let (events, outcome) = try UserSessionDecider.heartbeat(
            row,
            sessionId: row.sessionId,
            caller: alice,
            now: at(hour),
            timeout: hour,
            newSessionId: {
                Issue.record("an active session needs no new id")
                return UUID()
            }
        )
        #expect(outcome == .active)
        #expect(events.map { type(of: $0).eventType } == [UserSessionHeartbeat.eventType])
    }

    @Test("past the timeout the session expires and a renewal replaces it")
    func renewed() throws {
        let row = session()
        let newId = UUID()
        let (events, outcome) = try UserSessionDecider.heartbeat(
            row,
            sessionId: row.sessionId,
            caller: alice,
            now: at(hour + .microseconds(1)),
            timeout: hour,
            newSessionId: { newId }
        )
        #expect(outcome == .renewed(newSessionId: newId))
        let expired = try #require(events.first as? UserSessionExpired)
        #expect(expired.renewedBy == newId && expired.lastActiveAt == row.lastActiveAt)
        let renewal = try #require(events.last as? UserSessionRenewed)
        #expect(renewal.previousSessionId == row.sessionId && renewal.userId == "alice" && renewal.sessionId == newId)
    }

    @Test("a retried heartbeat on a renewed session answers the same renewal, appending nothing")
    func retriedRenewal() throws {
        let newId = UUID()
        let row = session(status: .expired, renewedBy: newId)
        let (events, outcome) = try UserSessionDecider.heartbeat(
            row,
            sessionId: row.sessionId,
            caller: alice,
            now: at(.seconds(5000)),
            timeout: hour,
            newSessionId: { UUID() }
        )
        #expect(events.isEmpty)
        #expect(outcome == .renewed(newSessionId: newId))
    }

    @Test("a session its user ended answers expired: the client must log in again")
    func ended() throws {
        let row = session(status: .ended)
        let (events, outcome) = try UserSessionDecider.heartbeat(
            row,
            sessionId: row.sessionId,
            caller: alice,
            now: at(.seconds(1)),
            timeout: hour,
            newSessionId: { UUID() }
        )
        #expect(events.isEmpty && outcome == .expired)
    }

    @Test("someone else's session is not found, and neither is a missing one; an administrator may act")
    func ownership() throws {
        let row = session()
        #expect(throws: CommandError.self) {
            try UserSessionDecider.heartbeat(
                row,
                sessionId: row.sessionId,
                caller: Caller(userId: "bob"),
                now: at(.zero),
                timeout: hour,
                newSessionId: { UUID() }
            )
        }
        #expect(throws: CommandError.self) {
            try UserSessionDecider.end(nil, sessionId: UUID(), caller: alice)
        }
        let (events, _) = try UserSessionDecider.end(row, sessionId: row.sessionId, caller: Caller(userId: "root", isAdmin: true))
        #expect(events.count == 1)
    }

    @Test("ending twice appends once")
    func endTwice() throws {
        let row = session()
        #expect(try UserSessionDecider.end(row, sessionId: row.sessionId, caller: alice).outcome == .ended)
        var closed = row
        closed.status = .ended
        let again = try UserSessionDecider.end(closed, sessionId: row.sessionId, caller: alice)
        #expect(again.events.isEmpty && again.outcome == .alreadyClosed(.ended))
    }

    @Test("engagement: an event only on change, refused once the session is no longer active")
    func engagement() throws {
        let row = session()
        #expect(try UserSessionDecider.setEngaged(true, row, sessionId: row.sessionId, caller: alice, now: at(.zero), timeout: hour).count == 1)
        #expect(try UserSessionDecider.setEngaged(false, row, sessionId: row.sessionId, caller: alice, now: at(.zero), timeout: hour).isEmpty)
        let error = #expect(throws: CommandError.self) {
            try UserSessionDecider.setEngaged(true, row, sessionId: row.sessionId, caller: alice, now: at(hour * 2), timeout: hour)
        }
        #expect(error?.code == .conflict)
    }

    @Test("a session row round-trips through its stored form")
    func rowCodec() throws {
        var row = session(lastActive: .seconds(30))
        row.contentEngaged = true
        row.closedAt = at(.seconds(40))
        row.renewedFrom = UUID()
        row.heartbeats = 12
        row.userAgent = "agent"
        let bytes = row.encoded()
        #expect(try bytes.withUnsafeBytes { try UserSession(decoding: $0) } == row)
        #expect(row.duration == .seconds(30))
    }
}

@Suite("Ownership")
struct OwnershipTests {
    @Test("user ids are compared byte for byte: another encoding of the same text is another user")
    func bytewise() {
        let precomposed = "jos\u{E9}"
        let decomposed = "jose\u{301}"
        #expect(precomposed == decomposed)  // String equality is canonical equivalence…
        #expect(!Caller(userId: decomposed).mayAccess(precomposed))  // …ownership is not.
        #expect(Caller(userId: precomposed).mayAccess(precomposed))
        #expect(Caller(userId: decomposed, isAdmin: true).mayAccess(precomposed))
    }

    @Test("a long user agent is cut at a character boundary")
    func userAgent() {
        let agent = String(repeating: "é", count: 200)
        let kept = UserSessionEvents.truncatedUserAgent(agent)
        #expect(kept.utf8.count <= UserSessionEvents.maxUserAgentBytes)
        #expect(kept.count == 128)
        #expect(UserSessionDecider.start(sessionId: UUID(), userId: "u", userAgent: agent).userAgent == kept)
        #expect(throws: DomainCodecError.self) { try UserSessionStarted(sessionId: UUID(), userId: "u", userAgent: agent).validate() }
        #expect(throws: DomainCodecError.self) { try UserSessionStarted(sessionId: UUID(), userId: "").validate() }
    }
}
