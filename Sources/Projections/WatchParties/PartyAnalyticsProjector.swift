public import EventLog
public import Views
import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Folds watch parties into the read models their analytics are answered from (issue 16),
/// behind the log's writer (an asynchronous projector, ``AsyncProjections``): the live
/// write path does not pay for it.
///
/// | database | key | value |
/// |---|---|---|
/// | `parties` | party id (16) | ``WatchParty``: its schedule and film state, to place each entry |
/// | `tallies` | party id (16) | ``PartyTally``: the party's running totals |
/// | `minutes` | party id (16), minute (8) | ``MinuteTally``: participants and activity in that minute |
/// | `members` | party id (16), user (length-prefixed) | ``MemberTally``: one user's part in it |
/// | `member_rank` | party id (16), ~messages (8), ~player actions (8), user (UTF-8) | empty: members, most active first, then by user id |
/// | `chat_moments` | party id (16), video time / ``PartyAnalytics/momentMillis`` (8) | messages (8 BE) sent while the film was there (not in the lobby, not after the film's end) |
///
/// Minutes count from the party's start (negative in the lobby) and are stored with the
/// sign bit flipped, as the party log's event times are, so that they sort in time order.
/// Every answer reads O(minutes of the party + chat moments + members listed) rows, never the log.
///
/// Entries are folded in log order, and their event times come from the server's clock at
/// the append, so they do not go back in time within a party; the participants-online
/// integral (for the average) relies on it.
public struct PartyAnalyticsProjector: Projector {
    public let name = "party-analytics"
    public let version: UInt32 = 2
    public let databases = ["parties", "tallies", "minutes", "members", "member_rank", "chat_moments"]
    public let eventTypePrefixes = ["watch-party."]

    /// Creates the projector.
    public init() {}

    private static let scheduled = Array(WatchPartyScheduled.eventType.utf8)
    private static let changed = Array(WatchPartyChanged.eventType.utf8)
    private static let purchased = Array(TicketPurchased.eventType.utf8)
    private static let logged = Array(PartyLogged.eventType.utf8)

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        if ViewKey.matches(type, Self.logged) {
            let event = try PartyLogged.decode(record.payload)
            guard var party = try WatchPartiesProjector.party(event.partyId, in: views) else { return }
            let entry = party.logEntry(event, at: record.recordedAt, position: record.position)
            party.player = party.player(after: entry)
            try WatchPartiesProjector.store(party, in: views)
            try Self.fold(entry, of: party, into: views)
        } else if ViewKey.matches(type, Self.purchased) {
            let event = try TicketPurchased.decode(record.payload)
            guard try WatchPartiesProjector.party(event.partyId, in: views) != nil else { return }
            let party16 = ViewKey.uuid(event.partyId)
            let memberKey = party16 + ViewKey.string(event.userId)
            var member = try Self.member(memberKey, in: views) ?? MemberTally()
            // One ticket per user and party, whatever a doctored import says.
            guard !member.holdsTicket else { return }
            member.holdsTicket = true
            var tally = try Self.tally(party16, in: views)
            tally.ticketsSold += 1
            if member.joined { tally.attendance += 1 }
            try views.put("members", memberKey, member.encoded())
            try views.put("tallies", party16, tally.encoded())
        } else if ViewKey.matches(type, Self.scheduled) {
            let event = try WatchPartyScheduled.decode(record.payload)
            guard try WatchPartiesProjector.party(event.partyId, in: views) == nil else { return }
            try WatchPartiesProjector.store(WatchParty(event, at: record.recordedAt), in: views)
        } else if ViewKey.matches(type, Self.changed) {
            let event = try WatchPartyChanged.decode(record.payload)
            guard var party = try WatchPartiesProjector.party(event.partyId, in: views) else { return }
            party.schedule = event.schedule
            try WatchPartiesProjector.store(party, in: views)
        }
    }

    /// Folds one log entry into the party's tallies.
    private static func fold(_ entry: PartyLogEntry, of party: WatchParty, into views: ViewTransaction) throws {
        let party16 = ViewKey.uuid(party.partyId)
        var tally = try tally(party16, in: views)
        let time = entry.eventTimeMillis
        tally.advance(to: time, durationMillis: party.durationMillis)
        if tally.onlineAtEnd == nil, time >= party.durationMillis { tally.onlineAtEnd = tally.online }

        let minuteKey = party16 + WatchPartiesProjector.eventTimeKey(PartyAnalytics.minute(of: time))
        var minute = try views.withValue("minutes", minuteKey) { try $0.map { try MinuteTally(decoding: $0) } } ?? MinuteTally(online: tally.online)
        let memberKey = party16 + ViewKey.string(entry.userId)
        var member = try self.member(memberKey, in: views) ?? MemberTally()
        let rankBefore = (key: member.rankKey, ranked: member.isRanked)

        switch entry.eventType {
        case .join:
            tally.joins += 1
            minute.joins += 1
            if let username = entry.username { member.username = username }
            if !member.joined {
                member.joined = true
                tally.participants += 1
                if member.holdsTicket { tally.attendance += 1 }
            }
            member.connections += 1
            if member.connections == 1 { tally.online += 1 }
        case .leave:
            tally.leaves += 1
            minute.leaves += 1
            if member.connections > 0 {
                member.connections -= 1
                if member.connections == 0 { tally.online -= 1 }
            }
        case .message:
            tally.messages += 1
            minute.messages += 1
            member.messages += 1
            // A moment of the film: not the lobby's chat (the film has not started) nor what
            // is said once it has ended.
            if time >= 0, entry.videoTimeMillis < party.schedule.movieDurationMillis {
                let momentKey = party16 + ViewKey.bigEndian(entry.videoTimeMillis / PartyAnalytics.momentMillis)
                try views.addToCounter("chat_moments", momentKey, 1)
            }
        case .play, .pause, .seek:
            tally.playerActions[Int(entry.eventType.rawValue - PartyLogEventType.play.rawValue)] += 1
            minute.playerActions += 1
            member.playerActions += 1
        }
        if tally.online > tally.peakOnline {
            tally.peakOnline = tally.online
            tally.peakAtMillis = time
        }
        minute.closingOnline = tally.online
        minute.peakOnline = max(minute.peakOnline, tally.online)

        if member.rankKey != rankBefore.key || member.isRanked != rankBefore.ranked {
            let user = Array(entry.userId.utf8)
            if rankBefore.ranked { try views.delete("member_rank", party16 + rankBefore.key + user) }
            if member.isRanked { try views.put("member_rank", party16 + member.rankKey + user, []) }
        }
        try views.put("members", memberKey, member.encoded())
        try views.put("minutes", minuteKey, minute.encoded())
        try views.put("tallies", party16, tally.encoded())
    }

    static func tally(_ party16: [UInt8], in views: ViewTransaction) throws -> PartyTally {
        try views.withValue("tallies", party16) { bytes in try bytes.map { try PartyTally(decoding: $0) } } ?? PartyTally()
    }

    static func member(_ key: [UInt8], in views: ViewTransaction) throws -> MemberTally? {
        try views.withValue("members", key) { bytes in try bytes.map { try MemberTally(decoding: $0) } }
    }
}

/// A party's running totals (row of `tallies`).
struct PartyTally: Hashable {
    var ticketsSold: UInt64 = 0
    /// Ticket holders who joined at least once.
    var attendance: UInt64 = 0
    /// Users who joined at least once (ticket holders or not: administrators need none).
    var participants: UInt64 = 0
    /// Users in the room now.
    var online: UInt64 = 0
    var peakOnline: UInt64 = 0
    /// When the peak was first reached, in milliseconds from the start.
    var peakAtMillis: Int64 = 0
    /// Users online when the party ended; nil until an entry at or after the end is folded
    /// (then the count before it; until then the answer takes ``online``).
    var onlineAtEnd: UInt64?
    /// The integral of the users online over the party's span from start to end, in
    /// user-milliseconds, up to ``integratedToMillis``.
    var onlineMillis: UInt64 = 0
    /// The event time the integral reaches; the users online have been ``online`` since.
    var integratedToMillis: Int64 = 0
    var joins: UInt64 = 0
    var leaves: UInt64 = 0
    var messages: UInt64 = 0
    /// Plays, pauses and seeks, in ``PartyLogEventType`` order.
    var playerActions: [UInt64] = [0, 0, 0]

    /// Extends the integral to `time` (clipped to the span from 0 to `durationMillis`) at
    /// the current number of users online.
    mutating func advance(to time: Int64, durationMillis: Int64) {
        onlineMillis += online * Self.overlap(from: integratedToMillis, to: time, durationMillis: durationMillis)
        integratedToMillis = max(integratedToMillis, time)
    }

    /// How many milliseconds of the span from `from` to `to` lie within 0 to `durationMillis`.
    static func overlap(from: Int64, to: Int64, durationMillis: Int64) -> UInt64 {
        let start = max(from, 0)
        let end = min(to, durationMillis)
        return end > start ? UInt64(end - start) : 0
    }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        writer.write(UInt8(1))
        for value in [ticketsSold, attendance, participants, online, peakOnline] { writer.write(value) }
        writer.write(peakAtMillis)
        writer.writeOptional(onlineAtEnd) { $0.write($1) }
        writer.write(onlineMillis)
        writer.write(integratedToMillis)
        for value in [joins, leaves, messages] + playerActions { writer.write(value) }
        return writer.bytes
    }

    init() {}

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown party tally version") }
        ticketsSold = try reader.readUInt()
        attendance = try reader.readUInt()
        participants = try reader.readUInt()
        online = try reader.readUInt()
        peakOnline = try reader.readUInt()
        peakAtMillis = try reader.readInt()
        onlineAtEnd = try reader.readOptional { (reader: inout BinaryReader) throws(DomainCodecError) in try reader.readUInt() }
        onlineMillis = try reader.readUInt()
        integratedToMillis = try reader.readInt()
        joins = try reader.readUInt()
        leaves = try reader.readUInt()
        messages = try reader.readUInt()
        playerActions = [try reader.readUInt(), try reader.readUInt(), try reader.readUInt()]
    }
}

/// One minute of a party (row of `minutes`), written for the minutes something happened in;
/// a minute without a row had the previous one's closing count online and no activity.
struct MinuteTally: Hashable {
    /// The most users online at once during the minute.
    var peakOnline: UInt64
    /// Users online at the end of the minute (at its last entry).
    var closingOnline: UInt64
    var joins: UInt64 = 0
    var leaves: UInt64 = 0
    var messages: UInt64 = 0
    var playerActions: UInt64 = 0

    /// A minute that opens with `online` users in the room.
    init(online: UInt64) {
        peakOnline = online
        closingOnline = online
    }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 16)
        writer.write(UInt8(1))
        for value in [peakOnline, closingOnline, joins, leaves, messages, playerActions] { writer.write(value) }
        return writer.bytes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown minute tally version") }
        peakOnline = try reader.readUInt()
        closingOnline = try reader.readUInt()
        joins = try reader.readUInt()
        leaves = try reader.readUInt()
        messages = try reader.readUInt()
        playerActions = try reader.readUInt()
    }
}

/// One user's part in a party (row of `members`): a ticket holder who never joined has one too.
struct MemberTally: Hashable {
    var username: String?
    var holdsTicket = false
    /// Whether they joined at least once.
    var joined = false
    /// Their connections in the room now.
    var connections: UInt64 = 0
    var messages: UInt64 = 0
    var playerActions: UInt64 = 0

    /// Whether they are in `member_rank`: once they joined or did anything.
    var isRanked: Bool { joined || messages > 0 || playerActions > 0 }

    /// Their place in `member_rank`: most messages first, then most player actions.
    var rankKey: [UInt8] { ViewKey.bigEndian(~messages) + ViewKey.bigEndian(~playerActions) }

    init() {}

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 32)
        writer.write(UInt8(1))
        writer.writeOptional(username) { $0.write($1) }
        writer.write(holdsTicket)
        writer.write(joined)
        for value in [connections, messages, playerActions] { writer.write(value) }
        return writer.bytes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown member tally version") }
        username = try reader.readOptional { (reader: inout BinaryReader) throws(DomainCodecError) in try reader.readString() }
        holdsTicket = try reader.readBool()
        joined = try reader.readBool()
        connections = try reader.readUInt()
        messages = try reader.readUInt()
        playerActions = try reader.readUInt()
    }
}
