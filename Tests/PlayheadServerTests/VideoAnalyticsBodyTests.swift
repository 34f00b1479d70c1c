import EventLog
import Foundation
import Testing

@testable import PlayheadServer
@testable import Projections

/// ``VideoAnalyticsBody/Concurrent/json()`` is written by hand for speed; it must stay byte
/// for byte what `JSONEncoder` writes of the body, which clients already parse.
@Suite("Video analytics bodies")
struct VideoAnalyticsBodyTests {
    @Test("concurrent viewers: the same bytes as JSONEncoder's, for every video id, peak and length")
    func concurrentSameAsJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var random = SystemRandomNumberGenerator()
        let awkward: [String] = PartyReplayTextTests.awkward
        let ids: [String?] = [nil, "video-1", "a/b", awkward.joined(separator: "|")] + awkward.map { Optional($0) }
        let lengths = [0, 1, 2, 59, 1_440, 10_080]
        for (index, videoId) in ids.enumerated() {
            for length in lengths {
                let start = Timestamp(microsecondsSince1970: Int64.random(in: 0...1_900_000_000_000_000, using: &random) / 60_000_000 * 60_000_000)
                var minutes: [ConcurrentViewers.Minute] = []
                for offset in 0..<length {
                    // Zeros, small counts, and every width up to UInt64.max.
                    let viewers: UInt64
                    if offset % 7 == 0 {
                        viewers = 0
                    } else if offset % 11 == 0 {
                        viewers = UInt64.max >> UInt64(offset % 64)
                    } else {
                        viewers = UInt64.random(in: 0...12_345, using: &random)
                    }
                    let minuteStart = Timestamp(microsecondsSince1970: start.microsecondsSince1970 + Int64(offset) * 60_000_000)
                    minutes.append(ConcurrentViewers.Minute(start: minuteStart, viewers: viewers))
                }
                let peak = minutes.max { $0.viewers < $1.viewers }
                let viewers = ConcurrentViewers(
                    videoId: videoId,
                    minutes: minutes,
                    peak: peak?.viewers ?? 0,
                    peakAt: peak.flatMap { $0.viewers > 0 ? $0.start : nil }
                )
                let end = Timestamp(microsecondsSince1970: start.microsecondsSince1970 + Int64(max(length, 1)) * 60_000_000 - Int64(index))
                let body = VideoAnalyticsBody.Concurrent(viewers, from: start, to: end)
                let expected = try encoder.encode(body)
                #expect(body.json() == Array(expected), "\(String(decoding: body.json().prefix(300), as: UTF8.self))")
            }
        }
    }

    @Test("a video's summary: the same bytes as JSONEncoder's, for every kind of figure and none")
    func summarySameAsJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var random = SystemRandomNumberGenerator()
        let millis: [UInt64] = [0, 1, 10, 100, 999, 1_000, 1_001, 123_456, 2_627_771, 86_400_000, UInt64(1) << 53, UInt64.max]
        for round in 0..<200 {
            let range = try #require(DayRange(first: 20_000 + Int64(round), last: 20_000 + Int64(round) + Int64(round % 30)))
            let days = range.days.map { day in
                VideoSummary.Day(
                    day: day,
                    views: UInt64.random(in: 0...1_000, using: &random),
                    uniqueViewers: UInt64.random(in: 0...1_000, using: &random),
                    watchTimeMillis: round < millis.count ? millis[round] : UInt64.random(in: 0...10_000_000_000, using: &random),
                    countedPlays: UInt64.random(in: 0...1_000, using: &random),
                    completions: UInt64.random(in: 0...1_000, using: &random)
                )
            }
            let registered = round % 3 != 0
            let summary = VideoSummary(
                videoId: round % 5 == 0 ? PartyReplayTextTests.awkward[round % PartyReplayTextTests.awkward.count] : "video-\(round)",
                range: range,
                lengthMillis: registered ? millis[round % millis.count] : nil,
                views: UInt64.random(in: 0...100_000, using: &random),
                uniqueViewers: UInt64.random(in: 0...100_000, using: &random),
                watchTimeMillis: UInt64.random(in: 0...100_000_000_000, using: &random),
                averageViewDurationMillis: round % 4 == 0 ? nil : Double.random(in: 0...10_000_000, using: &random),
                averagePercentageViewed: registered ? [0, 50, 100, 1e-7, 123.456, 1e21, Double.random(in: 0...400, using: &random)][round % 7] : nil,
                countedPlays: UInt64.random(in: 0...100_000, using: &random),
                completions: UInt64.random(in: 0...100_000, using: &random),
                days: days
            )
            let body = VideoAnalyticsBody.Summary(summary)
            let expected = try encoder.encode(body)
            #expect(body.json() == Array(expected), "\(String(decoding: body.json().prefix(400), as: UTF8.self))")
        }
    }
}
