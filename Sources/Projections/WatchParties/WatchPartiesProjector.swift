public import EventLog
public import Views
import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
public import Foundation
#endif

/// Folds the watch-party module's events into its read models:
///
/// | database | key | value |
/// |---|---|---|
/// | `parties` | party id (16) | ``WatchParty`` |
/// | `by_start` | start time (8), party id (16) | empty: parties in start order |
/// | `due` | time (8), party id (16) | empty: the next status transition each party has not logged |
/// | `tickets` | ticket id (16) | ``Ticket`` |
/// | `ticket_order` | log position (8) | ticket id: tickets in creation order |
/// | `purchases` | party id, user (length-prefixed) | ``TicketPurchase``: one per user and party |
/// | `party_purchases` | party id, log position (8) | user (length-prefixed): a party's purchases in order |
/// | `user_purchases` | user, log position (8) | party id: a user's purchases in order |
/// | `online` | party id, user | connections (8 BE): who is in the room |
/// | `log` | party id, event time (8), log position (8) | ``PartyLogEntry``: the party log in time order |
/// | `log_by_type` | party id, event type (1), event time (8), log position (8) | empty: one type's entries |
/// | `log_entries` | entry id (16) | party id, event time (8), log position (8): the entry's `log` key |
///
/// Event times are milliseconds from the party's start with the sign bit flipped, so that
/// the lobby's negative times sort first. The projector reads no clock: a party's status
/// is derived at read time (``WatchParty/status(at:)``), the transitions the scheduler
/// appends only mark what it has logged.
public struct WatchPartiesProjector: Projector {
    public let name = "watch-parties"
    public let version: UInt32 = 2
    public let databases = [
        "parties", "by_start", "due", "tickets", "ticket_order", "purchases", "party_purchases", "user_purchases", "online", "log",
        "log_by_type", "log_entries",
    ]
    public let eventTypePrefixes = ["watch-party.", "ticket."]

    /// Creates the projector.
    public init() {}

    private static let scheduled = Array(WatchPartyScheduled.eventType.utf8)
    private static let changed = Array(WatchPartyChanged.eventType.utf8)
    private static let cancelled = Array(WatchPartyCancelled.eventType.utf8)
    private static let started = Array(WatchPartyStarted.eventType.utf8)
    private static let finished = Array(WatchPartyFinished.eventType.utf8)
    private static let purchased = Array(TicketPurchased.eventType.utf8)
    private static let logged = Array(PartyLogged.eventType.utf8)
    private static let ticketCreated = Array(TicketCreated.eventType.utf8)
    private static let ticketChanged = Array(TicketChanged.eventType.utf8)

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        let at = record.recordedAt
        if ViewKey.matches(type, Self.logged) {
            try applyLogged(PartyLogged.decode(record.payload), at: at, position: record.position, views)
        } else if ViewKey.matches(type, Self.purchased) {
            let event = try TicketPurchased.decode(record.payload)
            guard var party = try Self.party(event.partyId, in: views) else { return }
            let party16 = ViewKey.uuid(event.partyId)
            let user = ViewKey.string(event.userId)
            // One purchase per user and party, whatever a doctored import says.
            guard try views.get("purchases", party16 + user) == nil else { return }
            try views.put("purchases", party16 + user, TicketPurchase(event, at: at).encoded())
            try views.put("party_purchases", party16 + ViewKey.bigEndian(record.position), user)
            try views.put("user_purchases", user + ViewKey.bigEndian(record.position), party16)
            party.ticketsSold += 1
            try Self.store(party, in: views)
        } else if ViewKey.matches(type, Self.scheduled) {
            let event = try WatchPartyScheduled.decode(record.payload)
            guard try Self.party(event.partyId, in: views) == nil else { return }
            let party = WatchParty(event, at: at)
            try Self.store(party, in: views)
            try views.put("by_start", Self.startKey(party), [])
            try Self.setDue(nil, party, in: views)
        } else if ViewKey.matches(type, Self.changed) {
            let event = try WatchPartyChanged.decode(record.payload)
            guard var party = try Self.party(event.partyId, in: views) else { return }
            let old = party
            try views.delete("by_start", Self.startKey(old))
            party.schedule = event.schedule
            party.updatedAt = at
            try Self.store(party, in: views)
            try views.put("by_start", Self.startKey(party), [])
            try Self.setDue(old, party, in: views)
        } else if ViewKey.matches(type, Self.cancelled) {
            let event = try WatchPartyCancelled.decode(record.payload)
            guard var party = try Self.party(event.partyId, in: views), party.cancelledAt == nil else { return }
            let old = party
            party.cancelledAt = at
            party.updatedAt = at
            try Self.store(party, in: views)
            try Self.setDue(old, party, in: views)
        } else if ViewKey.matches(type, Self.started) || ViewKey.matches(type, Self.finished) {
            let isStart = ViewKey.matches(type, Self.started)
            let partyId = try isStart ? WatchPartyStarted.decode(record.payload).partyId : WatchPartyFinished.decode(record.payload).partyId
            guard var party = try Self.party(partyId, in: views) else { return }
            let old = party
            if isStart { party.startLogged = true } else { party.endLogged = true }
            try Self.store(party, in: views)
            try Self.setDue(old, party, in: views)
        } else if ViewKey.matches(type, Self.ticketCreated) {
            let event = try TicketCreated.decode(record.payload)
            let key = ViewKey.uuid(event.ticketId)
            guard try views.get("tickets", key) == nil else { return }
            try views.put("tickets", key, Ticket(ticketId: event.ticketId, definition: event.ticket, createdAt: at, updatedAt: at).encoded())
            try views.put("ticket_order", ViewKey.bigEndian(record.position), key)
        } else if ViewKey.matches(type, Self.ticketChanged) {
            let event = try TicketChanged.decode(record.payload)
            let key = ViewKey.uuid(event.ticketId)
            guard var ticket = try Self.ticket(event.ticketId, in: views) else { return }
            ticket.definition = event.ticket
            ticket.updatedAt = at
            try views.put("tickets", key, ticket.encoded())
        }
    }

    private func applyLogged(_ event: PartyLogged, at: Timestamp, position: UInt64, _ views: ViewTransaction) throws {
        guard var party = try Self.party(event.partyId, in: views) else { return }
        let entry = party.logEntry(event, at: at, position: position)
        let party16 = ViewKey.uuid(event.partyId)
        let time = Self.eventTimeKey(entry.eventTimeMillis) + ViewKey.bigEndian(position)
        try views.put("log", party16 + time, entry.encoded())
        try views.put("log_by_type", party16 + [event.eventType.rawValue] + time, [])
        try views.put("log_entries", ViewKey.uuid(event.entryId), party16 + time)
        party.logEntries += 1
        party.player = party.player(after: entry)
        let onlineKey = party16 + ViewKey.string(event.userId)
        switch event.eventType {
        case .join:
            let connections = try views.get("online", onlineKey).map(ViewKey.integer) ?? 0
            if connections == 0 { party.participantsOnline += 1 }
            try views.put("online", onlineKey, ViewKey.bigEndian(connections + 1))
        case .leave:
            let connections = try views.get("online", onlineKey).map(ViewKey.integer) ?? 0
            if connections == 1 { party.participantsOnline -= 1 }
            if connections <= 1 {
                try views.delete("online", onlineKey)
            } else {
                try views.put("online", onlineKey, ViewKey.bigEndian(connections - 1))
            }
        default: break
        }
        try Self.store(party, in: views)
    }

    /// The next transition `party` has not logged, and when: its start, else its end; none
    /// once both are logged or it is cancelled.
    static func nextTransition(_ party: WatchParty) -> Timestamp? {
        guard party.cancelledAt == nil else { return nil }
        if !party.startLogged { return party.startTime }
        if !party.endLogged { return party.endTime }
        return nil
    }

    /// Moves `party`'s entry in `due` from where `old` had it.
    private static func setDue(_ old: WatchParty?, _ party: WatchParty, in views: ViewTransaction) throws {
        let id = ViewKey.uuid(party.partyId)
        if let old, let time = nextTransition(old) { try views.delete("due", ViewKey.time(time) + id) }
        if let time = nextTransition(party) { try views.put("due", ViewKey.time(time) + id, []) }
    }

    /// An event time (milliseconds, may be negative) as 8 bytes in time order.
    static func eventTimeKey(_ millis: Int64) -> [UInt8] { ViewKey.bigEndian(UInt64(bitPattern: millis) ^ (1 << 63)) }

    /// The event time ``eventTimeKey(_:)`` wrote.
    static func eventTime(fromKey bytes: some Collection<UInt8>) -> Int64 { Int64(bitPattern: ViewKey.integer(bytes) ^ (1 << 63)) }

    static func startKey(_ party: WatchParty) -> [UInt8] { ViewKey.time(party.startTime) + ViewKey.uuid(party.partyId) }

    static func store(_ party: WatchParty, in views: ViewTransaction) throws {
        try views.put("parties", ViewKey.uuid(party.partyId), party.encoded())
    }

    static func party(_ id: UUID, in views: ViewTransaction) throws -> WatchParty? {
        try views.withValue("parties", ViewKey.uuid(id)) { bytes in try bytes.map { try WatchParty(decoding: $0) } }
    }

    static func ticket(_ id: UUID, in views: ViewTransaction) throws -> Ticket? {
        try views.withValue("tickets", ViewKey.uuid(id)) { bytes in try bytes.map { try Ticket(decoding: $0) } }
    }
}
