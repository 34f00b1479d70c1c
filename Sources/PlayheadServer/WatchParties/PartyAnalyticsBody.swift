public import Charts
import EventLog
import Foundation
public import Hummingbird
public import Projections
import WatchDomain

/// A party's analytics as `GET /watch-parties/{id}/analytics` and `playhead query party`
/// show them (Docs/api.md): snake_case, times as ISO 8601, film positions in seconds, and
/// `null` for a figure that has no value yet (an average before the start, who stayed to
/// the end before the end).
public struct PartyAnalyticsBody: ResponseEncodable, Sendable {
    /// The analytics shown.
    public let analytics: PartyAnalytics

    /// The body of `analytics`.
    public init(_ analytics: PartyAnalytics) { self.analytics = analytics }

    enum Keys: String, CodingKey {
        case watchPartyId = "watch_party_id"
        case status
        case startTime = "start_time"
        case endTime = "end_time"
        case ticketsSold = "tickets_sold"
        case attendance
        case attendanceRate = "attendance_rate"
        case participants
        case participantsOnline = "participants_online"
        case peakParticipants = "peak_participants"
        case peakAt = "peak_at"
        case averageParticipants = "average_participants"
        case stayedToEnd = "stayed_to_end"
        case messages, joins, leaves
        case playerActions = "player_actions"
        case timeline
        case chatMoments = "chat_moments"
        case topMembers = "top_members"
    }

    struct Minute: Encodable {
        var minute: Int64
        var time: String
        var participants: UInt64
        var messages: UInt64
        var joins: UInt64
        var leaves: UInt64
        var playerActions: UInt64

        enum CodingKeys: String, CodingKey {
            case minute, time, participants, messages, joins, leaves
            case playerActions = "player_actions"
        }
    }

    struct Moment: Encodable {
        var videoFrom: Double
        var videoTo: Double
        var messages: UInt64

        enum CodingKeys: String, CodingKey {
            case messages
            case videoFrom = "video_from"
            case videoTo = "video_to"
        }
    }

    struct Member: Encodable {
        var userId: String
        var username: String?
        var messages: UInt64
        var playerActions: UInt64
        var holdsTicket: Bool
        var online: Bool

        enum CodingKeys: String, CodingKey {
            case username, messages, online
            case userId = "user_id"
            case playerActions = "player_actions"
            case holdsTicket = "holds_ticket"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(userId, forKey: .userId)
            try container.encode(username, forKey: .username)
            try container.encode(messages, forKey: .messages)
            try container.encode(playerActions, forKey: .playerActions)
            try container.encode(holdsTicket, forKey: .holdsTicket)
            try container.encode(online, forKey: .online)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        let analytics = analytics
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(analytics.partyId.uuidString.lowercased(), forKey: .watchPartyId)
        try container.encode(analytics.status.name, forKey: .status)
        try container.encode(ISO8601Micros.format(analytics.startTime), forKey: .startTime)
        try container.encode(ISO8601Micros.format(analytics.endTime), forKey: .endTime)
        try container.encode(analytics.ticketsSold, forKey: .ticketsSold)
        try container.encode(analytics.attendance, forKey: .attendance)
        let rate = analytics.ticketsSold > 0 ? Self.rounded(Double(analytics.attendance) / Double(analytics.ticketsSold), places: 4) : nil
        try container.encode(rate, forKey: .attendanceRate)
        try container.encode(analytics.participants, forKey: .participants)
        try container.encode(analytics.participantsOnline, forKey: .participantsOnline)
        try container.encode(analytics.peakParticipants, forKey: .peakParticipants)
        try container.encode(analytics.peakAt.map(ISO8601Micros.format), forKey: .peakAt)
        try container.encode(analytics.averageParticipants.map { Self.rounded($0, places: 2) }, forKey: .averageParticipants)
        try container.encode(analytics.stayedToEnd, forKey: .stayedToEnd)
        try container.encode(analytics.messages, forKey: .messages)
        try container.encode(analytics.joins, forKey: .joins)
        try container.encode(analytics.leaves, forKey: .leaves)
        let actions = analytics.playerActions
        try container.encode(["play": actions.play, "pause": actions.pause, "seek": actions.seek], forKey: .playerActions)
        let start = analytics.startTime.microsecondsSince1970
        try container.encode(
            analytics.timeline.map {
                Minute(
                    minute: $0.minute,
                    time: ISO8601Micros.format(Timestamp(microsecondsSince1970: start + $0.minute * 60_000_000)),
                    participants: $0.participants,
                    messages: $0.messages,
                    joins: $0.joins,
                    leaves: $0.leaves,
                    playerActions: $0.playerActions
                )
            },
            forKey: .timeline
        )
        try container.encode(
            analytics.chatMoments.map {
                Moment(videoFrom: Double($0.videoFromMillis) / 1_000, videoTo: Double($0.videoToMillis) / 1_000, messages: $0.messages)
            },
            forKey: .chatMoments
        )
        try container.encode(
            analytics.topMembers.map {
                Member(
                    userId: $0.userId,
                    username: $0.username,
                    messages: $0.messages,
                    playerActions: $0.playerActions,
                    holdsTicket: $0.holdsTicket,
                    online: $0.online
                )
            },
            forKey: .topMembers
        )
    }

    static func rounded(_ value: Double, places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (value * scale).rounded() / scale
    }

    /// The most points a chart draws: a longer timeline is drawn in bins of several minutes.
    static let chartPoints = 360

    /// `timeline` in bins of `bin` minutes (the smallest of 1, 2, 5, 10, 15, 30, 60, …
    /// that leaves at most ``chartPoints``): the most participants online in each, and the
    /// messages sent in it.
    static func binned(_ timeline: [PartyAnalytics.Minute]) -> (bin: Int, first: Int64, participants: [Double], messages: [Double]) {
        let bin = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1_440].first { timeline.count <= Self.chartPoints * $0 - $0 } ?? 1_440
        // Bins start at whole multiples of their width (the lobby's -15 in bins of 30 is in
        // the bin from -30), so that the axis's round times fall on them.
        let firstMinute = timeline.first?.minute ?? 0
        let first = Int64((Double(firstMinute) / Double(bin)).rounded(.down)) * Int64(bin)
        var participants: [Double] = []
        var messages: [Double] = []
        for minute in timeline {
            let index = Int((minute.minute - first) / Int64(bin))
            while participants.count <= index {
                participants.append(0)
                messages.append(0)
            }
            participants[index] = max(participants[index], Double(minute.participants))
            messages[index] += Double(minute.messages)
        }
        return (bin, first, participants, messages)
    }

    /// The chart of participants online and chat along the party's timeline, one point per
    /// minute, or per bin of 2, 5, 10, 15, 30, 60 minutes… when the party is longer than
    /// ``chartPoints`` minutes (the most online in the bin, the messages sent in it)
    /// (`?format=svg`, `--svg FILE`).
    public var chart: SVGChart {
        let timeline = analytics.timeline
        let (bin, first, participants, messages) = Self.binned(timeline)
        let per = bin == 1 ? "minute" : "\(bin) minutes"
        return SVGChart(
            title: "Watch party \(analytics.partyId.uuidString.lowercased().prefix(8)): participants and chat",
            xLabel: "time from the party's start (h:mm)",
            xStart: Double(first),
            xStep: Double(bin),
            xFormat: .minutes,
            leftLabel: "participants online",
            leftFormat: .count,
            rightLabel: "messages per \(per)",
            rightFormat: .count,
            series: [
                .init(name: "messages per \(per)", values: messages, style: .bars, axis: .right, color: "#f59e0b"),
                .init(name: "participants online", values: participants, style: .area, axis: .left, color: "#2563eb"),
            ]
        )
    }
}
