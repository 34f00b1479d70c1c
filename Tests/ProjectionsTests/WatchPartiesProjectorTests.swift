import EventLog
import Foundation
import Projections
import Testing
import Views
import WatchDomain

/// The `watch-parties` projector folding events straight from a log, as an import or a
/// rebuild feeds it: what no command would append must not corrupt the read models.
@Suite("Watch-party projection")
struct WatchPartiesProjectorTests {
    static let start = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)

    func schedule(_ id: UUID, max: UInt64 = 2) -> WatchPartyScheduled {
        WatchPartyScheduled(
            partyId: id,
            schedule: PartySchedule(
                movieId: "film",
                movieDurationMillis: 60_000,
                startTime: Self.start,
                endTime: Timestamp(microsecondsSince1970: Self.start.microsecondsSince1970 + 3_600_000_000),
                isFeatured: false,
                maxParticipants: max
            )
        )
    }

    func append(_ store: MemoryStore, _ events: [any DomainEvent]) async throws {
        _ = try await store.log.append(AppendRequest(events: events.map { $0.proposed(actor: "import") }))
    }

    @Test("a second purchase of one user, and events of unknown parties, change nothing")
    func doctoredEvents() async throws {
        let store = MemoryStore(clock: { Self.start })
        let party = UUID()
        let queries = WatchPartyQueries(store.committed)
        try await append(store, [schedule(party)])
        let first = TicketPurchased(purchaseId: UUID(), partyId: party, ticketId: UUID(), userId: "alice", idempotencyKey: nil)
        try await append(store, [first])
        try await append(store, [TicketPurchased(purchaseId: UUID(), partyId: party, ticketId: UUID(), userId: "alice", idempotencyKey: nil)])
        try await append(store, [TicketPurchased(purchaseId: UUID(), partyId: UUID(), ticketId: UUID(), userId: "bob", idempotencyKey: nil)])
        try await append(store, [PartyLogged(entryId: UUID(), partyId: UUID(), userId: "bob", eventType: .join)])
        try await append(store, [WatchPartyScheduled(partyId: party, schedule: schedule(party, max: 9).schedule)])

        let row = try #require(try queries.party(party))
        #expect(row.ticketsSold == 1 && row.schedule.maxParticipants == 2, "the first scheduling and purchase hold")
        #expect(try queries.purchase(party: party, user: "alice")?.purchaseId == first.purchaseId)
        #expect(try queries.purchases(user: "bob").isEmpty)
        #expect(try queries.parties(PartyFilter(), now: Self.start, limit: 10, offset: 0).map(\.partyId) == [party])
    }

    @Test("a leave without a join keeps the count at zero; the `due` index follows changes and cancellation")
    func onlineAndDue() async throws {
        let store = MemoryStore(clock: { Self.start })
        let party = UUID()
        let queries = WatchPartyQueries(store.committed)
        try await append(store, [schedule(party)])
        try await append(store, [PartyLogged(entryId: UUID(), partyId: party, userId: "alice", eventType: .leave)])
        #expect(try queries.party(party)?.participantsOnline == 0)
        #expect(try queries.nextDue() == Self.start)
        var later = schedule(party).schedule
        later.startTime = UTCTime(Timestamp(microsecondsSince1970: Self.start.microsecondsSince1970 + 60_000_000))
        try await append(store, [WatchPartyChanged(partyId: party, schedule: later)])
        #expect(try queries.nextDue() == later.startTime.timestamp, "the old start is no longer due")
        #expect(try queries.due(at: Self.start, limit: 10).isEmpty)
        try await append(store, [WatchPartyStarted(partyId: party, startTime: later.startTime.timestamp)])
        #expect(try queries.nextDue() == later.endTime.timestamp)
        try await append(store, [WatchPartyCancelled(partyId: party)])
        #expect(try queries.nextDue() == nil, "a cancelled party has nothing due")
    }

    @Test("what a rejoining member missed: the entries after a known one and before a position, in log order; an entry of another party is none")
    func missedEntries() async throws {
        let store = MemoryStore(clock: { Self.start })
        let party = UUID()
        let other = UUID()
        let queries = WatchPartyQueries(store.committed)
        try await append(store, [schedule(party), schedule(other)])
        let ids = (0..<6).map { _ in UUID() }
        for (index, id) in ids.enumerated() {
            let type: PartyLogEventType = index == 0 ? .join : index == 3 ? .seek : .message
            try await append(
                store,
                [
                    PartyLogged(
                        entryId: id,
                        partyId: party,
                        userId: "alice",
                        eventType: type,
                        message: type == .message ? "m\(index)" : nil,
                        videoTimeMillis: type == .seek ? 9_000 : nil
                    )
                ]
            )
        }
        let otherEntry = UUID()
        try await append(store, [PartyLogged(entryId: otherEntry, partyId: other, userId: "bob", eventType: .join)])
        let all = try queries.log(party: party, filter: PartyLogFilter(), after: nil, limit: 10).entries
        #expect(all.map(\.entryId) == ids)
        let missed = try #require(try queries.entries(party: party, after: ids[1], before: all[5].position))
        #expect(missed.map(\.entryId) == Array(ids[2..<5]), "after the known entry, before the rejoin")
        #expect(try queries.entries(party: party, after: ids[5], before: .max)?.isEmpty == true)
        #expect(try queries.entries(party: party, after: otherEntry, before: .max) == nil, "another party's entry")
        #expect(try queries.entries(party: party, after: UUID(), before: .max) == nil)
        #expect(try queries.entries(party: party, after: ids[0], before: .max, limit: 2)?.map(\.entryId) == Array(ids[1...2]), "at most the limit")
        // Who is online everywhere: alice joined once in `party`, bob once in `other`.
        let online = try queries.connectionsOnline().map { "\($0.party == party ? "party" : "other") \($0.user) \($0.connections)" }
        #expect(online.sorted() == ["other bob 1", "party alice 1"])
        // The entries keep the film's state: recorded at the start, playing; the seek moved it.
        #expect(missed.allSatisfy(\.playing) && missed[1].videoTimeMillis == 9_000)
    }

    @Test("log cursors round-trip as 22-character tokens, and other text is no cursor")
    func cursorTokens() {
        for (time, position) in [(Int64(-900_000), UInt64(1)), (0, 0), (Int64.max, UInt64.max), (Int64.min, 42)] {
            let cursor = PartyLogCursor(eventTimeMillis: time, position: position)
            #expect(cursor.token.utf8.count == 22)
            #expect(PartyLogCursor(token: cursor.token) == cursor)
        }
        for bad in ["", "abc", String(repeating: "A", count: 23), String(repeating: "+", count: 22)] {
            #expect(PartyLogCursor(token: bad) == nil, "\(bad)")
        }
    }
}
