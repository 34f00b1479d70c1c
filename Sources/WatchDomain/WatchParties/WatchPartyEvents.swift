public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The events of the watch-party module (../shared/spec/watch-party.md). Three kinds of
/// stream:
///
/// - `ticket/<ticket id>`: a ticket's definition (``TicketCreated``, ``TicketChanged``);
/// - `watch-party/<party id>`: the party's schedule, status transitions and ticket
///   purchases, so that a purchase is decided against the party's own stream;
/// - `watch-party-log/<party id>`: the party log (``PartyLogged``), the spec's
///   WatchPartyLog, kept apart so that reading a party's schedule never walks its chat.
public enum WatchPartyEvents {
    /// Every event type of the module.
    public static let all: [any DomainEvent.Type] = [
        TicketCreated.self,
        TicketChanged.self,
        WatchPartyScheduled.self,
        WatchPartyChanged.self,
        WatchPartyCancelled.self,
        WatchPartyStarted.self,
        WatchPartyFinished.self,
        TicketPurchased.self,
        PartyLogged.self,
    ]

    /// The stream of a ticket.
    public static func ticketStream(_ id: UUID) -> String { "ticket/" + id.uuidString.lowercased() }
    /// The stream of a party's schedule, transitions and purchases.
    public static func partyStream(_ id: UUID) -> String { "watch-party/" + id.uuidString.lowercased() }
    /// The stream of a party's log.
    public static func logStream(_ id: UUID) -> String { "watch-party-log/" + id.uuidString.lowercased() }

    /// The most participants a party may allow.
    public static let maxParticipantsLimit: UInt64 = 100_000
    /// The default `max_participants` (the spec's example).
    public static let defaultMaxParticipants: UInt64 = 100
    /// The longest party, from start to end: a week.
    public static let maxPartyLength: Duration = .seconds(7 * 86_400)
    /// How long before its start a party's room opens (joins and chat are logged from then).
    public static let lobbyWindow: Duration = .seconds(15 * 60)
    /// The longest ticket name, in characters.
    public static let maxTicketNameCharacters = 200
    /// The longest ticket description, in characters.
    public static let maxTicketDescriptionCharacters = 2_000
    /// The longest chat message, in characters.
    public static let maxMessageCharacters = 2_000
    /// The longest display name in a party, in characters.
    public static let maxUsernameCharacters = 100
    /// The longest `Idempotency-Key` of a purchase, in UTF-8 bytes.
    public static let maxIdempotencyKeyBytes = 128

    /// Whether `key` is an `Idempotency-Key` Playhead keeps: 1 to ``maxIdempotencyKeyBytes``
    /// visible ASCII characters (what the header's structured-field string may hold; a header
    /// with other bytes would reach the server altered).
    public static func isIdempotencyKey(_ key: String) -> Bool {
        (1...maxIdempotencyKeyBytes).contains(key.utf8.count) && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Whether `text` has 1 to `maxCharacters` characters (and at most 4 bytes each, since
    /// one character may carry any number of combining marks) and no control character
    /// other than a newline when `newlines` allows it.
    static func isBoundedText(_ text: String, maxCharacters: Int, newlines: Bool = false) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 4 * maxCharacters, text.count <= maxCharacters else { return false }
        return !text.unicodeScalars.contains { scalar in
            (scalar.value < 0x20 && !(newlines && scalar == "\n")) || (0x7F...0x9F).contains(scalar.value)
        }
    }
}

/// A ticket's price: an amount in hundredths of its currency's unit, and the currency's
/// ISO 4217 code. Shown as a decimal text with two digits after the point (`"12.50"`), so
/// that no client meets a binary fraction.
public struct Price: Sendable, Hashable, Codable {
    /// The amount in hundredths (cents): 1250 is 12.50.
    public var hundredths: Int64
    /// The ISO 4217 code: three capital letters (`EUR`).
    public var currency: String

    /// The largest amount: 1,000,000.00.
    public static let maxHundredths: Int64 = 100_000_000

    /// Creates a price without checking it (the decider checks, with ``problem``).
    public init(hundredths: Int64, currency: String) {
        self.hundredths = hundredths
        self.currency = currency
    }

    /// Parses a decimal amount (`12`, `12.5`, `12.50`; at most two digits after the point,
    /// 0 to 1,000,000) and a currency code; nil for anything else.
    public init?(amount text: String, currency: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), (1...7).contains(parts[0].utf8.count),
            parts[0].utf8.allSatisfy({ (48...57).contains($0) }), let units = Int64(parts[0])
        else { return nil }
        var hundredths = units * 100
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...2).contains(fraction.utf8.count), fraction.utf8.allSatisfy({ (48...57).contains($0) }),
                let digits = Int64(fraction)
            else { return nil }
            hundredths += fraction.utf8.count == 1 ? digits * 10 : digits
        }
        self.init(hundredths: hundredths, currency: currency)
        guard problem == nil else { return nil }
    }

    /// Why the price is not one Playhead sells at, nil when it is.
    public var problem: String? {
        guard (0...Self.maxHundredths).contains(hundredths) else { return "price.amount must be 0 to 1000000.00" }
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            return "price.currency must be an ISO 4217 code of three capital letters (EUR)"
        }
        return nil
    }

    /// The amount as a decimal text with two fractional digits: `12.50`.
    public var amountText: String {
        let cents = hundredths % 100
        return "\(hundredths / 100)." + (cents < 10 ? "0\(cents)" : "\(cents)")
    }
}

/// What an administrator defines a ticket to be.
public struct TicketDefinition: Sendable, Hashable, Codable {
    /// Its name (1 to ``WatchPartyEvents/maxTicketNameCharacters`` characters).
    public var name: String
    /// Its price.
    public var price: Price
    /// What it gives (at most ``WatchPartyEvents/maxTicketDescriptionCharacters`` characters).
    public var description: String?
    /// Whether it is a voucher (a ticket given, not sold).
    public var isVoucher: Bool

    /// Creates a definition.
    public init(name: String, price: Price, description: String?, isVoucher: Bool) {
        self.name = name
        self.price = price
        self.description = description
        self.isVoucher = isVoucher
    }

    /// The first field that breaks a rule, with why; nil when all hold.
    public func problem() -> (field: String, message: String)? {
        if !WatchPartyEvents.isBoundedText(name, maxCharacters: WatchPartyEvents.maxTicketNameCharacters) {
            return ("name", "name must be 1 to \(WatchPartyEvents.maxTicketNameCharacters) characters, without control characters")
        }
        if let problem = price.problem { return ("price", problem) }
        if let description,
            !WatchPartyEvents.isBoundedText(description, maxCharacters: WatchPartyEvents.maxTicketDescriptionCharacters, newlines: true)
        {
            return (
                "description",
                "description must be 1 to \(WatchPartyEvents.maxTicketDescriptionCharacters) characters, without control characters but newlines"
            )
        }
        return nil
    }

    func encode(to writer: inout BinaryWriter) {
        writer.write(name)
        writer.write(price.hundredths)
        writer.write(price.currency)
        writer.writeOptional(description) { $0.write($1) }
        writer.write(isVoucher)
    }

    init(from reader: inout BinaryReader) throws(DomainCodecError) {
        name = try reader.readString()
        price = Price(hundredths: try reader.readInt(), currency: try reader.readString())
        description = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        isVoucher = try reader.readBool()
    }
}

/// An event that carries a ticket's whole definition (``TicketCreated``, ``TicketChanged``):
/// the stream, the checks and the codec the two share.
public protocol TicketDefinitionEvent: DomainEvent {
    /// The ticket.
    var ticketId: UUID { get }
    /// Its whole definition.
    var ticket: TicketDefinition { get }
    /// Creates the event.
    init(ticketId: UUID, ticket: TicketDefinition)
}

extension TicketDefinitionEvent {
    public var stream: String { WatchPartyEvents.ticketStream(ticketId) }
    public func validate() throws(DomainCodecError) { if let problem = ticket.problem() { throw DomainCodecError(problem.message) } }
    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(ticketId)
        ticket.encode(to: &writer)
    }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        let ticketId = try reader.readUUID()
        self.init(ticketId: ticketId, ticket: try TicketDefinition(from: &reader))
    }
}

/// An administrator created a ticket.
///
/// Schema history: 1 `ticketId`, `ticket` (name, price, description, is-voucher).
public struct TicketCreated: TicketDefinitionEvent {
    public static let eventType = "ticket.created"
    public static let schemaVersion: UInt8 = 1
    /// The new ticket.
    public var ticketId: UUID
    /// What it is.
    public var ticket: TicketDefinition

    /// Creates the event.
    public init(ticketId: UUID, ticket: TicketDefinition) {
        self.ticketId = ticketId
        self.ticket = ticket
    }
}

/// An administrator changed a ticket: the event holds the whole new definition.
///
/// Schema history: 1 `ticketId`, `ticket`.
public struct TicketChanged: TicketDefinitionEvent {
    public static let eventType = "ticket.changed"
    public static let schemaVersion: UInt8 = 1
    /// The ticket.
    public var ticketId: UUID
    /// What it is now.
    public var ticket: TicketDefinition

    /// Creates the event.
    public init(ticketId: UUID, ticket: TicketDefinition) {
        self.ticketId = ticketId
        self.ticket = ticket
    }
}

/// When and what a party shows, and to how many.
public struct PartySchedule: Sendable, Hashable, Codable {
    /// The movie: a video of the catalogue (`PUT /videos/:videoId`).
    public var movieId: String
    /// The movie's length when the party was scheduled or last changed, in milliseconds:
    /// what the party's video positions are bounded by.
    public var movieDurationMillis: UInt64
    /// When it starts.
    public var startTime: UTCTime
    /// When it ends (after the start, at most ``WatchPartyEvents/maxPartyLength`` later).
    public var endTime: UTCTime
    /// Whether it is featured.
    public var isFeatured: Bool
    /// The most tickets it sells, and the most users online in its room at once.
    public var maxParticipants: UInt64

    /// Creates a schedule.
    public init(movieId: String, movieDurationMillis: UInt64, startTime: Timestamp, endTime: Timestamp, isFeatured: Bool, maxParticipants: UInt64) {
        self.movieId = movieId
        self.movieDurationMillis = movieDurationMillis
        self.startTime = UTCTime(startTime)
        self.endTime = UTCTime(endTime)
        self.isFeatured = isFeatured
        self.maxParticipants = maxParticipants
    }

    /// The first field that breaks a rule of the schedule itself, with why; nil when all hold.
    public func problem() -> (field: String, message: String)? {
        if let problem = ClientIdentifier.problem(movieId) { return ("movie_id", "movie_id \(problem)") }
        guard (1...WatchPartyEvents.maxParticipantsLimit).contains(maxParticipants) else {
            return ("max_participants", "max_participants must be 1 to \(WatchPartyEvents.maxParticipantsLimit)")
        }
        guard endTime > startTime else { return ("end_time", "end_time must be after start_time") }
        guard endTime.timestamp.microsecondsSince1970 - startTime.timestamp.microsecondsSince1970 <= WatchPartyEvents.maxPartyLength.microseconds
        else {
            return ("end_time", "a party lasts at most \(WatchPartyEvents.maxPartyLength.components.seconds / 86_400) days")
        }
        guard (1...Timecode.maxMilliseconds).contains(movieDurationMillis) else { return ("movie_id", "the movie's length is out of range") }
        return nil
    }

    func encode(to writer: inout BinaryWriter) {
        writer.write(movieId)
        writer.write(movieDurationMillis)
        writer.write(startTime)
        writer.write(endTime)
        writer.write(isFeatured)
        writer.write(maxParticipants)
    }

    init(from reader: inout BinaryReader) throws(DomainCodecError) {
        movieId = try reader.readString()
        movieDurationMillis = try reader.readUInt()
        startTime = try reader.readUTCTime()
        endTime = try reader.readUTCTime()
        isFeatured = try reader.readBool()
        maxParticipants = try reader.readUInt()
    }
}

/// An event that carries a party's whole schedule (``WatchPartyScheduled``,
/// ``WatchPartyChanged``): the stream, the checks and the codec the two share.
public protocol PartyScheduleEvent: DomainEvent {
    /// The party.
    var partyId: UUID { get }
    /// Its whole schedule.
    var schedule: PartySchedule { get }
    /// Creates the event.
    init(partyId: UUID, schedule: PartySchedule)
}

extension PartyScheduleEvent {
    public var stream: String { WatchPartyEvents.partyStream(partyId) }
    public func validate() throws(DomainCodecError) { if let problem = schedule.problem() { throw DomainCodecError(problem.message) } }
    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(partyId)
        schedule.encode(to: &writer)
    }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        let partyId = try reader.readUUID()
        self.init(partyId: partyId, schedule: try PartySchedule(from: &reader))
    }
}

/// An administrator scheduled a watch party.
///
/// Schema history: 1 `partyId`, `schedule`.
public struct WatchPartyScheduled: PartyScheduleEvent {
    public static let eventType = "watch-party.scheduled"
    public static let schemaVersion: UInt8 = 1
    /// The new party.
    public var partyId: UUID
    /// Its schedule.
    public var schedule: PartySchedule

    /// Creates the event.
    public init(partyId: UUID, schedule: PartySchedule) {
        self.partyId = partyId
        self.schedule = schedule
    }
}

/// An administrator changed a party: the event holds the whole new schedule.
///
/// Schema history: 1 `partyId`, `schedule`.
public struct WatchPartyChanged: PartyScheduleEvent {
    public static let eventType = "watch-party.changed"
    public static let schemaVersion: UInt8 = 1
    /// The party.
    public var partyId: UUID
    /// Its schedule now.
    public var schedule: PartySchedule

    /// Creates the event.
    public init(partyId: UUID, schedule: PartySchedule) {
        self.partyId = partyId
        self.schedule = schedule
    }
}

/// An administrator cancelled a party: it never becomes ongoing, sells no more tickets,
/// and its ticket holders see it as `cancelled`.
///
/// Schema history: 1 `partyId`.
public struct WatchPartyCancelled: DomainEvent {
    public static let eventType = "watch-party.cancelled"
    public static let schemaVersion: UInt8 = 1
    /// The party.
    public var partyId: UUID

    /// Creates the event.
    public init(partyId: UUID) { self.partyId = partyId }

    public var stream: String { WatchPartyEvents.partyStream(partyId) }
    public func encodeFields(to writer: inout BinaryWriter) { writer.write(partyId) }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) { partyId = try reader.readUUID() }
}

/// The scheduler saw the clock reach a party's start: `upcoming` → `ongoing`. Appended once
/// per party, however late (a server that was down at the time appends it on start).
///
/// Schema history: 1 `partyId`, `startTime` (the scheduled start, not the append's time).
public struct WatchPartyStarted: DomainEvent {
    public static let eventType = "watch-party.started"
    public static let schemaVersion: UInt8 = 1
    /// The party.
    public var partyId: UUID
    /// The start it reached.
    public var startTime: UTCTime

    /// Creates the event.
    public init(partyId: UUID, startTime: Timestamp) {
        self.partyId = partyId
        self.startTime = UTCTime(startTime)
    }

    public var stream: String { WatchPartyEvents.partyStream(partyId) }
    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(partyId)
        writer.write(startTime)
    }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        partyId = try reader.readUUID()
        startTime = try reader.readUTCTime()
    }
}

/// The scheduler saw the clock reach a party's end: `ongoing` → `finished`, once per party.
///
/// Schema history: 1 `partyId`, `endTime` (the scheduled end).
public struct WatchPartyFinished: DomainEvent {
    public static let eventType = "watch-party.finished"
    public static let schemaVersion: UInt8 = 1
    /// The party.
    public var partyId: UUID
    /// The end it reached.
    public var endTime: UTCTime

    /// Creates the event.
    public init(partyId: UUID, endTime: Timestamp) {
        self.partyId = partyId
        self.endTime = UTCTime(endTime)
    }

    public var stream: String { WatchPartyEvents.partyStream(partyId) }
    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(partyId)
        writer.write(endTime)
    }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        partyId = try reader.readUUID()
        endTime = try reader.readUTCTime()
    }
}

/// A user bought a ticket to a party (the spec's TicketPurchase; its date is the event's
/// recorded-at time).
///
/// Schema history: 1 `purchaseId`, `partyId`, `ticketId`, `userId`, `idempotencyKey`.
public struct TicketPurchased: DomainEvent {
    public static let eventType = "watch-party.ticket-purchased"
    public static let schemaVersion: UInt8 = 1
    /// The purchase.
    public var purchaseId: UUID
    /// The party.
    public var partyId: UUID
    /// The ticket bought.
    public var ticketId: UUID
    /// The buyer.
    public var userId: String
    /// The request's `Idempotency-Key`, when it had one: a retry with the same key answers
    /// this purchase again.
    public var idempotencyKey: String?

    /// Creates the event.
    public init(purchaseId: UUID, partyId: UUID, ticketId: UUID, userId: String, idempotencyKey: String?) {
        self.purchaseId = purchaseId
        self.partyId = partyId
        self.ticketId = ticketId
        self.userId = userId
        self.idempotencyKey = idempotencyKey
    }

    public var stream: String { WatchPartyEvents.partyStream(partyId) }
    public func validate() throws(DomainCodecError) {
        try UserSessionEvents.validateUserId(userId)
        if let idempotencyKey, !WatchPartyEvents.isIdempotencyKey(idempotencyKey) {
            throw DomainCodecError("idempotencyKey must be 1 to \(WatchPartyEvents.maxIdempotencyKeyBytes) visible ASCII characters")
        }
    }
    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(purchaseId)
        writer.write(partyId)
        writer.write(ticketId)
        writer.write(userId)
        writer.writeOptional(idempotencyKey) { $0.write($1) }
    }
    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        purchaseId = try reader.readUUID()
        partyId = try reader.readUUID()
        ticketId = try reader.readUUID()
        userId = try reader.readString()
        idempotencyKey = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
    }
}

/// What happened in a party's room: the spec's WatchPartyLog `event_type`.
public enum PartyLogEventType: UInt8, NamedValue {
    /// A user joined the room.
    case join = 0
    /// A user left it.
    case leave = 1
    /// A chat message.
    case message = 2
    /// Someone pressed play.
    case play = 3
    /// Someone paused.
    case pause = 4
    /// Someone moved the film to another position.
    case seek = 5

    /// The name the spec and clients use.
    public var name: String {
        switch self {
        case .join: "join"
        case .leave: "leave"
        case .message: "message"
        case .play: "play"
        case .pause: "pause"
        case .seek: "seek"
        }
    }

    /// Whether it is a player action (play, pause or seek).
    public var isPlayerAction: Bool { self == .play || self == .pause || self == .seek }

    /// Decodes the name (see ``NamedValue/init(nameFrom:)``).
    public init(from decoder: any Decoder) throws { try self.init(nameFrom: decoder) }

    /// Encodes the name.
    public func encode(to encoder: any Encoder) throws { try encodeName(to: encoder) }
}

/// Something happened in a party's room: the spec's WatchPartyLog entry. Stored before
/// anyone is told of it. Its `real_time` is the event's recorded-at time; its `event_time`
/// and `video_time` are derived from that and the party by the read model
/// (``WatchParty/logEntry(_:at:position:)``), so they are the same in every fold.
///
/// Schema history: 1 `entryId`, `partyId`, `userId`, `eventType`, `username`, `message`,
/// `videoTimeMillis`.
public struct PartyLogged: DomainEvent {
    public static let eventType = "watch-party.logged"
    public static let schemaVersion: UInt8 = 1
    /// The entry (the spec's `id`).
    public var entryId: UUID
    /// The party.
    public var partyId: UUID
    /// Who.
    public var userId: String
    /// What.
    public var eventType: PartyLogEventType
    /// The display name a joining user gave (`join`).
    public var username: String?
    /// The chat message (`message`).
    public var message: String?
    /// The film position the action set, in milliseconds (`seek`; `play` and `pause` when
    /// the client said where).
    public var videoTimeMillis: UInt64?

    /// Creates the event.
    public init(
        entryId: UUID,
        partyId: UUID,
        userId: String,
        eventType: PartyLogEventType,
        username: String? = nil,
        message: String? = nil,
        videoTimeMillis: UInt64? = nil
    ) {
        self.entryId = entryId
        self.partyId = partyId
        self.userId = userId
        self.eventType = eventType
        self.username = username
        self.message = message
        self.videoTimeMillis = videoTimeMillis
    }

    public var stream: String { WatchPartyEvents.logStream(partyId) }

    public func validate() throws(DomainCodecError) {
        try UserSessionEvents.validateUserId(userId)
        if let problem = PartyLogged.problem(eventType: eventType, username: username, message: message, videoTimeMillis: videoTimeMillis) {
            throw DomainCodecError(problem.message)
        }
    }

    /// The first field of an entry that breaks a rule, with why; nil when all hold. A
    /// message has a text; a seek has a position; other types carry nothing they don't use.
    public static func problem(
        eventType: PartyLogEventType,
        username: String?,
        message: String?,
        videoTimeMillis: UInt64?
    ) -> (field: String, message: String)? {
        if let username, !WatchPartyEvents.isBoundedText(username, maxCharacters: WatchPartyEvents.maxUsernameCharacters) {
            return ("username", "username must be 1 to \(WatchPartyEvents.maxUsernameCharacters) characters, without control characters")
        }
        if username != nil && eventType != .join { return ("username", "only a join carries a username") }
        if eventType == .message {
            guard let message, WatchPartyEvents.isBoundedText(message, maxCharacters: WatchPartyEvents.maxMessageCharacters, newlines: true)
            else {
                return (
                    "message",
                    "message must be 1 to \(WatchPartyEvents.maxMessageCharacters) characters, without control characters but newlines"
                )
            }
        } else if message != nil {
            return ("message", "only a message entry carries a message")
        }
        if eventType == .seek && videoTimeMillis == nil { return ("videoTime", "a seek needs videoTime") }
        if videoTimeMillis != nil && !eventType.isPlayerAction { return ("videoTime", "only a player action carries videoTime") }
        if let videoTimeMillis, videoTimeMillis > Timecode.maxMilliseconds { return ("videoTime", "videoTime is out of range") }
        return nil
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(entryId)
        writer.write(partyId)
        writer.write(userId)
        writer.write(eventType.rawValue)
        writer.writeOptional(username) { $0.write($1) }
        writer.writeOptional(message) { $0.write($1) }
        writer.writeOptional(videoTimeMillis) { $0.write($1) }
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        entryId = try reader.readUUID()
        partyId = try reader.readUUID()
        userId = try reader.readString()
        let raw = try reader.readByte()
        guard let type = PartyLogEventType(rawValue: raw) else { throw DomainCodecError("unknown party log event type \(raw)") }
        eventType = type
        username = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        message = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        videoTimeMillis = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUInt() }
    }
}
