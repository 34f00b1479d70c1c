import EventLog
import Foundation
import Testing
import WatchDomain

/// The watch-party decider and the party's derived values, pure: no log, no views.
@Suite("Watch party decisions")
struct WatchPartyDeciderTests {
    static let start = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)
    let admin = Caller(userId: "root", isAdmin: true)
    let alice = Caller(userId: "alice")

    func seconds(_ value: Int64) -> Timestamp { Timestamp(microsecondsSince1970: Self.start.microsecondsSince1970 + value * 1_000_000) }

    func party(max: UInt64 = 2, sold: UInt64 = 0, online: UInt64 = 0) -> WatchParty {
        var party = WatchParty(
            WatchPartyScheduled(
                partyId: UUID(),
                schedule: PartySchedule(
                    movieId: "film",
                    movieDurationMillis: 600_000,
                    startTime: Self.start,
                    endTime: seconds(3_600),
                    isFeatured: false,
                    maxParticipants: max
                )
            ),
            at: seconds(-86_400)
        )
        party.ticketsSold = sold
        party.participantsOnline = online
        return party
    }

    func code(_ body: () throws -> Void) -> (CommandError.Code, String?)? {
        do {
            try body()
            return nil
        } catch let error as CommandError {
            return (error.code, error.field)
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test("status follows the clock at each boundary, and cancellation overrides it")
    func status() {
        var party = party()
        #expect(party.status(at: seconds(-1)) == .upcoming)
        #expect(party.status(at: Self.start) == .ongoing)
        #expect(party.status(at: seconds(3_599)) == .ongoing)
        #expect(party.status(at: seconds(3_600)) == .finished)
        party.cancelledAt = seconds(-10)
        #expect(party.status(at: seconds(100)) == .cancelled)
        #expect(WatchPartyDecider.transitions(of: party, now: seconds(4_000)).isEmpty)
    }

    @Test("transitions: the start, the end, both at once, and none twice")
    func transitions() {
        var party = party()
        #expect(WatchPartyDecider.transitions(of: party, now: seconds(-1)).isEmpty)
        #expect(WatchPartyDecider.transitions(of: party, now: Self.start).map { type(of: $0).eventType } == [WatchPartyStarted.eventType])
        #expect(
            WatchPartyDecider.transitions(of: party, now: seconds(3_600)).map { type(of: $0).eventType }
                == [WatchPartyStarted.eventType, WatchPartyFinished.eventType]
        )
        party.startLogged = true
        party.endLogged = true
        #expect(WatchPartyDecider.transitions(of: party, now: seconds(10_000)).isEmpty)
    }

    @Test("purchase: not found, sold out, finished, cancelled, again, and retried")
    func purchase() throws {
        let ticket = Ticket(
            ticketId: UUID(),
            definition: TicketDefinition(name: "T", price: Price(hundredths: 100, currency: "EUR"), description: nil, isVoucher: false),
            createdAt: Self.start,
            updatedAt: Self.start
        )
        func decide(
            _ party: WatchParty?,
            ticket: Ticket?,
            existing: TicketPurchase? = nil,
            key: String? = nil,
            now: Timestamp? = nil
        ) throws(CommandError) -> PurchaseDecision {
            try WatchPartyDecider.purchase(
                party: party,
                partyId: party?.partyId ?? UUID(),
                ticket: ticket,
                ticketId: ticket?.ticketId ?? UUID(),
                existing: existing,
                caller: alice,
                idempotencyKey: key,
                now: now ?? seconds(-60),
                newId: { UUID() }
            )
        }
        #expect(code { _ = try decide(nil, ticket: ticket) }?.0 == .notFound)
        #expect(code { _ = try decide(party(), ticket: nil) }?.0 == .notFound)
        #expect(code { _ = try decide(party(max: 2, sold: 2), ticket: ticket) }?.0 == .conflict)
        #expect(code { _ = try decide(party(), ticket: ticket, now: seconds(3_600)) }?.0 == .conflict)
        var cancelled = party()
        cancelled.cancelledAt = Self.start
        #expect(code { _ = try decide(cancelled, ticket: ticket) }?.0 == .conflict)
        guard case .purchase(let event) = try decide(party(max: 2, sold: 1), ticket: ticket, key: "k") else {
            Issue.record("no purchase")
            return
        }
        #expect(event.userId == "alice" && event.idempotencyKey == "k")
        let existing = TicketPurchase(event, at: Self.start)
        #expect(
            try decide(party(max: 2, sold: 2), ticket: ticket, existing: existing, key: "k") == .retried(existing),
            "a retry answers even when sold out"
        )
        #expect(try decide(party(), ticket: ticket, existing: existing, key: "other") == .alreadyBought(existing))
        #expect(try decide(party(), ticket: ticket, existing: existing) == .alreadyBought(existing))
    }

    @Test("the party log: the room's window, tickets, capacity, and each entry's fields")
    func log() {
        let party = party(max: 1, online: 1)
        func decide(
            _ type: PartyLogEventType,
            holds: Bool = true,
            online: Bool = true,
            caller: Caller? = nil,
            at now: Timestamp? = nil,
            message: String? = nil,
            videoTime: UInt64? = nil,
            username: String? = nil
        ) -> (CommandError.Code, String?)? {
            code {
                _ = try WatchPartyDecider.log(
                    .init(userId: try UserID("alice"), eventType: type, username: username, message: message, videoTimeMillis: videoTime),
                    party: party,
                    partyId: party.partyId,
                    holdsTicket: holds,
                    isOnline: online,
                    caller: caller ?? alice,
                    now: now ?? seconds(10),
                    newId: { UUID() }
                )
            }
        }
        #expect(decide(.message, message: "hi") == nil)
        #expect(decide(.join, at: seconds(-900)) == nil, "the lobby opens 15 minutes before")
        #expect(decide(.join, at: seconds(-901))?.0 == .conflict)
        #expect(decide(.join, at: seconds(3_600))?.0 == .conflict, "finished")
        #expect(decide(.join, online: false)?.0 == .conflict, "full: one online of one")
        #expect(decide(.join, online: true) == nil, "another device of a user already in the room")
        #expect(decide(.message, online: false, message: "hi")?.0 == .conflict, "join first")
        #expect(decide(.join, holds: false)?.0 == .forbidden)
        #expect(decide(.join, holds: false, caller: admin) == nil)
        #expect(decide(.join, caller: Caller(userId: "bob"))! == (.forbidden, "userId"))
        #expect(decide(.message)! == (.invalid, "message"))
        #expect(decide(.message, message: String(repeating: "é", count: WatchPartyEvents.maxMessageCharacters + 1))?.1 == "message")
        #expect(decide(.message, message: String(repeating: "é", count: WatchPartyEvents.maxMessageCharacters)) == nil)
        #expect(decide(.message, message: "a\u{1B}[31m")! == (.invalid, "message"))
        #expect(decide(.join, message: "hi")! == (.invalid, "message"))
        #expect(decide(.seek)! == (.invalid, "videoTime"))
        #expect(decide(.seek, videoTime: 600_001)! == (.invalid, "videoTime"), "past the movie's end")
        #expect(decide(.message, message: "hi", videoTime: 1)! == (.invalid, "videoTime"))
        #expect(decide(.leave, username: "A")! == (.invalid, "username"))
        #expect(decide(.join, username: String(repeating: "x", count: 101))! == (.invalid, "username"))
    }

    @Test("event and video times: negative in the lobby (floored to the millisecond), playing from the start, held by a pause, moved by a seek")
    func times() {
        var party = party()
        let id = party.partyId
        func entry(_ type: PartyLogEventType, at time: Timestamp, videoTime: UInt64? = nil) -> PartyLogEntry {
            party.logEntry(PartyLogged(entryId: UUID(), partyId: id, userId: "a", eventType: type, videoTimeMillis: videoTime), at: time, position: 1)
        }
        let lobby = entry(.join, at: Timestamp(microsecondsSince1970: Self.start.microsecondsSince1970 - 1_500))
        #expect(lobby.eventTimeMillis == -2 && lobby.videoTimeMillis == 0 && !lobby.playing, "paused in the lobby")
        #expect(entry(.message, at: seconds(30)).videoTimeMillis == 30_000)
        #expect(entry(.message, at: seconds(30)).playing, "playing from the start")
        #expect(entry(.message, at: seconds(10_000)).videoTimeMillis == 600_000, "never past the movie's end")
        let pause = entry(.pause, at: seconds(40))
        #expect(!pause.playing)
        party.player = party.player(after: pause)
        #expect(entry(.message, at: seconds(100)).videoTimeMillis == 40_000 && !entry(.message, at: seconds(100)).playing)
        let seek = entry(.seek, at: seconds(100), videoTime: 5_000)
        #expect(!seek.playing && seek.playerState == PlayerState(playing: false, videoTimeMillis: 5_000, since: seconds(100)))
        party.player = party.player(after: seek)
        #expect(party.player?.playing == false, "a seek keeps the film paused")
        #expect(entry(.message, at: seconds(200)).videoTimeMillis == 5_000)
        let play = entry(.play, at: seconds(200))
        #expect(play.playing)
        party.player = party.player(after: play)
        #expect(entry(.message, at: seconds(210)).videoTimeMillis == 15_000)
        #expect(entry(.seek, at: seconds(220), videoTime: 1_000).playing, "a seek keeps the film playing")
    }
}
