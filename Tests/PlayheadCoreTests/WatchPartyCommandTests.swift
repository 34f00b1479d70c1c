import EventLog
import Foundation
import PlayheadCore
import Projections
import Testing
import WatchDomain

/// The watch-party commands over the in-memory log and views: parties, tickets, purchases,
/// status transitions and the party log, without LMDB or HTTP.
@Suite("Watch party commands")
struct WatchPartyCommandTests {
    let admin = Caller(userId: "root", isAdmin: true)
    let alice = Caller(userId: "alice")
    let bob = Caller(userId: "bob")

    func refusal(_ body: () async throws -> Void) async -> CommandError? {
        do {
            try await body()
        } catch let error as CommandError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
        }
        return nil
    }

    func time(_ core: Core, plusSeconds seconds: Int64) -> Timestamp {
        Timestamp(microsecondsSince1970: core.clock.now.microsecondsSince1970 + seconds * 1_000_000)
    }

    /// A movie of `seconds` in the catalogue, and a party of it from `start` to `end` seconds from now.
    func party(_ core: Core, start: Int64 = 3_600, end: Int64 = 7_200, max: UInt64 = 100, movieSeconds: UInt64 = 5_400) async throws -> WatchParty {
        let movie = try VideoID("film")
        _ = try await core.videoProgress.registerVideo(
            movie,
            durationMillis: movieSeconds * 1_000,
            title: "Film",
            completionThreshold: nil,
            caller: admin,
            correlation: UUID()
        )
        return try await core.watchParties.schedule(
            movieId: movie,
            startTime: time(core, plusSeconds: start),
            endTime: time(core, plusSeconds: end),
            isFeatured: false,
            maxParticipants: max,
            caller: admin,
            correlation: UUID()
        )
    }

    func ticket(_ core: Core) async throws -> Ticket {
        try await core.watchParties.createTicket(
            TicketDefinition(name: "Standard", price: Price(hundredths: 1_250, currency: "EUR"), description: nil, isVoucher: false),
            caller: admin,
            correlation: UUID()
        )
    }

    @Test("scheduling: administrators only, a catalogue movie, an end after the start and in the future")
    func scheduling() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let unknown = await refusal {
                _ = try await commands.schedule(
                    movieId: try VideoID("nope"),
                    startTime: time(core, plusSeconds: 60),
                    endTime: time(core, plusSeconds: 120),
                    isFeatured: false,
                    maxParticipants: 10,
                    caller: admin,
                    correlation: UUID()
                )
            }
            #expect(unknown?.code == .invalid && unknown?.field == "movie_id")
            let created = try await party(core)
            #expect(created.status(at: core.clock.now) == .upcoming)
            #expect(created.schedule.movieDurationMillis == 5_400_000)
            #expect(try commands.party(created.partyId) == created)

            func schedule(_ start: Int64, _ end: Int64, max: UInt64 = 10, caller: Caller? = nil) async -> CommandError? {
                await refusal {
                    _ = try await commands.schedule(
                        movieId: try VideoID("film"),
                        startTime: time(core, plusSeconds: start),
                        endTime: time(core, plusSeconds: end),
                        isFeatured: false,
                        maxParticipants: max,
                        caller: caller ?? admin,
                        correlation: UUID()
                    )
                }
            }
            #expect(await schedule(60, 60)?.field == "end_time", "an end at the start")
            #expect(await schedule(-120, -60)?.field == "end_time", "a party that is over")
            #expect(await schedule(60, 60 + 8 * 86_400)?.field == "end_time", "longer than a week")
            #expect(await schedule(60, 120, max: 0)?.field == "max_participants")
            #expect(await schedule(60, 120, max: WatchPartyEvents.maxParticipantsLimit + 1)?.field == "max_participants")
            #expect(await schedule(60, 120, caller: alice)?.code == .forbidden)
            #expect(core.log.head == 2, "the video and one party: no refusal appended anything")
        }
    }

    @Test("changes: any subset; a started party keeps its start, a finished one changes no more, the limit stays above sales")
    func changes() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let created = try await party(core, max: 3)
            let featured = try await commands.change(created.partyId, PartyChanges(isFeatured: true), caller: admin, correlation: UUID())
            #expect(featured.schedule.isFeatured && featured.schedule.startTime == created.schedule.startTime)
            let head = core.log.head
            _ = try await commands.change(created.partyId, PartyChanges(isFeatured: true), caller: admin, correlation: UUID())
            #expect(core.log.head == head, "a change that changes nothing appends nothing")

            let reversed = await refusal {
                _ = try await commands.change(created.partyId, PartyChanges(endTime: created.startTime), caller: admin, correlation: UUID())
            }
            #expect(reversed?.code == .invalid && reversed?.field == "end_time")

            let ticket = try await ticket(core)
            for buyer in [alice, bob] {
                _ = try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: nil,
                    caller: buyer,
                    correlation: UUID()
                )
            }
            let below = await refusal {
                _ = try await commands.change(created.partyId, PartyChanges(maxParticipants: 1), caller: admin, correlation: UUID())
            }
            #expect(below?.code == .conflict && below?.field == "max_participants")
            #expect(
                try await commands.change(created.partyId, PartyChanges(maxParticipants: 2), caller: admin, correlation: UUID()).schedule
                    .maxParticipants == 2
            )

            core.clock.advance(seconds: 3_000)
            let inLobby = await refusal {
                _ = try await commands.change(
                    created.partyId,
                    PartyChanges(startTime: time(core, plusSeconds: 3_000)),
                    caller: admin,
                    correlation: UUID()
                )
            }
            #expect(inLobby?.code == .conflict && inLobby?.field == "start_time", "the room is open: the start stays")
            let otherMovie = try VideoID("other")
            _ = try await core.videoProgress.registerVideo(
                otherMovie,
                durationMillis: 60_000,
                title: nil,
                completionThreshold: nil,
                caller: admin,
                correlation: UUID()
            )
            let movieInLobby = await refusal {
                _ = try await commands.change(created.partyId, PartyChanges(movieId: otherMovie), caller: admin, correlation: UUID())
            }
            #expect(movieInLobby?.code == .conflict && movieInLobby?.field == "movie_id", "the room is open: the movie stays")
            core.clock.advance(seconds: 700)
            let moved = await refusal {
                _ = try await commands.change(
                    created.partyId,
                    PartyChanges(startTime: time(core, plusSeconds: 60)),
                    caller: admin,
                    correlation: UUID()
                )
            }
            #expect(moved?.code == .conflict && moved?.field == "start_time")
            let longer = try await commands.change(
                created.partyId,
                PartyChanges(endTime: time(core, plusSeconds: 7_200)),
                caller: admin,
                correlation: UUID()
            )
            #expect(longer.status(at: core.clock.now) == .ongoing)

            core.clock.advance(seconds: 7_300)
            let finished = await refusal {
                _ = try await commands.change(created.partyId, PartyChanges(isFeatured: false), caller: admin, correlation: UUID())
            }
            #expect(finished?.code == .conflict && finished?.field == "is_featured")
            #expect(await refusal { _ = try await commands.change(UUID(), PartyChanges(), caller: admin, correlation: UUID()) }?.code == .notFound)
            #expect(
                await refusal { _ = try await commands.change(created.partyId, PartyChanges(), caller: alice, correlation: UUID()) }?.code
                    == .forbidden
            )
        }
    }

    @Test("purchases: one per user and party, never beyond max_participants however many buy at once")
    func purchases() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let created = try await party(core, max: 10)
            let ticket = try await ticket(core)
            // 64 buyers at once for 10 seats: the writer decides each against the batch's views.
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        do {
                            let outcome = try await commands.purchase(
                                partyId: created.partyId,
                                ticketId: ticket.ticketId,
                                idempotencyKey: nil,
                                caller: Caller(userId: "buyer-\(index)"),
                                correlation: UUID()
                            )
                            guard case .purchased = outcome else { return "other" }
                            return "sold"
                        } catch let error as CommandError where error.code == .conflict {
                            return "sold out"
                        }
                    }
                }
                var outcomes: [String: Int] = [:]
                for try await outcome in group { outcomes[outcome, default: 0] += 1 }
                return outcomes
            }
            #expect(outcomes == ["sold": 10, "sold out": 54])
            #expect(try commands.party(created.partyId).ticketsSold == 10)
            #expect(try commands.purchases(of: created.partyId, limit: 100, offset: 0, caller: admin).count == 10)
            #expect(await refusal { _ = try commands.purchases(of: created.partyId, limit: 10, offset: 0, caller: alice) }?.code == .forbidden)
        }
    }

    @Test("a second purchase answers the first; a retry with its Idempotency-Key answers it as new")
    func repeatedPurchase() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let created = try await party(core)
            let ticket = try await ticket(core)
            let first = try await commands.purchase(
                partyId: created.partyId,
                ticketId: ticket.ticketId,
                idempotencyKey: "k1",
                caller: alice,
                correlation: UUID()
            )
            guard case .purchased(let purchase) = first else {
                Issue.record("not purchased: \(first)")
                return
            }
            #expect(purchase.userId == "alice" && purchase.ticketId == ticket.ticketId)
            let head = core.log.head
            #expect(
                try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: "k1",
                    caller: alice,
                    correlation: UUID()
                ) == .retried(purchase)
            )
            #expect(
                try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: nil,
                    caller: alice,
                    correlation: UUID()
                ) == .alreadyBought(purchase)
            )
            #expect(
                try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: "k2",
                    caller: alice,
                    correlation: UUID()
                ) == .alreadyBought(purchase)
            )
            let otherTicket = try await self.ticket(core)
            let reusedKey = await refusal {
                _ = try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: otherTicket.ticketId,
                    idempotencyKey: "k1",
                    caller: alice,
                    correlation: UUID()
                )
            }
            #expect(reusedKey?.code == .conflict && reusedKey?.field == "Idempotency-Key", "the same key for another ticket is no retry")
            let nonASCII = await refusal {
                _ = try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: "cl\u{E9}",
                    caller: bob,
                    correlation: UUID()
                )
            }
            #expect(nonASCII?.code == .invalid && nonASCII?.field == "Idempotency-Key")
            #expect(core.log.head == head + 1, "none of them appended anything (the second ticket did)")
            #expect(try commands.purchases(of: alice).map(\.purchase) == [purchase])

            let noTicket = await refusal {
                _ = try await commands.purchase(partyId: created.partyId, ticketId: UUID(), idempotencyKey: nil, caller: bob, correlation: UUID())
            }
            #expect(noTicket?.code == .notFound)
            let noParty = await refusal {
                _ = try await commands.purchase(partyId: UUID(), ticketId: ticket.ticketId, idempotencyKey: nil, caller: bob, correlation: UUID())
            }
            #expect(noParty?.code == .notFound)
            let longKey = String(repeating: "k", count: WatchPartyEvents.maxIdempotencyKeyBytes + 1)
            let badKey = await refusal {
                _ = try await commands.purchase(
                    partyId: created.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: longKey,
                    caller: bob,
                    correlation: UUID()
                )
            }
            #expect(badKey?.code == .invalid && badKey?.field == "Idempotency-Key")
        }
    }

    @Test("a cancelled or finished party sells nothing; cancelling twice changes nothing; a finished party can't be cancelled")
    func cancelAndFinish() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let ticket = try await ticket(core)
            let cancelled = try await party(core)
            let once = try await commands.cancel(cancelled.partyId, caller: admin, correlation: UUID())
            #expect(once.status(at: core.clock.now) == .cancelled)
            let head = core.log.head
            #expect(try await commands.cancel(cancelled.partyId, caller: admin, correlation: UUID()) == once)
            #expect(core.log.head == head)
            let sale = await refusal {
                _ = try await commands.purchase(
                    partyId: cancelled.partyId,
                    ticketId: ticket.ticketId,
                    idempotencyKey: nil,
                    caller: alice,
                    correlation: UUID()
                )
            }
            #expect(sale?.code == .conflict)
            core.clock.advance(seconds: 4_000)
            #expect(try commands.party(cancelled.partyId).status(at: core.clock.now) == .cancelled, "a cancelled party is never ongoing")

            let short = try await party(core, start: 10, end: 20)
            core.clock.advance(seconds: 30)
            #expect(
                await refusal {
                    _ = try await commands.purchase(
                        partyId: short.partyId,
                        ticketId: ticket.ticketId,
                        idempotencyKey: nil,
                        caller: alice,
                        correlation: UUID()
                    )
                }?.code == .conflict
            )
            #expect(await refusal { _ = try await commands.cancel(short.partyId, caller: admin, correlation: UUID()) }?.code == .conflict)
        }
    }

    @Test("status transitions are appended once each, also for a party whose whole life passed unseen")
    func transitions() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let soon = try await party(core, start: 60, end: 120)
            let later = try await party(core, start: 600, end: 1_200)
            let cancelled = try await party(core, start: 30, end: 90)
            _ = try await commands.cancel(cancelled.partyId, caller: admin, correlation: UUID())
            #expect(try await commands.advanceStatuses() == 0)
            #expect(try commands.nextTransition() == soon.startTime)

            // The server was down through `soon`'s whole life and `later`'s start.
            core.clock.advance(seconds: 700)
            #expect(try await commands.advanceStatuses() == 3)
            #expect(try await commands.advanceStatuses() == 0, "nothing twice")
            // A clock that jumps back logs nothing again.
            #expect(try await commands.advanceStatuses(now: Timestamp(microsecondsSince1970: 0)) == 0)

            let types = try await core.log.events(from: 1, direction: .forward, limit: 100).map(\.type)
            #expect(types.filter { $0 == WatchPartyStarted.eventType }.count == 2)
            #expect(types.filter { $0 == WatchPartyFinished.eventType }.count == 1)
            let soonNow = try commands.party(soon.partyId)
            #expect(soonNow.startLogged && soonNow.endLogged && soonNow.status(at: core.clock.now) == .finished)
            #expect(soonNow.status(at: Timestamp(microsecondsSince1970: 0)) == .finished, "a logged end stands when the clock jumps back")
            #expect(try commands.party(later.partyId).status(at: core.clock.now) == .ongoing)
            #expect(try commands.nextTransition() == later.endTime)
            #expect(try commands.party(cancelled.partyId).startLogged == false)
        }
    }

    @Test("the party log: ticket holders in the room, event and video times that follow pauses and seeks, pages by cursor")
    func partyLog() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let created = try await party(core, start: 1_200, end: 9_000, max: 1)
            let ticket = try await ticket(core)
            _ = try await commands.purchase(
                partyId: created.partyId,
                ticketId: ticket.ticketId,
                idempotencyKey: nil,
                caller: alice,
                correlation: UUID()
            )
            let aliceId = try UserID("alice")
            func log(
                _ type: PartyLogEventType,
                user: UserID? = nil,
                as caller: Caller? = nil,
                message: String? = nil,
                videoTime: UInt64? = nil,
                username: String? = nil
            ) async throws -> PartyLogEntry {
                try await commands.log(
                    WatchPartyDecider.LogRequest(
                        userId: user ?? aliceId,
                        eventType: type,
                        username: username,
                        message: message,
                        videoTimeMillis: videoTime
                    ),
                    in: created.partyId,
                    caller: caller ?? alice,
                    correlation: UUID()
                )
            }
            // Each refusal through one helper, not a closure per call: in this function, Swift
            // 6.3.1 ran an earlier `refusal { … }` closure in place of a later one.
            func refused(
                _ type: PartyLogEventType,
                user: UserID? = nil,
                as caller: Caller? = nil,
                message: String? = nil,
                videoTime: UInt64? = nil
            ) async -> CommandError? {
                do {
                    let entry = try await log(type, user: user, as: caller, message: message, videoTime: videoTime)
                    Issue.record("appended \(entry)")
                } catch let error as CommandError {
                    return error
                } catch {
                    Issue.record("unexpected \(error)")
                }
                return nil
            }
            let early = await refused(.join)
            #expect(early?.code == .conflict, "the room opens 15 minutes before the start")
            core.clock.advance(seconds: 300)
            #expect(await refused(.message, message: "hi")?.code == .conflict, "join first")
            let join = try await log(.join, username: "Alice")
            #expect(join.eventTimeMillis == -900_000 && join.videoTimeMillis == 0, "the lobby: before the start, the film at 0")
            #expect(await refused(.join, user: try UserID("bob"), as: bob)?.code == .forbidden, "bob has no ticket")
            #expect(await refused(.join, user: try UserID("bob"), as: admin)?.code == .conflict, "the room holds one")
            #expect(try await log(.join, username: "Alice again").eventType == .join, "a second device of the same user joins")

            core.clock.advance(seconds: 1_000)  // 100 s into the party: the screening plays from the start.
            let message = try await log(.message, message: "line one\nline two")
            #expect(message.eventTimeMillis == 100_000 && message.videoTimeMillis == 100_000)
            let pause = try await log(.pause)
            #expect(pause.videoTimeMillis == 100_000)
            core.clock.advance(seconds: 50)
            #expect(try await log(.message, message: "paused").videoTimeMillis == 100_000, "paused: the film did not move")
            let seek = try await log(.seek, videoTime: 1_000_000)
            #expect(seek.videoTimeMillis == 1_000_000 && seek.eventTimeMillis == 150_000)
            _ = try await log(.play)
            core.clock.advance(seconds: 10)
            #expect(try await log(.message, message: "after").videoTimeMillis == 1_010_000)

            let badSeek = await refused(.seek, videoTime: 5_400_001)
            #expect(badSeek?.code == .invalid && badSeek?.field == "videoTime")
            let control = await refused(.message, message: "bell\u{7}")
            #expect(control?.code == .invalid && control?.field == "message")
            let long = await refused(.message, message: String(repeating: "é", count: WatchPartyEvents.maxMessageCharacters + 1))
            #expect(long?.field == "message")

            var pages: [[PartyLogEntry]] = []
            var cursor: PartyLogCursor?
            repeat {
                let page = try commands.log(of: created.partyId, filter: PartyLogFilter(), after: cursor, limit: 3, caller: alice)
                pages.append(page.entries)
                cursor = page.next
            } while cursor != nil
            #expect(pages.map(\.count) == [3, 3, 2])
            let all = pages.flatMap { $0 }
            #expect(all.map(\.eventType) == [.join, .join, .message, .pause, .message, .seek, .play, .message])
            #expect(all == all.sorted { ($0.eventTimeMillis, $0.position) < ($1.eventTimeMillis, $1.position) })
            let messages = try commands.log(
                of: created.partyId,
                filter: PartyLogFilter(eventType: .message, fromMillis: 0, toMillis: 150_001),
                after: nil,
                limit: 10,
                caller: admin
            )
            #expect(messages.entries.map(\.message) == ["line one\nline two", "paused"] && messages.next == nil)
            #expect(
                await refusal { _ = try commands.log(of: created.partyId, filter: PartyLogFilter(), after: nil, limit: 10, caller: bob) }?.code
                    == .forbidden
            )

            #expect(try commands.party(created.partyId).participantsOnline == 1)
            _ = try await log(.leave)
            #expect(try commands.party(created.partyId).participantsOnline == 1, "one device is still in the room")
            _ = try await log(.leave)
            #expect(try commands.party(created.partyId).participantsOnline == 0)
            #expect(await refused(.leave)?.code == .conflict)
        }
    }

    @Test("tickets: administrators create and change them, with a checked price")
    func tickets() async throws {
        try await Core.run { core in
            let commands = core.watchParties
            let created = try await ticket(core)
            #expect(created.definition.price.amountText == "12.50")
            var definition = created.definition
            definition.isVoucher = true
            #expect(try await commands.changeTicket(created.ticketId, definition, caller: admin, correlation: UUID()).definition.isVoucher)
            #expect(try commands.tickets(limit: 10, offset: 0).map(\.ticketId) == [created.ticketId])
            definition.price = Price(hundredths: 1, currency: "eur")
            let badPrice = await refusal { _ = try await commands.changeTicket(created.ticketId, definition, caller: admin, correlation: UUID()) }
            #expect(badPrice?.field == "price")
            let forbidden = await refusal { _ = try await commands.createTicket(created.definition, caller: alice, correlation: UUID()) }
            #expect(forbidden?.code == .forbidden)
            #expect(Price(amount: "12.5", currency: "EUR")?.hundredths == 1_250)
            #expect(Price(amount: "0.05", currency: "USD")?.amountText == "0.05")
            for bad in ["12.505", "-1", "1e3", "", ".5", "1000000.01"] { #expect(Price(amount: bad, currency: "EUR") == nil, "\(bad)") }
        }
    }
}
