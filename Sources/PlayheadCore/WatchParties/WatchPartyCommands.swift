public import EventLog
public import Foundation
public import Projections
public import Views
public import WatchDomain

/// The watch-party commands (../shared/spec/watch-party.md): parties, tickets, purchases,
/// the party log and the status transitions the scheduler appends, and the reads the
/// routes make on a caller's behalf.
public struct WatchPartyCommands: Sendable {
    /// Runs the commands through the log's writer.
    public let runner: CommandRunner
    /// Who may read or change what.
    public let access: AccessPolicy
    /// The server's clock: statuses are derived from it, and rules that depend on time use it.
    public let clock: @Sendable () -> Timestamp
    /// The asynchronous views the party analytics are read from (``PlayheadStore/asyncProjections``).
    public let analytics: AsyncProjections?

    /// The actor the scheduler's transitions are appended as.
    public static let scheduler = Caller(userId: "playhead.scheduler", isAdmin: true)

    /// Commands through `runner`, with `clock`, answering analytics from `analytics`.
    public init(
        runner: CommandRunner,
        access: AccessPolicy = AccessPolicy(),
        analytics: AsyncProjections? = nil,
        clock: @escaping @Sendable () -> Timestamp
    ) {
        self.runner = runner
        self.access = access
        self.analytics = analytics
        self.clock = clock
    }

    private var queries: WatchPartyQueries { WatchPartyQueries(.committed(runner.views)) }

    // MARK: Parties

    /// Schedules a party (administrators) and returns it.
    public func schedule(
        movieId: VideoID,
        startTime: Timestamp,
        endTime: Timestamp,
        isFeatured: Bool,
        maxParticipants: UInt64,
        caller: Caller,
        correlation: UUID
    ) async throws -> WatchParty {
        let partyId = UUID()
        try await runner.run(caller: caller, correlation: correlation) { [clock] views in
            let movie = try VideoProgressQueries(views).video(movieId.text)
            let event = try WatchPartyDecider.schedule(
                partyId: partyId,
                movieId: movieId,
                movieDurationMillis: movie?.durationMillis,
                startTime: startTime,
                endTime: endTime,
                isFeatured: isFeatured,
                maxParticipants: maxParticipants,
                caller: caller,
                now: clock()
            )
            return ([event], ())
        }
        return try committedParty(partyId)
    }

    /// Changes a party (administrators) and returns it as it now stands.
    public func change(_ partyId: UUID, _ changes: PartyChanges, caller: Caller, correlation: UUID) async throws -> WatchParty {
        try await runner.run(caller: caller, correlation: correlation) { [clock] views in
            let party = try WatchPartyQueries(views).party(partyId)
            let movieId = changes.movieId?.text ?? party?.schedule.movieId
            let movie = try movieId.flatMap { try VideoProgressQueries(views).video($0) }
            let event = try WatchPartyDecider.change(
                party,
                partyId: partyId,
                changes: changes,
                movieDurationMillis: movie?.durationMillis,
                caller: caller,
                now: clock()
            )
            return (event.map { [$0] } ?? [], ())
        }
        return try committedParty(partyId)
    }

    /// Cancels a party (administrators; cancelling again changes nothing) and returns it.
    public func cancel(_ partyId: UUID, caller: Caller, correlation: UUID) async throws -> WatchParty {
        try await runner.run(caller: caller, correlation: correlation) { [clock] views in
            let party = try WatchPartyQueries(views).party(partyId)
            let event = try WatchPartyDecider.cancel(party, partyId: partyId, caller: caller, now: clock())
            return (event.map { [$0] } ?? [], ())
        }
        return try committedParty(partyId)
    }

    /// Appends the status transitions due at `now` that the log does not hold yet, each
    /// exactly once (decided against the batch's views, so two schedulers, or a scheduler
    /// and a restart, never append one twice). Returns how many it appended.
    @discardableResult
    public func advanceStatuses(now: Timestamp? = nil) async throws -> Int {
        let now = now ?? clock()
        var appended = 0
        while true {
            let due = try queries.due(at: now, limit: 256)
            guard !due.isEmpty else { return appended }
            appended += try await runner.run(caller: Self.scheduler, correlation: UUID()) { views in
                let parties = WatchPartyQueries(views)
                var events: [any DomainEvent] = []
                for id in due {
                    if let party = try parties.party(id) { events += WatchPartyDecider.transitions(of: party, now: now) }
                }
                return (events, events.count)
            }
            if due.count < 256 { return appended }
        }
    }

    /// When the next status transition falls due, nil when none is pending.
    public func nextTransition() throws -> Timestamp? { try queries.nextDue() }

    // MARK: Tickets

    /// Creates a ticket (administrators) and returns it.
    public func createTicket(_ definition: TicketDefinition, caller: Caller, correlation: UUID) async throws -> Ticket {
        let event = try WatchPartyDecider.createTicket(ticketId: UUID(), definition: definition, caller: caller)
        try await runner.run(caller: caller, correlation: correlation) { _ in ([event], ()) }
        return try committedTicket(event.ticketId)
    }

    /// Changes a ticket (administrators) and returns it as it now stands.
    public func changeTicket(_ ticketId: UUID, _ definition: TicketDefinition, caller: Caller, correlation: UUID) async throws -> Ticket {
        try await runner.run(caller: caller, correlation: correlation) { views in
            let ticket = try WatchPartyQueries(views).ticket(ticketId)
            let event = try WatchPartyDecider.changeTicket(ticket, ticketId: ticketId, definition: definition, caller: caller)
            return (event.map { [$0] } ?? [], ())
        }
        return try committedTicket(ticketId)
    }

    /// What a purchase did.
    public enum PurchaseOutcome: Sendable, Hashable {
        /// A new purchase (201).
        case purchased(TicketPurchase)
        /// A retry with the first purchase's `Idempotency-Key`: the first purchase (201 again).
        case retried(TicketPurchase)
        /// The caller had a ticket to the party already: their purchase (409).
        case alreadyBought(TicketPurchase)
    }

    /// Buys `caller` a ticket of kind `ticketId` to the party. Decided in the log's writer:
    /// concurrent buyers never oversell.
    public func purchase(
        partyId: UUID,
        ticketId: UUID,
        idempotencyKey: String?,
        caller: Caller,
        correlation: UUID
    ) async throws -> PurchaseOutcome {
        let (decision, append) = try await runner.runAppending(caller: caller, correlation: correlation) { [clock] views in
            let parties = WatchPartyQueries(views)
            let decision = try WatchPartyDecider.purchase(
                party: try parties.party(partyId),
                partyId: partyId,
                ticket: try parties.ticket(ticketId),
                ticketId: ticketId,
                existing: try parties.purchase(party: partyId, user: caller.userId),
                caller: caller,
                idempotencyKey: idempotencyKey,
                now: clock(),
                newId: { UUID() }
            )
            if case .purchase(let event) = decision { return ([event], decision) }
            return ([], decision)
        }
        switch decision {
        case .purchase(let event):
            guard let recordedAt = append?.recordedAt else { throw CommandError(.unexpected, "the purchase was not appended") }
            return .purchased(TicketPurchase(event, at: recordedAt))
        case .retried(let purchase): return .retried(purchase)
        case .alreadyBought(let purchase): return .alreadyBought(purchase)
        }
    }

    // MARK: The party log

    /// Appends an entry to the party's log (a join, leave, message or player action) and
    /// returns it with its event and video times.
    public func log(
        _ request: WatchPartyDecider.LogRequest,
        in partyId: UUID,
        caller: Caller,
        correlation: UUID,
        entryId: UUID = UUID()
    ) async throws -> PartyLogEntry {
        let ((event, party), append) = try await runner.runAppending(caller: caller, correlation: correlation) { [clock] views in
            let parties = WatchPartyQueries(views)
            let party = try parties.party(partyId)
            let event = try WatchPartyDecider.log(
                request,
                party: party,
                partyId: partyId,
                holdsTicket: try parties.purchase(party: partyId, user: request.userId.text) != nil,
                isOnline: try parties.isOnline(party: partyId, user: request.userId.text),
                caller: caller,
                now: clock(),
                newId: { entryId }
            )
            return ([event], (event, party))
        }
        guard let append, let recordedAt = append.recordedAt, let party else {
            throw CommandError(.unexpected, "the party log entry was not appended")
        }
        // The entry as the projector made it from this event, in the same batch.
        return party.logEntry(event, at: recordedAt, position: append.positions.upperBound)
    }

    /// The actor that logs the leaves of connections a stopped server left online.
    public static let gateway = Caller(userId: "playhead.gateway", isAdmin: true)

    /// Logs a leave for every connection the read models still count online, and returns
    /// how many were logged. For a server starting with no connection of its own: a crash
    /// (or a kill) leaves its members online with no leave logged, and a room could stay
    /// "full" of no one. Rooms that have closed since keep their count (nothing may be
    /// logged there any more). One node's view: several nodes over one log must count
    /// connections per node first (issue 18).
    public func leaveConnectionsOnline(correlation: UUID) async throws -> Int {
        var logged = 0
        for (party, user, connections) in try queries.connectionsOnline() {
            guard let userId = try? UserID(user) else { continue }
            for _ in 0..<connections {
                do {
                    _ = try await log(.init(userId: userId, eventType: .leave), in: party, caller: Self.gateway, correlation: correlation)
                    logged += 1
                } catch is CommandError {
                    break
                }
            }
        }
        return logged
    }

    // MARK: Reads

    /// The party (any caller).
    public func party(_ partyId: UUID) throws -> WatchParty { try committedParty(partyId) }

    /// Parties `filter` keeps at the clock's time, in start order.
    public func parties(_ filter: PartyFilter, limit: Int, offset: Int) throws -> [WatchParty] {
        try queries.parties(filter, now: clock(), limit: limit, offset: offset)
    }

    /// The ticket (any caller).
    public func ticket(_ ticketId: UUID) throws -> Ticket { try committedTicket(ticketId) }

    /// Tickets in creation order (any caller).
    public func tickets(limit: Int, offset: Int) throws -> [Ticket] { try queries.tickets(limit: limit, offset: offset) }

    /// The party's purchases in order (administrators).
    public func purchases(of partyId: UUID, limit: Int, offset: Int, caller: Caller) throws -> [TicketPurchase] {
        try access.requireAdministrator(caller)
        _ = try committedParty(partyId)
        return try queries.purchases(party: partyId, limit: limit, offset: offset)
    }

    /// The caller's purchases, each with its party.
    public func purchases(of caller: Caller) throws -> [(purchase: TicketPurchase, party: WatchParty)] {
        try queries.purchases(user: caller.userId)
    }

    /// A page of the party's log (its ticket holders and administrators).
    public func log(
        of partyId: UUID,
        filter: PartyLogFilter,
        after cursor: PartyLogCursor?,
        limit: Int,
        caller: Caller
    ) throws -> (entries: [PartyLogEntry], next: PartyLogCursor?) {
        _ = try committedParty(partyId)
        try access.requirePartyLog(holdsTicket: caller.isAdmin || queries.purchase(party: partyId, user: caller.userId) != nil, for: caller)
        return try queries.log(party: partyId, filter: filter, after: cursor, limit: limit)
    }

    /// A replay of the party's log in `window` (issue 16): for its ticket holders once it has
    /// finished, for administrators at any time. Errors: `not found` (no such party),
    /// `forbidden` (no ticket), `conflict` (not finished yet, or cancelled).
    public func replay(of partyId: UUID, window: ReplayWindow, caller: Caller) throws -> PartyReplay {
        let party = try committedParty(partyId)
        try access.requirePartyLog(holdsTicket: caller.isAdmin || queries.purchase(party: partyId, user: caller.userId) != nil, for: caller)
        if !caller.isAdmin {
            switch party.status(at: clock()) {
            case .finished: break
            case .cancelled: throw CommandError(.conflict, "the watch party was cancelled: there is nothing to replay")
            case .upcoming, .ongoing:
                throw CommandError(
                    .conflict,
                    "a watch party can be replayed once it has finished (at \(ISO8601Micros.format(party.endTime)))"
                )
            }
        }
        return PartyReplay(party: party, window: window, queries: queries)
    }

    /// The party's analytics at the clock's time (administrators): O(minutes of the party),
    /// from the asynchronous views, which may trail the log by the events ``AsyncProjections``
    /// has yet to fold. Errors: `forbidden`, `not found`, `unexpected` (a store without the
    /// analytics views).
    public func analytics(of partyId: UUID, caller: Caller) throws -> PartyAnalytics {
        try access.requireAdministrator(caller)
        let party = try committedParty(partyId)
        guard let analytics else { throw CommandError(.unexpected, "this server keeps no party analytics") }
        return try PartyAnalyticsQueries(analytics).analytics(of: party, now: clock())
    }

    private func committedParty(_ partyId: UUID) throws -> WatchParty {
        guard let party = try queries.party(partyId) else { throw CommandError(.notFound, "no watch party \(partyId.uuidString.lowercased())") }
        return party
    }

    private func committedTicket(_ ticketId: UUID) throws -> Ticket {
        guard let ticket = try queries.ticket(ticketId) else { throw CommandError(.notFound, "no ticket \(ticketId.uuidString.lowercased())") }
        return ticket
    }
}
