public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What an administrator changes of a party: any subset of its schedule (nil leaves a
/// field as it is).
public struct PartyChanges: Sendable, Hashable {
    /// A new movie.
    public var movieId: VideoID?
    /// A new start.
    public var startTime: Timestamp?
    /// A new end.
    public var endTime: Timestamp?
    /// Featured or not.
    public var isFeatured: Bool?
    /// A new limit.
    public var maxParticipants: UInt64?

    /// Creates changes.
    public init(
        movieId: VideoID? = nil,
        startTime: Timestamp? = nil,
        endTime: Timestamp? = nil,
        isFeatured: Bool? = nil,
        maxParticipants: UInt64? = nil
    ) {
        self.movieId = movieId
        self.startTime = startTime
        self.endTime = endTime
        self.isFeatured = isFeatured
        self.maxParticipants = maxParticipants
    }
}

extension PartyChanges {
    /// The request field of the first change, in the body's documented order; nil for none.
    public var firstField: String? {
        if movieId != nil { return "movie_id" }
        if startTime != nil { return "start_time" }
        if endTime != nil { return "end_time" }
        if isFeatured != nil { return "is_featured" }
        if maxParticipants != nil { return "max_participants" }
        return nil
    }
}

/// What a purchase decided.
public enum PurchaseDecision: Sendable, Hashable {
    /// A new purchase, to append.
    case purchase(TicketPurchased)
    /// The user had bought a ticket to this party already (a 409 that shows it).
    case alreadyBought(TicketPurchase)
    /// A retry of the purchase made with the same `Idempotency-Key`: answered as the first time.
    case retried(TicketPurchase)
}

/// Decides the events of watch-party commands. Pure: the commands read the views and the
/// clock and hand in what a rule needs.
public enum WatchPartyDecider {
    /// Schedules a party of `movieId`, whose catalogue length is `movieDurationMillis` (nil
    /// when the catalogue has no such video).
    public static func schedule(
        partyId: UUID,
        movieId: VideoID,
        movieDurationMillis: UInt64?,
        startTime: Timestamp,
        endTime: Timestamp,
        isFeatured: Bool,
        maxParticipants: UInt64,
        caller: Caller,
        now: Timestamp
    ) throws(CommandError) -> WatchPartyScheduled {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators schedule watch parties") }
        let schedule = try checkedSchedule(
            movieId: movieId,
            movieDurationMillis: movieDurationMillis,
            startTime: startTime,
            endTime: endTime,
            isFeatured: isFeatured,
            maxParticipants: maxParticipants
        )
        guard endTime > now else { throw CommandError(.invalid, "end_time must be in the future", field: "end_time") }
        return WatchPartyScheduled(partyId: partyId, schedule: schedule)
    }

    /// Changes `party` (nil when there is no such party); nil when nothing changes.
    /// `movieDurationMillis` is the catalogue length of the movie the party will show.
    ///
    /// Refusals: 404 for no party; 409 for a cancelled or finished party, a start or movie
    /// moved once the party has started, or a limit below the tickets sold; 400 for an end
    /// not after the start, a party longer than allowed, a new start or an end in the past,
    /// or an unknown movie.
    public static func change(
        _ party: WatchParty?,
        partyId: UUID,
        changes: PartyChanges,
        movieDurationMillis: UInt64?,
        caller: Caller,
        now: Timestamp
    ) throws(CommandError) -> WatchPartyChanged? {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators change watch parties") }
        let party = try found(party, partyId)
        switch party.status(at: now) {
        case .cancelled: throw CommandError(.conflict, "the watch party was cancelled; it can't change", field: changes.firstField)
        case .finished: throw CommandError(.conflict, "the watch party has finished; it can't change", field: changes.firstField)
        case .ongoing:
            if let start = changes.startTime, start != party.startTime {
                throw CommandError(.conflict, "the watch party has started; its start_time can't move", field: "start_time")
            }
            if let movie = changes.movieId, movie.text != party.schedule.movieId {
                throw CommandError(.conflict, "the watch party has started; its movie can't change", field: "movie_id")
            }
        case .upcoming:
            // Entries logged in the lobby are timed from the start and placed in the film: once
            // the room is open, the start and the movie stay.
            if let start = changes.startTime, start != party.startTime {
                guard now < party.lobbyOpens else {
                    throw CommandError(.conflict, "the watch party's room is open; its start_time can't move", field: "start_time")
                }
                guard start > now else { throw CommandError(.invalid, "start_time must be in the future", field: "start_time") }
            }
            if let movie = changes.movieId, movie.text != party.schedule.movieId, now >= party.lobbyOpens {
                throw CommandError(.conflict, "the watch party's room is open; its movie can't change", field: "movie_id")
            }
        }
        let currentMovie = try VideoID(party.schedule.movieId, field: "movie_id")
        let schedule = try checkedSchedule(
            movieId: changes.movieId ?? currentMovie,
            movieDurationMillis: movieDurationMillis,
            startTime: changes.startTime ?? party.startTime,
            endTime: changes.endTime ?? party.endTime,
            isFeatured: changes.isFeatured ?? party.schedule.isFeatured,
            maxParticipants: changes.maxParticipants ?? party.schedule.maxParticipants
        )
        if let end = changes.endTime, end != party.endTime, end <= now {
            throw CommandError(.invalid, "end_time must be in the future", field: "end_time")
        }
        guard schedule.maxParticipants >= party.ticketsSold else {
            throw CommandError(
                .conflict,
                "max_participants can't be below the \(party.ticketsSold) tickets already sold",
                field: "max_participants"
            )
        }
        guard schedule != party.schedule else { return nil }
        return WatchPartyChanged(partyId: partyId, schedule: schedule)
    }

    /// Cancels `party`; nil when it is cancelled already (cancelling is idempotent).
    /// A finished party can't be cancelled (409).
    public static func cancel(_ party: WatchParty?, partyId: UUID, caller: Caller, now: Timestamp) throws(CommandError) -> WatchPartyCancelled? {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators cancel watch parties") }
        let party = try found(party, partyId)
        switch party.status(at: now) {
        case .cancelled: return nil
        case .finished: throw CommandError(.conflict, "the watch party has finished; it can't be cancelled")
        case .upcoming, .ongoing: return WatchPartyCancelled(partyId: partyId)
        }
    }

    /// The status transitions `party` is due at `now` and has not logged: its start, its
    /// end, or both (a party whose whole life passed while the server was down), each once.
    /// A cancelled party has none.
    public static func transitions(of party: WatchParty, now: Timestamp) -> [any DomainEvent] {
        guard party.cancelledAt == nil else { return [] }
        var events: [any DomainEvent] = []
        if !party.startLogged && now >= party.startTime { events.append(WatchPartyStarted(partyId: party.partyId, startTime: party.startTime)) }
        if !party.endLogged && now >= party.endTime { events.append(WatchPartyFinished(partyId: party.partyId, endTime: party.endTime)) }
        return events
    }

    /// Creates a ticket.
    public static func createTicket(ticketId: UUID, definition: TicketDefinition, caller: Caller) throws(CommandError) -> TicketCreated {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators create tickets") }
        if let problem = definition.problem() { throw CommandError(.invalid, problem.message, field: problem.field) }
        return TicketCreated(ticketId: ticketId, ticket: definition)
    }

    /// Changes `ticket` (nil when there is no such ticket) to `definition`; nil when nothing changes.
    public static func changeTicket(
        _ ticket: Ticket?,
        ticketId: UUID,
        definition: TicketDefinition,
        caller: Caller
    ) throws(CommandError) -> TicketChanged? {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators change tickets") }
        guard let ticket else { throw CommandError(.notFound, "no ticket \(ticketId.uuidString.lowercased())") }
        if let problem = definition.problem() { throw CommandError(.invalid, problem.message, field: problem.field) }
        guard definition != ticket.definition else { return nil }
        return TicketChanged(ticketId: ticketId, ticket: definition)
    }

    /// Decides `caller`'s purchase of `ticket` for `party`. `existing` is the caller's
    /// purchase for the party, if any.
    ///
    /// One purchase per user and party; at most `max_participants` sold (decided in the
    /// log's writer, so concurrent buyers never oversell); none for a finished or cancelled
    /// party.
    public static func purchase(
        party: WatchParty?,
        partyId: UUID,
        ticket: Ticket?,
        ticketId: UUID,
        existing: TicketPurchase?,
        caller: Caller,
        idempotencyKey: String?,
        now: Timestamp,
        newId: () -> UUID
    ) throws(CommandError) -> PurchaseDecision {
        if let idempotencyKey, !WatchPartyEvents.isIdempotencyKey(idempotencyKey) {
            throw CommandError(
                .invalid,
                "Idempotency-Key must be 1 to \(WatchPartyEvents.maxIdempotencyKeyBytes) visible ASCII characters",
                field: "Idempotency-Key"
            )
        }
        let party = try found(party, partyId)
        if let existing {
            if let idempotencyKey, existing.idempotencyKey == idempotencyKey {
                // A retry is the same request: the same key with another ticket is a mistake, not a retry.
                guard existing.ticketId == ticketId else {
                    throw CommandError(.conflict, "this Idempotency-Key was used for a purchase of another ticket", field: "Idempotency-Key")
                }
                return .retried(existing)
            }
            return .alreadyBought(existing)
        }
        guard ticket != nil else { throw CommandError(.notFound, "no ticket \(ticketId.uuidString.lowercased())") }
        switch party.status(at: now) {
        case .cancelled: throw CommandError(.conflict, "the watch party was cancelled; it sells no tickets")
        case .finished: throw CommandError(.conflict, "the watch party has finished; it sells no tickets")
        case .upcoming, .ongoing: break
        }
        guard party.ticketsSold < party.schedule.maxParticipants else {
            throw CommandError(.conflict, "the watch party is sold out (\(party.schedule.maxParticipants) tickets)")
        }
        return .purchase(
            TicketPurchased(purchaseId: newId(), partyId: partyId, ticketId: ticketId, userId: caller.userId, idempotencyKey: idempotencyKey)
        )
    }

    /// What a party-log command carries.
    public struct LogRequest: Sendable, Hashable {
        /// Who acts (the caller, or anyone for an administrator).
        public var userId: UserID
        /// What happened.
        public var eventType: PartyLogEventType
        /// A join's display name.
        public var username: String?
        /// A message's text.
        public var message: String?
        /// Where a player action put the film, in milliseconds.
        public var videoTimeMillis: UInt64?

        /// Creates a request.
        public init(userId: UserID, eventType: PartyLogEventType, username: String? = nil, message: String? = nil, videoTimeMillis: UInt64? = nil) {
            self.userId = userId
            self.eventType = eventType
            self.username = username
            self.message = message
            self.videoTimeMillis = videoTimeMillis
        }
    }

    /// Decides an entry of `party`'s log. `holdsTicket` says whether the user bought a
    /// ticket to it, `isOnline` whether they are in its room.
    ///
    /// The room is open from ``WatchPartyEvents/lobbyWindow`` before the start to the end,
    /// to ticket holders (and administrators); a join is refused when `max_participants`
    /// users are online and the user is not one of them; a leave, a message or a player
    /// action needs the user in the room.
    public static func log(
        _ request: LogRequest,
        party: WatchParty?,
        partyId: UUID,
        holdsTicket: Bool,
        isOnline: Bool,
        caller: Caller,
        now: Timestamp,
        newId: () -> UUID
    ) throws(CommandError) -> PartyLogged {
        let party = try found(party, partyId)
        guard caller.mayAccess(request.userId.text) else { throw CommandError(.forbidden, "you may only act as yourself", field: "userId") }
        guard holdsTicket || caller.isAdmin else { throw CommandError(.forbidden, "a ticket to this watch party is needed to take part") }
        if let problem = PartyLogged.problem(
            eventType: request.eventType,
            username: request.username,
            message: request.message,
            videoTimeMillis: request.videoTimeMillis
        ) {
            throw CommandError(.invalid, problem.message, field: problem.field)
        }
        if let videoTime = request.videoTimeMillis, videoTime > party.schedule.movieDurationMillis {
            throw CommandError(.invalid, "videoTime is past the end of the movie", field: "videoTime")
        }
        switch party.status(at: now) {
        case .cancelled: throw CommandError(.conflict, "the watch party was cancelled")
        case .finished: throw CommandError(.conflict, "the watch party has finished")
        case .upcoming where now < party.lobbyOpens:
            throw CommandError(.conflict, "the watch party's room opens at \(ISO8601Micros.format(party.lobbyOpens))")
        case .upcoming, .ongoing: break
        }
        switch request.eventType {
        case .join:
            guard isOnline || party.participantsOnline < party.schedule.maxParticipants else {
                throw CommandError(.conflict, "the watch party is full (\(party.schedule.maxParticipants) participants online)")
            }
        default:
            guard isOnline else { throw CommandError(.conflict, "join the watch party first") }
        }
        return PartyLogged(
            entryId: newId(),
            partyId: partyId,
            userId: request.userId.text,
            eventType: request.eventType,
            username: request.username,
            message: request.message,
            videoTimeMillis: request.videoTimeMillis
        )
    }

    private static func found(_ party: WatchParty?, _ partyId: UUID) throws(CommandError) -> WatchParty {
        guard let party else { throw CommandError(.notFound, "no watch party \(partyId.uuidString.lowercased())") }
        return party
    }

    private static func checkedSchedule(
        movieId: VideoID,
        movieDurationMillis: UInt64?,
        startTime: Timestamp,
        endTime: Timestamp,
        isFeatured: Bool,
        maxParticipants: UInt64
    ) throws(CommandError) -> PartySchedule {
        guard let movieDurationMillis else {
            throw CommandError(
                .invalid,
                "movie_id \(movieId.text) is not a video of the catalogue (register it with PUT /videos/\(movieId.text))",
                field: "movie_id"
            )
        }
        let schedule = PartySchedule(
            movieId: movieId.text,
            movieDurationMillis: movieDurationMillis,
            startTime: startTime,
            endTime: endTime,
            isFeatured: isFeatured,
            maxParticipants: maxParticipants
        )
        if let problem = schedule.problem() { throw CommandError(.invalid, problem.message, field: problem.field) }
        return schedule
    }
}
