import EventLog
import Foundation
import Projections
import Testing
import WatchDomain

@testable import PlayheadServer

/// ``PartyReplayText/ndjsonLine(_:)`` is written by hand for speed; it must stay byte for
/// byte what `JSONEncoder` writes of ``PartyReplayItemBody``, which clients already parse.
@Suite("Replay lines")
struct PartyReplayTextTests {
    static let awkward = [
        "", "plain", "quote \" and backslash \\ and slash /", "line\nbreak\r\ttab\u{8}\u{C}", "\u{0}\u{1}\u{1F}\u{7F}",
        "émoji 🎬🍿 ✨", "\u{2028}\u{2029}", "<script>&amp;</script>", String(repeating: "é", count: 300),
    ]

    @Test("every kind of entry, awkward text and times: the same bytes as JSONEncoder's")
    func sameAsJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = PartyReplayText()
        var random = SystemRandomNumberGenerator()
        let times: [Int64] = [0, 1, -1, 999, 1_000, -1_000, 1_500, -60_000, 123_456, 3_600_001, 604_800_000, -900_000, 100, 10]
        for index in 0..<3_000 {
            let types: [PartyLogEventType] = [.join, .leave, .message, .play, .pause, .seek]
            let type = types[index % types.count]
            let words = Self.awkward[Int.random(in: 0..<Self.awkward.count, using: &random)]
            let entry = PartyLogEntry(
                entryId: UUID(),
                partyId: UUID(),
                userId: Bool.random(using: &random) ? "alice" : words.isEmpty ? "x" : words,
                eventType: type,
                username: type == .join && Bool.random(using: &random) ? words : nil,
                message: type == .message ? words : nil,
                realTime: Timestamp(microsecondsSince1970: Int64.random(in: 1_700_000_000_000_000...1_900_000_000_000_000, using: &random)),
                eventTimeMillis: index < times.count ? times[index] : Int64.random(in: -900_000...604_800_000, using: &random),
                videoTimeMillis: index < times.count ? UInt64(times[index].magnitude) : UInt64.random(in: 0...86_400_000, using: &random),
                position: UInt64(index + 1),
                playing: Bool.random(using: &random)
            )
            let participants: [PartyRoomState.Participant]? =
                type == .join || type == .leave
                ? (0..<Int.random(in: 0...3, using: &random)).map { .init(userId: "u\($0)", username: "U\($0)") } : nil
            let told = PartyRoomState.Told(entry: entry, username: words, participants: participants)
            let expected = String(decoding: try encoder.encode(PartyReplayItemBody(told)), as: UTF8.self)
            #expect(try text.ndjsonLine(told) == expected)
        }
    }
}

/// The analytics chart stays readable however long the party.
@Suite("Party analytics chart")
struct PartyAnalyticsChartTests {
    @Test("a week-long timeline is drawn in bins of whole minutes (the most online, the messages summed), at most 360 points")
    func longTimelinesAreBinned() {
        let week = (0..<10_095).map {
            PartyAnalytics.Minute(minute: Int64($0) - 15, participants: UInt64($0 % 7), messages: 1, joins: 0, leaves: 0, playerActions: 0)
        }
        let (bin, first, participants, messages) = PartyAnalyticsBody.binned(week)
        // The lobby's minute -15 is in the bin from -30: bins start at whole multiples of 30,
        // so that the axis's round times fall on them.
        #expect(bin == 30 && first == -30 && participants.count == 337 && participants.count <= PartyAnalyticsBody.chartPoints)
        #expect(messages.first == 15 && messages.reduce(0, +) == 10_095)
        #expect(participants.first == 6)
        #expect(first % Int64(bin) == 0, "bins start on round times")
        let short = (0..<120).map { PartyAnalytics.Minute(minute: Int64($0), participants: 1, messages: 2, joins: 0, leaves: 0, playerActions: 0) }
        #expect(PartyAnalyticsBody.binned(short).bin == 1)
    }
}
