public import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Which parties a listing shows: all by default, narrowed by each field that is set.
public struct PartyFilter: Sendable, Hashable {
    /// Only parties with this status at the listing's time.
    public var status: PartyStatus?
    /// Only featured (true) or not featured (false) parties.
    public var isFeatured: Bool?
    /// Only parties starting at or after this.
    public var from: Timestamp?
    /// Only parties starting before this.
    public var to: Timestamp?

    /// Creates a filter.
    public init(status: PartyStatus? = nil, isFeatured: Bool? = nil, from: Timestamp? = nil, to: Timestamp? = nil) {
        self.status = status
        self.isFeatured = isFeatured
        self.from = from
        self.to = to
    }
}

/// Where a page of a party log starts: after the entry at this event time and log position.
/// Clients see it as an opaque token (``token``).
public struct PartyLogCursor: Sendable, Hashable {
    /// The last entry's event time, in milliseconds from the start.
    public var eventTimeMillis: Int64
    /// The last entry's log position.
    public var position: UInt64

    /// Creates a cursor.
    public init(eventTimeMillis: Int64, position: UInt64) {
        self.eventTimeMillis = eventTimeMillis
        self.position = position
    }

    /// The token a client passes back: 16 bytes in base64url, without padding.
    public var token: String {
        let bytes = WatchPartiesProjector.eventTimeKey(eventTimeMillis) + ViewKey.bigEndian(position)
        let base64 = Data(bytes).base64EncodedString()
        return String(base64.replacing("+", with: "-").replacing("/", with: "_").filter { $0 != "=" })
    }

    /// The cursor `token` stands for, nil when it is not one.
    public init?(token: String) {
        guard token.utf8.count == 22, token.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") }) else { return nil }
        let base64 = String(token.replacing("-", with: "+").replacing("_", with: "/")) + "=="
        guard let data = Data(base64Encoded: base64), data.count == 16 else { return nil }
        let bytes = Array(data)
        eventTimeMillis = WatchPartiesProjector.eventTime(fromKey: bytes[0..<8])
        position = ViewKey.integer(bytes[8..<16])
    }
}

/// Which entries of a party log a page shows.
public struct PartyLogFilter: Sendable, Hashable {
    /// Only entries of this type.
    public var eventType: PartyLogEventType?
    /// Only entries at or after this event time (milliseconds from the start).
    public var fromMillis: Int64?
    /// Only entries before this event time.
    public var toMillis: Int64?

    /// Creates a filter.
    public init(eventType: PartyLogEventType? = nil, fromMillis: Int64? = nil, toMillis: Int64? = nil) {
        self.eventType = eventType
        self.fromMillis = fromMillis
        self.toMillis = toMillis
    }
}

/// The queries of the watch-party module, answered from ``WatchPartiesProjector``'s rows.
public struct WatchPartyQueries: Sendable {
    /// The views to read.
    public let views: ViewSource
    private let name = WatchPartiesProjector().name

    /// Queries reading the last committed state of `views`.
    public init(views: InlineProjections) { self.views = .committed(views) }

    /// Queries reading `source`: a decider passes its batch's views (``ViewSource/batch(_:of:)``).
    public init(_ source: ViewSource) { self.views = source }

    /// The party, nil when there is none.
    public func party(_ id: UUID) throws -> WatchParty? {
        try views.read(name) { try WatchPartiesProjector.party(id, in: $0) }
    }

    /// The parties `filter` keeps at `now`, in start order, skipping `offset` and at most `limit`.
    public func parties(_ filter: PartyFilter, now: Timestamp, limit: Int, offset: Int) throws -> [WatchParty] {
        try views.read(name) { tx in
            var parties: [WatchParty] = []
            var skipped = 0
            let start = filter.from.map(ViewKey.time) ?? []
            let end = filter.to.map(ViewKey.time)
            guard limit > 0 else { return [] }
            try tx.forEach("by_start", from: start) { key, _ in
                if let end, key.prefix(8).lexicographicallyPrecedes(end) == false { return false }
                guard let party = try WatchPartiesProjector.party(ViewKey.uuid(suffixOf: key), in: tx) else { return true }
                if let status = filter.status, party.status(at: now) != status { return true }
                if let featured = filter.isFeatured, party.schedule.isFeatured != featured { return true }
                if skipped < offset {
                    skipped += 1
                    return true
                }
                parties.append(party)
                return parties.count < limit
            }
            return parties
        }
    }

    /// The ticket, nil when there is none.
    public func ticket(_ id: UUID) throws -> Ticket? {
        try views.read(name) { try WatchPartiesProjector.ticket(id, in: $0) }
    }

    /// Tickets in creation order, skipping `offset`, at most `limit`.
    public func tickets(limit: Int, offset: Int) throws -> [Ticket] {
        try views.read(name) { tx in
            var tickets: [Ticket] = []
            var skipped = 0
            guard limit > 0 else { return [] }
            try tx.forEach("ticket_order") { _, value in
                if skipped < offset {
                    skipped += 1
                    return true
                }
                if let ticket = try WatchPartiesProjector.ticket(ViewKey.uuid(suffixOf: value), in: tx) { tickets.append(ticket) }
                return tickets.count < limit
            }
            return tickets
        }
    }

    /// `user`'s purchase for the party, nil when they bought none.
    public func purchase(party: UUID, user: String) throws -> TicketPurchase? {
        try views.read(name) { tx in try Self.purchase(party, user, tx) }
    }

    /// Whether `user` is in the party's room (joined more often than they left).
    public func isOnline(party: UUID, user: String) throws -> Bool {
        try views.read(name) { tx in try tx.get("online", ViewKey.uuid(party) + ViewKey.string(user)) != nil }
    }

    /// Every user online in any party's room, with their open connections: what a server
    /// that starts with no connection finds left by one that stopped without logging leaves.
    public func connectionsOnline() throws -> [(party: UUID, user: String, connections: UInt64)] {
        try views.read(name) { tx in
            var online: [(party: UUID, user: String, connections: UInt64)] = []
            try tx.forEach("online", prefix: []) { key, value in
                if key.count > 16, let (user, _) = ViewKey.string(in: key, at: 16) {
                    online.append((ViewKey.uuid(suffixOf: Array(key[0..<16])), user, ViewKey.integer(value)))
                }
                return true
            }
            return online
        }
    }

    /// The users in the party's room, by id.
    public func online(party: UUID) throws -> [String] {
        try views.read(name) { tx in
            let prefix = ViewKey.uuid(party)
            var users: [String] = []
            try tx.forEach("online", prefix: prefix) { key, _ in
                if let (user, _) = ViewKey.string(in: key, at: prefix.count) { users.append(user) }
                return true
            }
            return users
        }
    }

    /// The party's purchases in the order they were made, skipping `offset`, at most `limit`.
    public func purchases(party: UUID, limit: Int, offset: Int) throws -> [TicketPurchase] {
        try views.read(name) { tx in
            let prefix = ViewKey.uuid(party)
            var purchases: [TicketPurchase] = []
            var skipped = 0
            guard limit > 0 else { return [] }
            try tx.forEach("party_purchases", prefix: prefix) { _, user in
                if skipped < offset {
                    skipped += 1
                    return true
                }
                if let (userId, _) = ViewKey.string(in: user, at: 0), let purchase = try Self.purchase(party, userId, tx) {
                    purchases.append(purchase)
                }
                return purchases.count < limit
            }
            return purchases
        }
    }

    /// `user`'s purchases in the order they were made, each with its party.
    public func purchases(user: String) throws -> [(purchase: TicketPurchase, party: WatchParty)] {
        try views.read(name) { tx in
            let prefix = ViewKey.string(user)
            var purchases: [(TicketPurchase, WatchParty)] = []
            try tx.forEach("user_purchases", prefix: prefix) { _, party16 in
                let partyId = ViewKey.uuid(suffixOf: party16)
                if let purchase = try Self.purchase(partyId, user, tx), let party = try WatchPartiesProjector.party(partyId, in: tx) {
                    purchases.append((purchase, party))
                }
                return true
            }
            return purchases
        }
    }

    /// A page of the party's log: at most `limit` entries that `filter` keeps, in event-time
    /// order, after `cursor`; and the cursor of the next page, nil when this one is the last.
    /// Costs O(limit) reads (a range scan from the cursor), whatever page it is.
    public func log(
        party: UUID,
        filter: PartyLogFilter,
        after cursor: PartyLogCursor?,
        limit: Int
    ) throws -> (entries: [PartyLogEntry], next: PartyLogCursor?) {
        try views.read(name) { tx in
            let party16 = ViewKey.uuid(party)
            let prefix = party16 + (filter.eventType.map { [$0.rawValue] } ?? [])
            let database = filter.eventType == nil ? "log" : "log_by_type"
            var start = prefix + WatchPartiesProjector.eventTimeKey(filter.fromMillis ?? Int64.min)
            if let cursor {
                let after = prefix + WatchPartiesProjector.eventTimeKey(cursor.eventTimeMillis) + ViewKey.bigEndian(cursor.position) + [0]
                if start.lexicographicallyPrecedes(after) { start = after }
            }
            var entries: [PartyLogEntry] = []
            var more = false
            guard limit > 0 else { return ([], nil) }
            try tx.forEach(database, from: start) { key, value in
                guard key.starts(with: prefix) else { return false }
                let time = WatchPartiesProjector.eventTime(fromKey: key[prefix.count..<(prefix.count + 8)])
                if let to = filter.toMillis, time >= to { return false }
                if entries.count == limit {
                    more = true
                    return false
                }
                let bytes: [UInt8]
                if filter.eventType == nil {
                    bytes = value
                } else {
                    bytes = try tx.get("log", party16 + key[prefix.count...]) ?? []
                }
                guard !bytes.isEmpty else { return true }
                entries.append(try bytes.withUnsafeBytes { try PartyLogEntry(decoding: $0) })
                return true
            }
            let next = more ? entries.last.map { PartyLogCursor(eventTimeMillis: $0.eventTimeMillis, position: $0.position) } : nil
            return (entries, next)
        }
    }

    /// The entries of `party` after the entry `entryId` and before log position `before`, in
    /// log order, at most `limit`: what a member who saw `entryId` missed before rejoining
    /// at `before`. Nil when `entryId` is no entry of `party`. Costs O(entries returned).
    public func entries(party: UUID, after entryId: UUID, before: UInt64, limit: Int = .max) throws -> [PartyLogEntry]? {
        try views.read(name) { tx in
            let party16 = ViewKey.uuid(party)
            guard let key = try tx.get("log_entries", ViewKey.uuid(entryId)), key.starts(with: party16) else { return nil }
            var entries: [PartyLogEntry] = []
            try tx.forEach("log", from: key + [0]) { key, value in
                guard key.starts(with: party16) else { return false }
                let entry = try value.withUnsafeBytes { try PartyLogEntry(decoding: $0) }
                // Keyed by event time, the log is in log order: the recorded-at times of a
                // party's entries never decrease along the log.
                guard entry.position < before, entries.count < limit else { return false }
                entries.append(entry)
                return true
            }
            return entries
        }
    }

    /// The stored entry `event` made when recorded at `recordedAt` at `position` (nil when
    /// the read model holds none: its party is unknown). Its key is found from the party's
    /// start, which does not move once the room is open.
    public func entry(of event: PartyLogged, recordedAt: Timestamp, position: UInt64) throws -> PartyLogEntry? {
        try views.read(name) { tx in
            guard let party = try WatchPartiesProjector.party(event.partyId, in: tx) else { return nil }
            let millis = party.logEntry(event, at: recordedAt, position: position).eventTimeMillis
            let key = ViewKey.uuid(event.partyId) + WatchPartiesProjector.eventTimeKey(millis) + ViewKey.bigEndian(position)
            return try tx.withValue("log", key) { bytes in try bytes.map { try PartyLogEntry(decoding: $0) } }
        }
    }

    /// Parties with a status transition due at or before `now` that the log does not hold
    /// yet, soonest first, at most `limit`.
    public func due(at now: Timestamp, limit: Int) throws -> [UUID] {
        try views.read(name) { tx in
            var parties: [UUID] = []
            let end = ViewKey.time(now)
            guard limit > 0 else { return [] }
            try tx.forEach("due") { key, _ in
                guard !end.lexicographicallyPrecedes(key.prefix(8)) else { return false }
                parties.append(ViewKey.uuid(suffixOf: key))
                return parties.count < limit
            }
            return parties
        }
    }

    /// When the next status transition falls due, nil when none is pending.
    public func nextDue() throws -> Timestamp? {
        try views.read(name) { tx in
            var next: Timestamp?
            try tx.forEach("due") { key, _ in
                next = ViewKey.timestamp(prefixOf: key)
                return false
            }
            return next
        }
    }

    private static func purchase(_ party: UUID, _ user: String, _ tx: ViewTransaction) throws -> TicketPurchase? {
        try tx.withValue("purchases", ViewKey.uuid(party) + ViewKey.string(user)) { bytes in try bytes.map { try TicketPurchase(decoding: $0) } }
    }
}
