public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Where a party is in its life, as the spec names it, plus `cancelled`.
public enum PartyStatus: UInt8, NamedValue {
    /// Before its start time.
    case upcoming = 0
    /// From its start time to its end time.
    case ongoing = 1
    /// From its end time on.
    case finished = 2
    /// Cancelled by an administrator: never ongoing again.
    case cancelled = 3

    /// The name clients send and receive.
    public var name: String {
        switch self {
        case .upcoming: "upcoming"
        case .ongoing: "ongoing"
        case .finished: "finished"
        case .cancelled: "cancelled"
        }
    }

    /// Decodes the name.
    public init(from decoder: any Decoder) throws { try self.init(nameFrom: decoder) }

    /// Encodes the name.
    public func encode(to encoder: any Encoder) throws { try encodeName(to: encoder) }
}

/// The film's state in a party's room: playing or paused, at a position, since a time.
public struct PlayerState: Sendable, Hashable {
    /// Whether the film is playing.
    public var playing: Bool
    /// Its position at ``since``, in milliseconds.
    public var videoTimeMillis: UInt64
    /// When it was at that position.
    public var since: Timestamp

    /// Creates a state.
    public init(playing: Bool, videoTimeMillis: UInt64, since: Timestamp) {
        self.playing = playing
        self.videoTimeMillis = videoTimeMillis
        self.since = since
    }

    /// The position at `time`, in milliseconds, never past `length`: playing, the film has
    /// moved on by the time that passed; paused, it has not.
    public func position(at time: Timestamp, length: UInt64) -> UInt64 {
        guard playing, time > since else { return min(videoTimeMillis, length) }
        let elapsed = UInt64((time.microsecondsSince1970 - since.microsecondsSince1970) / 1_000)
        return min(videoTimeMillis.addingReportingOverflow(elapsed).partialValue, length)
    }
}

/// A watch party as the read models keep it: its schedule, what happened to it, and the
/// figures the API shows.
public struct WatchParty: Sendable, Hashable {
    /// Its id.
    public var partyId: UUID
    /// Its schedule, as last set.
    public var schedule: PartySchedule
    /// When it was cancelled, if it was.
    public var cancelledAt: Timestamp?
    /// Whether the scheduler has logged its start.
    public var startLogged: Bool
    /// Whether the scheduler has logged its end.
    public var endLogged: Bool
    /// Tickets sold.
    public var ticketsSold: UInt64
    /// Users in its room now (one user on two devices counts once), from its log's joins and leaves.
    public var participantsOnline: UInt64
    /// The film's state as its last player action left it; nil before any, when the film
    /// is taken to play from 0 at the start time (a screening).
    public var player: PlayerState?
    /// Entries in its log.
    public var logEntries: UInt64
    /// When it was scheduled (server clock).
    public var createdAt: Timestamp
    /// When its schedule or state last changed (server clock).
    public var updatedAt: Timestamp

    /// The party a scheduling makes.
    public init(_ event: WatchPartyScheduled, at: Timestamp) {
        partyId = event.partyId
        schedule = event.schedule
        cancelledAt = nil
        startLogged = false
        endLogged = false
        ticketsSold = 0
        participantsOnline = 0
        player = nil
        logEntries = 0
        createdAt = at
        updatedAt = at
    }

    /// Its start time.
    public var startTime: Timestamp { schedule.startTime.timestamp }
    /// Its end time.
    public var endTime: Timestamp { schedule.endTime.timestamp }

    /// Its status at `now`: derived from the clock on every read, so never stale between
    /// two ticks of the scheduler (the spec's rules: ongoing once `now >= start_time`,
    /// finished once `now >= end_time`), and never behind what the log holds: a transition
    /// the scheduler logged stands even if the clock later jumps back before it.
    public func status(at now: Timestamp) -> PartyStatus {
        if cancelledAt != nil { return .cancelled }
        if endLogged || now >= endTime { return .finished }
        if startLogged || now >= startTime { return .ongoing }
        return .upcoming
    }

    /// When its room opens: ``WatchPartyEvents/lobbyWindow`` before the start.
    public var lobbyOpens: Timestamp {
        Timestamp(microsecondsSince1970: startTime.microsecondsSince1970 - WatchPartyEvents.lobbyWindow.microseconds)
    }

    /// Its length from start to end, in milliseconds.
    public var durationMillis: Int64 { (endTime.microsecondsSince1970 - startTime.microsecondsSince1970) / 1_000 }

    /// The event time of `time`: milliseconds from the start, rounded down (negative in the
    /// lobby), as the party log's `event_time`.
    public func eventTimeMillis(at time: Timestamp) -> Int64 {
        let micros = time.microsecondsSince1970 - startTime.microsecondsSince1970
        return micros >= 0 ? micros / 1_000 : -((-micros + 999) / 1_000)
    }

    /// The film's state at `time`: the last player action's, or before any, the screening's
    /// (paused at 0 until the start, then playing from 0).
    public func playerState(at time: Timestamp) -> PlayerState {
        if let player { return player }
        return PlayerState(playing: time >= startTime, videoTimeMillis: 0, since: startTime)
    }

    /// The film's position at `time`, in milliseconds.
    public func videoTime(at time: Timestamp) -> UInt64 {
        playerState(at: time).position(at: time, length: schedule.movieDurationMillis)
    }

    /// The log entry `event` makes when recorded at `at` (log position `position`): its
    /// `event_time` (milliseconds from the start, negative in the lobby) and `video_time`
    /// (where the film was; for a player action, where the action put it).
    public func logEntry(_ event: PartyLogged, at: Timestamp, position: UInt64) -> PartyLogEntry {
        let eventTimeMillis = eventTimeMillis(at: at)
        let videoTime =
            event.videoTimeMillis.map { min($0, schedule.movieDurationMillis) } ?? videoTime(at: at)
        let playing: Bool
        switch event.eventType {
        case .play: playing = true
        case .pause: playing = false
        default: playing = playerState(at: at).playing
        }
        return PartyLogEntry(
            entryId: event.entryId,
            partyId: event.partyId,
            userId: event.userId,
            eventType: event.eventType,
            username: event.username,
            message: event.message,
            realTime: at,
            eventTimeMillis: eventTimeMillis,
            videoTimeMillis: videoTime,
            position: position,
            playing: playing
        )
    }

    /// The film's state after `entry`, a player action (unchanged for other entries).
    public func player(after entry: PartyLogEntry) -> PlayerState? {
        switch entry.eventType {
        case .play, .pause, .seek: entry.playerState
        default: player
        }
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 128)
        writer.write(UInt8(1))
        writer.write(partyId)
        schedule.encode(to: &writer)
        writer.writeOptional(cancelledAt) { $0.write($1) }
        writer.write(startLogged)
        writer.write(endLogged)
        writer.write(ticketsSold)
        writer.write(participantsOnline)
        writer.writeOptional(player) { writer, player in
            writer.write(player.playing)
            writer.write(player.videoTimeMillis)
            writer.write(player.since)
        }
        writer.write(logEntries)
        writer.write(createdAt)
        writer.write(updatedAt)
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown watch party row version") }
        partyId = try reader.readUUID()
        schedule = try PartySchedule(from: &reader)
        cancelledAt = try reader.readOptional { reader throws(DomainCodecError) in try reader.readTimestamp() }
        startLogged = try reader.readBool()
        endLogged = try reader.readBool()
        ticketsSold = try reader.readUInt()
        participantsOnline = try reader.readUInt()
        player = try reader.readOptional { reader throws(DomainCodecError) in
            PlayerState(playing: try reader.readBool(), videoTimeMillis: try reader.readUInt(), since: try reader.readTimestamp())
        }
        logEntries = try reader.readUInt()
        createdAt = try reader.readTimestamp()
        updatedAt = try reader.readTimestamp()
    }
}

/// A ticket as the read models keep it.
public struct Ticket: Sendable, Hashable {
    /// Its id.
    public var ticketId: UUID
    /// What it is.
    public var definition: TicketDefinition
    /// When it was created (server clock).
    public var createdAt: Timestamp
    /// When it last changed (server clock).
    public var updatedAt: Timestamp

    /// Creates a ticket.
    public init(ticketId: UUID, definition: TicketDefinition, createdAt: Timestamp, updatedAt: Timestamp) {
        self.ticketId = ticketId
        self.definition = definition
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 96)
        writer.write(UInt8(1))
        writer.write(ticketId)
        definition.encode(to: &writer)
        writer.write(createdAt)
        writer.write(updatedAt)
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown ticket row version") }
        ticketId = try reader.readUUID()
        definition = try TicketDefinition(from: &reader)
        createdAt = try reader.readTimestamp()
        updatedAt = try reader.readTimestamp()
    }
}

/// A user's ticket to a party: the spec's TicketPurchase.
public struct TicketPurchase: Sendable, Hashable {
    /// Its id.
    public var purchaseId: UUID
    /// The buyer.
    public var userId: String
    /// The party.
    public var partyId: UUID
    /// The ticket bought.
    public var ticketId: UUID
    /// When it was bought (server clock).
    public var purchaseDate: Timestamp
    /// The `Idempotency-Key` it was bought with, if any.
    public var idempotencyKey: String?

    /// The purchase `event` makes, recorded at `at`.
    public init(_ event: TicketPurchased, at: Timestamp) {
        purchaseId = event.purchaseId
        userId = event.userId
        partyId = event.partyId
        ticketId = event.ticketId
        purchaseDate = at
        idempotencyKey = event.idempotencyKey
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 80)
        writer.write(UInt8(1))
        writer.write(purchaseId)
        writer.write(userId)
        writer.write(partyId)
        writer.write(ticketId)
        writer.write(purchaseDate)
        writer.writeOptional(idempotencyKey) { $0.write($1) }
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown purchase row version") }
        purchaseId = try reader.readUUID()
        userId = try reader.readString()
        partyId = try reader.readUUID()
        ticketId = try reader.readUUID()
        purchaseDate = try reader.readTimestamp()
        idempotencyKey = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
    }
}

/// One entry of a party's log: the spec's WatchPartyLog, with the film's position.
public struct PartyLogEntry: Sendable, Hashable {
    /// Its id.
    public var entryId: UUID
    /// The party.
    public var partyId: UUID
    /// Who.
    public var userId: String
    /// What.
    public var eventType: PartyLogEventType
    /// The display name a join gave.
    public var username: String?
    /// The chat message.
    public var message: String?
    /// When it was stored (the spec's `real_time`).
    public var realTime: Timestamp
    /// Milliseconds from the party's start (the spec's `event_time`; negative in the lobby).
    public var eventTimeMillis: Int64
    /// Where the film was, in milliseconds; for a player action, where it put the film.
    public var videoTimeMillis: UInt64
    /// Its log position, which orders entries of the same millisecond.
    public var position: UInt64
    /// Whether the film plays once this entry is in the log: set by a play or a pause, kept
    /// by a seek, and as the party left it for joins, leaves and messages. With
    /// ``videoTimeMillis`` and ``realTime`` it gives the film's state at the entry from the
    /// entry alone (what `sync_player` and a replay say).
    public var playing: Bool

    /// Creates an entry.
    public init(
        entryId: UUID,
        partyId: UUID,
        userId: String,
        eventType: PartyLogEventType,
        username: String?,
        message: String?,
        realTime: Timestamp,
        eventTimeMillis: Int64,
        videoTimeMillis: UInt64,
        position: UInt64,
        playing: Bool
    ) {
        self.entryId = entryId
        self.partyId = partyId
        self.userId = userId
        self.eventType = eventType
        self.username = username
        self.message = message
        self.realTime = realTime
        self.eventTimeMillis = eventTimeMillis
        self.videoTimeMillis = videoTimeMillis
        self.position = position
        self.playing = playing
    }

    /// The film's state once this entry is in the log.
    public var playerState: PlayerState { PlayerState(playing: playing, videoTimeMillis: videoTimeMillis, since: realTime) }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 96)
        writer.write(UInt8(2))
        writer.write(entryId)
        writer.write(partyId)
        writer.write(userId)
        writer.write(eventType.rawValue)
        writer.writeOptional(username) { $0.write($1) }
        writer.writeOptional(message) { $0.write($1) }
        writer.write(realTime)
        writer.write(eventTimeMillis)
        writer.write(videoTimeMillis)
        writer.write(position)
        writer.write(playing ? UInt8(1) : 0)
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 2 else { throw DomainCodecError("unknown party log row version") }
        entryId = try reader.readUUID()
        partyId = try reader.readUUID()
        userId = try reader.readString()
        let raw = try reader.readByte()
        guard let type = PartyLogEventType(rawValue: raw) else { throw DomainCodecError("unknown party log event type \(raw)") }
        eventType = type
        username = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        message = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        realTime = try reader.readTimestamp()
        eventTimeMillis = try reader.readInt()
        videoTimeMillis = try reader.readUInt()
        position = try reader.readUInt()
        playing = try reader.readByte() == 1
    }
}
