import ArgumentParser
import EventLog
import Foundation
import PlayheadCore
import PlayheadServer
import Projections
import Views

/// `playhead bench analytics --data-dir STORE`: the video-analytics answers' latency, in
/// process, on an existing store's asynchronous views (a `playhead demo` store;
/// `tools/check-analytics` runs it beside DuckDB on the same data).
struct VideoAnalyticsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Time the video-analytics answers (summary, retention, seeks, concurrent viewers, top videos) on a store's views.",
        discussion: """
            Each answer is asked --rounds times for every video of the store's catalogue over \
            --start-date to --end-date (concurrent viewers: the last day), in process and \
            read-only, and encoded as the API encodes it; prints one JSON object with p50 and p99 \
            per answer, in milliseconds.
            """
    )

    @Option(name: .customLong("data-dir"), help: "The store (its views must be folded: run serve or rebuild first).")
    var dataDirectory: String

    @Option(name: .customLong("start-date"), help: "The first day, YYYY-MM-DD.")
    var startDate: String

    @Option(name: .customLong("end-date"), help: "The last day, YYYY-MM-DD.")
    var endDate: String

    @Option(help: "Comma-separated video ids.")
    var videos: String

    @Option(help: "Times each answer is asked per video.")
    var rounds = 200

    @Option(help: "The time zone whose days the dates are, as the API's tz (default: UTC).")
    var tz: String?

    func run() async throws {
        guard let start = QueryTime.parse(startDate, endOfDay: false), let end = QueryTime.parse(endDate, endOfDay: true) else {
            throw ValidationError("--start-date and --end-date must be dates")
        }
        guard let zone = tz.map({ QueryTimeZone($0) }) ?? QueryTimeZone.utc else { throw ValidationError("--" + QueryTimeZone.expected) }
        let range: DayRange
        do {
            range = try zone.days(startText: startDate, start: start, endText: endDate, end: end)
        } catch {
            throw ValidationError(error.description)
        }
        let location = ViewsLocation(store: dataDirectory)
        let projections = try AsyncProjections(
            directory: AsyncProjections.directory(in: location.current()),
            projectors: PlayheadStore.asyncProjectors,
            readOnly: true
        )
        let queries = VideoAnalyticsQueries(projections)
        let ids = videos.split(separator: ",").map(String.init)
        // Concurrent viewers over the range's last day (in the zone).
        let lastDay = Timestamp(microsecondsSince1970: range.boundaries[range.boundaries.count - 2] * 900_000_000)
        let dayAfter = range.end
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let answers: [(String, (String) throws -> Data)] = [
            // As the routes send them: the summary and concurrent viewers written by hand.
            ("summary", { Data(VideoAnalyticsBody.Summary(try queries.summary(of: $0, over: range)).json()) }),
            ("retention", { try encoder.encode(try queries.retention(of: $0, over: range).map(VideoAnalyticsBody.Retention.init)) }),
            ("seeks", { try encoder.encode(try queries.seeks(of: $0, over: range).map(VideoAnalyticsBody.Seeks.init)) }),
            (
                "concurrent_viewers",
                {
                    Data(
                        VideoAnalyticsBody.Concurrent(try queries.concurrentViewers(of: $0, from: lastDay, to: dayAfter), from: lastDay, to: dayAfter)
                            .json()
                    )
                }
            ),
            ("top_videos", { _ in try encoder.encode(VideoAnalyticsBody.Top(try queries.topVideos(over: range, by: .views, limit: 10))) }),
        ]
        var fields: [(String, String)] = [
            ("workload", "\"analytics\""), ("days", "\(range.last - range.first + 1)"), ("videos", "\(ids.count)"),
            ("time_zone", "\"\(zone.name)\""),
        ]
        for (name, answer) in answers {
            var latencies: [Double] = []
            // A warm-up pass, then the timed rounds.
            for id in ids { _ = try answer(id) }
            for _ in 0..<max(rounds, 1) {
                for id in ids {
                    let started = ContinuousClock.now
                    _ = try answer(id)
                    latencies.append((ContinuousClock.now - started).seconds * 1_000)
                }
            }
            latencies.sort()
            fields += [
                ("\(name)_p50_ms", String(format: "%.4f", percentile(latencies, 0.5))),
                ("\(name)_p99_ms", String(format: "%.4f", percentile(latencies, 0.99))),
            ]
        }
        print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    }
}
