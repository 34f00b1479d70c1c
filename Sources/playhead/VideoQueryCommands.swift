import ArgumentParser
import Charts
import EventLog
import EventText
import Foundation
import PlayheadCore
import PlayheadServer
import Projections
import Views
import WatchDomain

/// What every video-analytics query takes: the store, the range, the format and the chart.
struct VideoQueryOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(
        name: .customLong("start-date"),
        help: "The first day (YYYY-MM-DD) or time (ISO 8601), as the API's startDate (default: 27 days before the end)."
    )
    var startDate: String?

    @Option(name: .customLong("end-date"), help: "The last day or time, as the API's endDate (default: today in --tz).")
    var endDate: String?

    @Option(help: "The time zone whose days the dates are: an IANA zone (Europe/Paris), UTC, or an offset (+05:30) (default: UTC).")
    var tz: String?

    @Option(help: "table, json, csv or ndjson (default: table on a terminal, json when piped).")
    var format: VideoQueryFormat?

    @Option(help: "Also write the chart the API draws with format=svg to this file.")
    var svg: String?

    /// The range from `--start-date` to `--end-date` (exclusive end), `defaultDays` long by default.
    func range(defaultDays: Int64) throws -> (start: Timestamp, end: Timestamp) {
        try QueryRange.instants(start: startDate, end: endDate, defaultDays: defaultDays)
    }

    /// The days from `--start-date` to `--end-date` in `--tz` (UTC by default): 28 days to
    /// today there unless they are given.
    func days() throws -> DayRange {
        let zone = try QueryRange.zone(tz)
        let endText = endDate ?? VideoAnalyticsBody.date(zone.day(of: Timestamp.now()))
        guard let end = QueryTime.parse(endText, endOfDay: true) else { throw Self.badTime("--end-date", endText) }
        let startText: String
        if let startDate {
            startText = startDate
        } else {
            let lastDay =
                endText.utf8.count == 10
                ? DayRange.day(of: end) - 1 : zone.day(of: Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1))
            startText = VideoAnalyticsBody.date(lastDay - 27)
        }
        guard let start = QueryTime.parse(startText, endOfDay: false) else { throw Self.badTime("--start-date", startText) }
        guard start < end else { throw ValidationError("--end-date must be after --start-date") }
        do {
            return try zone.days(startText: startText, start: start, endText: endText, end: end)
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func badTime(_ option: String, _ text: String) -> ValidationError {
        ValidationError("\(option) must be an ISO 8601 date (2026-01-31) or time (2026-01-31T12:00:00Z), not \(text)")
    }

    /// The video-analytics queries over the store's asynchronous views, read-only.
    func queries() throws -> VideoAnalyticsQueries {
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        let directory = AsyncProjections.directory(in: location.current())
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else {
            throw RuntimeError("no analytics views at \(directory): run `playhead serve` or `playhead rebuild` first")
        }
        return VideoAnalyticsQueries(try AsyncProjections(directory: directory, projectors: PlayheadStore.asyncProjectors, readOnly: true))
    }

    /// Writes the answer in the chosen format (and the chart when `--svg`), then notes on
    /// stderr how far the analytics views trail the log.
    func write(_ answer: QueryAnswer, body: some Encodable, chart: SVGChart?, queries: VideoAnalyticsQueries) async throws {
        try answer.write(body: body, format: format, chart: chart, svg: svg)
        if let lag = try? await PartyQuery.lag(queries.projections, store: store), lag > 0 {
            FileHandle.standardError.write(Data("note: the analytics views are \(lag) events behind the log; `playhead serve` folds them\n".utf8))
        }
    }
}

/// The instants and zones the queries' options name.
enum QueryRange {
    /// From `start` to `end` as the API's `startDate` and `endDate` (a date's end is the next
    /// midnight, UTC), `defaultDays` up to the end of today (UTC) by default.
    static func instants(start startDate: String?, end endDate: String?, defaultDays: Int64) throws -> (start: Timestamp, end: Timestamp) {
        let day: Int64 = 86_400_000_000
        let end: Timestamp
        if let endDate {
            guard let parsed = QueryTime.parse(endDate, endOfDay: true) else { throw VideoQueryOptions.badTime("--end-date", endDate) }
            end = parsed
        } else {
            let now = Timestamp.now().microsecondsSince1970
            end = Timestamp(microsecondsSince1970: (now / day + 1) * day)
        }
        let start: Timestamp
        if let startDate {
            guard let parsed = QueryTime.parse(startDate, endOfDay: false) else { throw VideoQueryOptions.badTime("--start-date", startDate) }
            start = parsed
        } else {
            start = Timestamp(microsecondsSince1970: end.microsecondsSince1970 - defaultDays * day)
        }
        guard start < end else { throw ValidationError("--end-date must be after --start-date") }
        return (start, end)
    }

    /// The zone `--tz` names; UTC when it is missing or empty (as the API's `tz`).
    static func zone(_ tz: String?) throws -> QueryTimeZone {
        guard let tz, !tz.isEmpty else { return .utc }
        guard let zone = QueryTimeZone(tz) else { throw ValidationError("--" + QueryTimeZone.expected) }
        return zone
    }

    /// `text` as a user or video id, by the API's rule (not empty, no control character or
    /// `/`, not too long).
    static func id<Kind: ClientIDKind>(_ kind: ClientID<Kind>.Type, _ text: String) throws -> ClientID<Kind> {
        do {
            return try ClientID<Kind>(text)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// How a video-analytics answer is written.
enum VideoQueryFormat: String, ExpressibleByArgument, CaseIterable {
    /// A table for people, with sparklines.
    case table
    /// The answer as the API gives it.
    case json
    /// The answer's rows (days, points, buckets, minutes, videos), with a header.
    case csv
    /// The same rows, one JSON object per line, keyed as the CSV's header.
    case ndjson
}

/// Where a query's answer goes: the chart to its file, the answer to standard output.
enum QueryOutput {
    /// Writes `chart` to the file `svg` (when asked), then the answer in `format` (default:
    /// a table on a terminal, else JSON): JSON is `body` as the API encodes it, every other
    /// format what `text` makes of it.
    static func write(
        body: some Encodable,
        format: VideoQueryFormat?,
        chart: SVGChart?,
        svg: String?,
        text: (VideoQueryFormat) -> String
    ) throws {
        if let svg {
            guard let chart else { throw ValidationError("this answer has no chart (--svg)") }
            do {
                try Data(chart.render().utf8).write(to: URL(fileURLWithPath: svg))
            } catch {
                throw RuntimeError("could not write \(svg): \(error.localizedDescription)")
            }
        }
        let output = OutputFile.standardOutput()
        let chosen = format ?? (output.isTerminal ? .table : .json)
        if chosen == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try output.write(Array(try encoder.encode(body)) + [UInt8(ascii: "\n")])
        } else {
            try output.write(Array(text(chosen).utf8))
        }
    }
}

/// An answer's figures, its rows and its sparklines, for the table, CSV and NDJSON forms.
struct QueryAnswer {
    /// A cell: text, a number, or nothing (empty in CSV, null in NDJSON).
    enum Value {
        case text(String)
        case number(Double)
        case none

        var csv: String {
            switch self {
            case .text(let text):
                // RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
                text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                    ? "\"\(text.replacingOccurrences(of: "\"", with: "\"\""))\"" : text
            case .number(let number): Self.format(number)
            case .none: ""
            }
        }

        var json: String {
            switch self {
            case .text(let text): QueryAnswer.quoted(text)
            case .number(let number): Self.format(number)
            case .none: "null"
            }
        }

        /// Whole numbers without a fraction; others as Swift prints a Double (shortest round trip).
        static func format(_ number: Double) -> String {
            number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
        }
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    var title: String
    /// (label, value) lines at the top of the table.
    var figures: [(String, String)]
    /// (label, values) drawn as sparklines.
    var sparklines: [(String, [Double])] = []
    var columns: [String]
    var rows: [[Value]]
    /// How many rows the table shows (all in CSV and NDJSON).
    var tableRows = 0

    /// Writes the answer to standard output in `format` (default: a table on a terminal,
    /// else JSON, where JSON is `body` as the API encodes it), and `chart` to the file `svg`.
    func write(body: some Encodable, format: VideoQueryFormat?, chart: SVGChart?, svg: String?) throws {
        try QueryOutput.write(body: body, format: format, chart: chart, svg: svg) { format in
            switch format {
            case .csv: csv
            case .ndjson: ndjson
            case .table, .json: table
            }
        }
    }

    var csv: String {
        ([columns.joined(separator: ",")] + rows.map { $0.map(\.csv).joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    var ndjson: String {
        rows.map { row in "{" + zip(columns, row).map { "\(QueryAnswer.quoted($0)):\($1.json)" }.joined(separator: ",") + "}\n" }.joined()
    }

    var table: String {
        var text = title + "\n"
        text += figures.map { "  \($0.0.padding(toLength: 24, withPad: " ", startingAt: 0))\($0.1)" }.joined(separator: "\n") + "\n"
        if !sparklines.isEmpty {
            text += "\n"
            for (label, values) in sparklines {
                text += "  \(label.padding(toLength: 24, withPad: " ", startingAt: 0))\(Sparkline.render(values))\n"
            }
        }
        if tableRows > 0, !rows.isEmpty {
            let shown = [columns] + rows.prefix(tableRows).map { $0.map(\.csv) }
            let widths = columns.indices.map { column in shown.map { $0[column].count }.max() ?? 0 }
            text += "\n"
            for row in shown {
                let cells = row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                text += "  " + cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            }
        }
        return text
    }
}

/// `playhead query video VIDEO_ID`: as `GET /analytics/videos/{videoId}`.
struct VideoSummaryQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "video",
        abstract: "A video's views, unique viewers, watch time, plays that count and completions, per day.",
        discussion: "Reads the asynchronous views `serve` keeps; an answer may trail the log (the command says so). Rows: the days."
    )

    @OptionGroup var options: VideoQueryOptions
    @Argument(help: "The video's id.") var videoId: String

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let videoId = try QueryRange.id(VideoID.self, self.videoId).text
        let queries = try options.queries()
        let summary = try queries.summary(of: videoId, over: try options.days())
        let body = VideoAnalyticsBody.Summary(summary)
        let seconds = { (millis: UInt64) in QueryAnswer.Value.number(Double(millis) / 1_000) }
        let answer = QueryAnswer(
            title: "Video \(videoId), \(VideoQueryText.date(summary.range.first)) to \(VideoQueryText.date(summary.range.last))",
            figures: [
                ("length", summary.lengthMillis.map(VideoQueryText.duration) ?? "- (not registered)"),
                ("views", "\(summary.views)"),
                ("unique viewers", "\(summary.uniqueViewers)"),
                ("watch time", VideoQueryText.duration(summary.watchTimeMillis)),
                ("average view duration", summary.averageViewDurationMillis.map { VideoQueryText.duration(UInt64($0.rounded())) } ?? "-"),
                ("average % viewed", summary.averagePercentageViewed.map { String(format: "%.1f%%", $0) } ?? "-"),
                ("plays that count", "\(summary.countedPlays)"),
                ("completions", "\(summary.completions)"),
            ],
            sparklines: [
                ("views per day", summary.days.map { Double($0.views) }),
                ("watch time per day", summary.days.map { Double($0.watchTimeMillis) }),
            ],
            columns: ["date", "views", "uniqueViewers", "watchTimeSeconds", "countedPlays", "completions"],
            rows: summary.days.map {
                [
                    .text(VideoQueryText.date($0.day)), .number(Double($0.views)), .number(Double($0.uniqueViewers)), seconds($0.watchTimeMillis),
                    .number(Double($0.countedPlays)), .number(Double($0.completions)),
                ]
            }
        )
        try await options.write(answer, body: body, chart: body.chart, queries: queries)
    }
}

/// `playhead query retention VIDEO_ID`: as `GET /analytics/videos/{videoId}/retention`.
struct RetentionQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "A video's audience retention curve: the share of views that watched each of 100 points, and rewatched it.",
        discussion: "Only views of a registered video have a length; rows: the 100 points."
    )

    @OptionGroup var options: VideoQueryOptions
    @Argument(help: "The video's id.") var videoId: String

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let videoId = try QueryRange.id(VideoID.self, self.videoId).text
        let queries = try options.queries()
        guard let curve = try queries.retention(of: videoId, over: try options.days()) else { throw VideoQueryText.unregistered(videoId) }
        let body = VideoAnalyticsBody.Retention(curve)
        let views = Double(curve.views)
        func share(_ count: UInt64) -> QueryAnswer.Value { views > 0 ? .number(Double(count) / views) : .none }
        let answer = QueryAnswer(
            title: "Retention of \(videoId), \(VideoQueryText.date(curve.range.first)) to \(VideoQueryText.date(curve.range.last))",
            figures: [("length", VideoQueryText.duration(curve.lengthMillis)), ("views", "\(curve.views)")],
            sparklines: [
                ("watched", curve.points.map { Double($0.watched) }),
                ("rewatched", curve.points.map { Double($0.rewatched) }),
            ],
            columns: ["point", "videoTime", "watched", "rewatched", "audienceRetention", "rewatchRate"],
            rows: curve.points.map {
                [
                    .number(Double($0.index)), .number(Double($0.positionMillis) / 1_000), .number(Double($0.watched)),
                    .number(Double($0.rewatched)), share($0.watched), share($0.rewatched),
                ]
            }
        )
        try await options.write(answer, body: body, chart: body.chart, queries: queries)
    }
}

/// `playhead query seeks VIDEO_ID`: as `GET /analytics/videos/{videoId}/seeks`.
struct SeeksQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seeks",
        abstract: "A video's seek heatmap: where viewers jump from and to, and the stretches they skip.",
        discussion: "Rows: the 100 stretches of 1 % of the video; the table lists the most skipped."
    )

    @OptionGroup var options: VideoQueryOptions
    @Argument(help: "The video's id.") var videoId: String

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let videoId = try QueryRange.id(VideoID.self, self.videoId).text
        let queries = try options.queries()
        guard let heatmap = try queries.seeks(of: videoId, over: try options.days()) else { throw VideoQueryText.unregistered(videoId) }
        let body = VideoAnalyticsBody.Seeks(heatmap)
        var figures = [("length", VideoQueryText.duration(heatmap.lengthMillis)), ("seeks", "\(heatmap.seeks)")]
        for bucket in heatmap.mostSkipped {
            let span = "\(VideoQueryText.duration(bucket.fromMillis)) to \(VideoQueryText.duration(bucket.toMillis))"
            figures.append(("skipped", "\(span): \(bucket.skipped) \(bucket.skipped == 1 ? "time" : "times")"))
        }
        let answer = QueryAnswer(
            title: "Seeks in \(videoId), \(VideoQueryText.date(heatmap.range.first)) to \(VideoQueryText.date(heatmap.range.last))",
            figures: figures,
            sparklines: [
                ("seeks from", heatmap.buckets.map { Double($0.seeksFrom) }),
                ("seeks to", heatmap.buckets.map { Double($0.seeksTo) }),
                ("skipped", heatmap.buckets.map { Double($0.skipped) }),
            ],
            columns: ["bucket", "from", "to", "seeksFrom", "seeksTo", "skipped"],
            rows: heatmap.buckets.map {
                [
                    .number(Double($0.index)), .number(Double($0.fromMillis) / 1_000), .number(Double($0.toMillis) / 1_000),
                    .number(Double($0.seeksFrom)), .number(Double($0.seeksTo)), .number(Double($0.skipped)),
                ]
            }
        )
        try await options.write(answer, body: body, chart: body.chart, queries: queries)
    }
}

/// `playhead query concurrent [VIDEO_ID]`: as `GET /analytics[/videos/{videoId}]/concurrent-viewers`.
struct ConcurrentQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concurrent",
        abstract: "Views playing per minute (of one video, or of all), and the peak.",
        discussion: "--start-date and --end-date take dates or times (default: today, UTC); at most 7 days. Rows: the minutes."
    )

    @OptionGroup var options: VideoQueryOptions
    @Argument(help: "The video's id (all videos when left out).") var videoId: String?

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let videoId = try self.videoId.map { try QueryRange.id(VideoID.self, $0).text }
        let queries = try options.queries()
        let (start, end) = try options.range(defaultDays: 1)
        guard end.microsecondsSince1970 - start.microsecondsSince1970 <= 7 * 86_400_000_000 else {
            throw ValidationError("the range may span at most 7 days")
        }
        let viewers = try queries.concurrentViewers(of: videoId, from: start, to: end)
        let body = VideoAnalyticsBody.Concurrent(viewers, from: start, to: end)
        let answer = QueryAnswer(
            title: "Concurrent viewers of \(videoId ?? "all videos"), \(ISO8601Micros.format(start)) to \(ISO8601Micros.format(end))",
            figures: [("peak", "\(viewers.peak)" + (viewers.peakAt.map { " at \(ISO8601Micros.format($0))" } ?? ""))],
            sparklines: [("viewers per minute", viewers.minutes.map { Double($0.viewers) })],
            columns: ["time", "viewers"],
            rows: viewers.minutes.map { [.text(ISO8601Micros.format($0.start)), .number(Double($0.viewers))] }
        )
        try await options.write(answer, body: body, chart: body.chart, queries: queries)
    }
}

/// `playhead query top-videos`: as `GET /analytics/top-videos`.
struct TopVideosQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top-videos",
        abstract: "The videos with the most views or watch time over a range.",
        discussion: "Rows: the videos, most first (ties by id)."
    )

    @OptionGroup var options: VideoQueryOptions

    @Option(help: "views or watch_time (default: views).")
    var by: String = TopVideos.Order.views.rawValue

    @Option(help: "How many videos (1 to 100).")
    var limit: Int = 10

    func validate() throws {
        guard TopVideos.Order(rawValue: by) != nil else { throw ValidationError("--by must be views or watch_time") }
        guard (1...100).contains(limit) else { throw ValidationError("--limit must be a whole number from 1 to 100") }
    }

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let queries = try options.queries()
        let top = try queries.topVideos(over: try options.days(), by: TopVideos.Order(rawValue: by) ?? .views, limit: limit)
        let answer = QueryAnswer(
            title: "Top videos by \(by), \(VideoQueryText.date(top.range.first)) to \(VideoQueryText.date(top.range.last))",
            figures: [("videos", "\(top.videos.count)")],
            columns: ["rank", "videoId", "views", "watchTimeSeconds"],
            rows: top.videos.enumerated().map {
                [.number(Double($0 + 1)), .text($1.videoId), .number(Double($1.views)), .number(Double($1.watchTimeMillis) / 1_000)]
            },
            tableRows: limit
        )
        try await options.write(answer, body: VideoAnalyticsBody.Top(top), chart: nil, queries: queries)
    }
}

/// Words and numbers the video queries print.
enum VideoQueryText {
    static func date(_ day: Int64) -> String { VideoAnalyticsBody.date(day) }

    /// `H:MM:SS` (or `M:SS` under an hour).
    static func duration(_ millis: UInt64) -> String { PartyReplayText.clock(millis) }

    static func unregistered(_ videoId: String) -> RuntimeError {
        RuntimeError("video \(videoId) is not registered: its length is unknown (PUT /videos/\(videoId))")
    }
}
