public import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A watch party's analytics (issue 16): who came, how many were in the room along the
/// party, how much they chatted and where in the film, and what they did with the player.
///
/// Participants are users (one user on two devices counts once), as the party's
/// `participants_online` counts them. Times along the party are milliseconds from its start
/// (negative in the lobby), as the party log's `event_time`.
public struct PartyAnalytics: Sendable, Hashable {
    /// The width of a chat moment: messages are counted per 10 seconds of the film.
    public static let momentMillis: UInt64 = 10_000
    /// How many chat moments an answer lists.
    public static let momentCount = 5
    /// How many members an answer lists.
    public static let memberCount = 10

    /// The minute an event time falls in (minute 0 starts at the party's start; -1 is the
    /// lobby's last).
    public static func minute(of millis: Int64) -> Int64 { millis >= 0 ? millis / 60_000 : -((-millis + 59_999) / 60_000) }

    /// One minute along the party.
    public struct Minute: Sendable, Hashable {
        /// Minutes from the start (negative in the lobby).
        public var minute: Int64
        /// The most participants online at once during the minute.
        public var participants: UInt64
        /// Chat messages sent in it.
        public var messages: UInt64
        /// Joins and leaves in it (connections, not users).
        public var joins: UInt64
        public var leaves: UInt64
        /// Plays, pauses and seeks in it.
        public var playerActions: UInt64

        /// A minute.
        public init(minute: Int64, participants: UInt64, messages: UInt64, joins: UInt64, leaves: UInt64, playerActions: UInt64) {
            self.minute = minute
            self.participants = participants
            self.messages = messages
            self.joins = joins
            self.leaves = leaves
            self.playerActions = playerActions
        }
    }

    /// A stretch of the film (``momentMillis`` long) and the chat sent while the film was
    /// there: from the start on, and before the film's end (the lobby's chat and what is
    /// said after the credits are at no moment of the film).
    public struct ChatMoment: Sendable, Hashable {
        /// Where it starts in the film, in milliseconds.
        public var videoFromMillis: UInt64
        /// Where it ends (exclusive).
        public var videoToMillis: UInt64
        /// Messages sent while the party's film was in it.
        public var messages: UInt64

        /// A moment.
        public init(videoFromMillis: UInt64, videoToMillis: UInt64, messages: UInt64) {
            self.videoFromMillis = videoFromMillis
            self.videoToMillis = videoToMillis
            self.messages = messages
        }
    }

    /// One of the most active members.
    public struct Member: Sendable, Hashable {
        public var userId: String
        /// The display name of their last join.
        public var username: String?
        public var messages: UInt64
        public var playerActions: UInt64
        /// Whether they hold a ticket (administrators may join without one).
        public var holdsTicket: Bool
        /// Whether they are in the room now (never once it has closed).
        public var online: Bool
    }

    /// Plays, pauses and seeks over the whole party.
    public struct PlayerActions: Sendable, Hashable {
        public var play: UInt64
        public var pause: UInt64
        public var seek: UInt64

        /// The counts.
        public init(play: UInt64, pause: UInt64, seek: UInt64) {
            self.play = play
            self.pause = pause
            self.seek = seek
        }
    }

    public var partyId: UUID
    /// The party's status at the answer's time.
    public var status: PartyStatus
    public var startTime: Timestamp
    public var endTime: Timestamp
    /// Tickets sold.
    public var ticketsSold: UInt64
    /// Ticket holders who joined at least once.
    public var attendance: UInt64
    /// Users who joined at least once (ticket holders and administrators).
    public var participants: UInt64
    /// Participants in the room now: 0 once the party has finished or was cancelled (the
    /// room is closed), as the party's own `participants_online`.
    public var participantsOnline: UInt64
    /// The most participants online at once, and when that was first reached (nil when no one came).
    public var peakParticipants: UInt64
    public var peakAt: Timestamp?
    /// Participants online on average from the start to the end (or to now while the party
    /// runs, or to its cancellation), weighted by time; nil before the start.
    public var averageParticipants: Double?
    /// Participants still online at the end; nil until the party has finished (and for a
    /// cancelled one).
    public var stayedToEnd: UInt64?
    public var messages: UInt64
    public var joins: UInt64
    public var leaves: UInt64
    public var playerActions: PlayerActions
    /// Every minute from the lobby's first activity (or the start) to the end, or to now
    /// while the party runs, or to its cancellation.
    public var timeline: [Minute]
    /// The film's stretches with the most chat, most first (at most ``momentCount``).
    public var chatMoments: [ChatMoment]
    /// The members with the most messages, then player actions, then by user id (at most
    /// ``memberCount``): those who joined or did anything.
    public var topMembers: [Member]
}

/// Answers ``PartyAnalytics`` from ``PartyAnalyticsProjector``'s rows in the asynchronous
/// views: O(minutes of the party + chat moments + ``PartyAnalytics/memberCount``) reads.
public struct PartyAnalyticsQueries: Sendable {
    /// The asynchronous views.
    public let projections: AsyncProjections
    private let name = PartyAnalyticsProjector().name

    /// Queries reading the last committed state of `projections`.
    public init(_ projections: AsyncProjections) { self.projections = projections }

    /// The analytics of `party` (its schedule and status as the caller read them) at `now`.
    /// A party the asynchronous fold has not reached yet answers with zeros. Throws
    /// ``ViewError`` when the views have no party-analytics projector.
    public func analytics(of party: WatchParty, now: Timestamp) throws -> PartyAnalytics {
        try projections.read(name) { views in
            let party16 = ViewKey.uuid(party.partyId)
            let tally = try PartyAnalyticsProjector.tally(party16, in: views)
            let status = party.status(at: now)
            // The room closes at the end, or when the party is cancelled: from then on nobody
            // is in it (the log takes no leaves then) and the timeline and average stop.
            let closed = status == .finished || status == .cancelled
            let closesMillis = min(party.durationMillis, party.cancelledAt.map { party.eventTimeMillis(at: $0) } ?? .max)
            let nowMillis = party.eventTimeMillis(at: now)
            let elapsed = min(max(nowMillis, 0), closesMillis)
            var average: Double?
            if elapsed > 0 {
                let integral =
                    tally.onlineMillis + tally.online * PartyTally.overlap(from: tally.integratedToMillis, to: elapsed, durationMillis: closesMillis)
                average = Double(integral) / Double(elapsed)
            }
            return PartyAnalytics(
                partyId: party.partyId,
                status: status,
                startTime: party.startTime,
                endTime: party.endTime,
                ticketsSold: tally.ticketsSold,
                attendance: tally.attendance,
                participants: tally.participants,
                participantsOnline: closed ? 0 : tally.online,
                peakParticipants: tally.peakOnline,
                peakAt: tally.peakOnline > 0 ? party.startTime.adding(millis: tally.peakAtMillis) : nil,
                averageParticipants: average,
                stayedToEnd: status == .finished ? tally.onlineAtEnd ?? tally.online : nil,
                messages: tally.messages,
                joins: tally.joins,
                leaves: tally.leaves,
                playerActions: .init(play: tally.playerActions[0], pause: tally.playerActions[1], seek: tally.playerActions[2]),
                timeline: try timeline(party16, last: PartyAnalytics.minute(of: min(nowMillis, closesMillis - 1)), views),
                chatMoments: try chatMoments(party16, views),
                topMembers: try topMembers(party16, roomOpen: !closed, views)
            )
        }
    }

    /// Every minute from the first row (or minute 0) through `last`.
    private func timeline(_ party16: [UInt8], last: Int64, _ views: ViewTransaction) throws -> [PartyAnalytics.Minute] {
        var rows: [(minute: Int64, tally: MinuteTally)] = []
        try views.forEach("minutes", prefix: party16) { key, value in
            let minute = WatchPartiesProjector.eventTime(fromKey: key[16..<24])
            guard minute <= last else { return false }
            rows.append((minute, try value.withUnsafeBytes { try MinuteTally(decoding: $0) }))
            return true
        }
        let first = min(rows.first?.minute ?? 0, 0)
        guard last >= first else { return [] }
        var minutes: [PartyAnalytics.Minute] = []
        minutes.reserveCapacity(Int(last - first + 1))
        var index = rows.startIndex
        var online: UInt64 = 0
        for minute in first...last {
            if index < rows.endIndex, rows[index].minute == minute {
                let row = rows[index]
                index += 1
                online = row.tally.closingOnline
                minutes.append(
                    .init(
                        minute: minute,
                        participants: row.tally.peakOnline,
                        messages: row.tally.messages,
                        joins: row.tally.joins,
                        leaves: row.tally.leaves,
                        playerActions: row.tally.playerActions
                    )
                )
            } else {
                minutes.append(.init(minute: minute, participants: online, messages: 0, joins: 0, leaves: 0, playerActions: 0))
            }
        }
        return minutes
    }

    private func chatMoments(_ party16: [UInt8], _ views: ViewTransaction) throws -> [PartyAnalytics.ChatMoment] {
        var moments: [PartyAnalytics.ChatMoment] = []
        try views.forEach("chat_moments", prefix: party16) { key, value in
            let start = ViewKey.integer(key[16..<24]) * PartyAnalytics.momentMillis
            moments.append(.init(videoFromMillis: start, videoToMillis: start + PartyAnalytics.momentMillis, messages: ViewKey.integer(value)))
            return true
        }
        // Most messages first; of equals, the earlier in the film.
        moments.sort { ($0.messages, $1.videoFromMillis) > ($1.messages, $0.videoFromMillis) }
        return Array(moments.prefix(PartyAnalytics.momentCount))
    }

    private func topMembers(_ party16: [UInt8], roomOpen: Bool, _ views: ViewTransaction) throws -> [PartyAnalytics.Member] {
        var members: [PartyAnalytics.Member] = []
        try views.forEach("member_rank", prefix: party16) { key, _ in
            guard key.count > 32 else { return true }
            let userId = String(decoding: key[32...], as: UTF8.self)
            guard let tally = try PartyAnalyticsProjector.member(party16 + ViewKey.string(userId), in: views) else { return true }
            members.append(
                .init(
                    userId: userId,
                    username: tally.username,
                    messages: tally.messages,
                    playerActions: tally.playerActions,
                    holdsTicket: tally.holdsTicket,
                    online: roomOpen && tally.connections > 0
                )
            )
            return members.count < PartyAnalytics.memberCount
        }
        return members
    }
}

extension Timestamp {
    /// This time moved by `millis` milliseconds.
    func adding(millis: Int64) -> Timestamp { Timestamp(microsecondsSince1970: microsecondsSince1970 + millis * 1_000) }
}
