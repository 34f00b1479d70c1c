import ArgumentParser
import EventLog
import EventText
import Foundation
import PlayheadCore
import PlayheadServer
import Projections
import Views
import WatchDomain

/// The modules' own summaries from the CLI, each as its REST answer: session metrics (and
/// per day), a video's progress summary, a user's engagement, a user's interaction patterns.
/// They read the store's inline views, which the writer keeps in step with the log.
enum ModuleQuery {
    /// The store's inline views, read-only.
    static func views(_ store: StoreOptions) throws -> InlineProjections {
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        let directory = location.current()
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else {
            throw RuntimeError("no views at \(directory): run `playhead serve` or `playhead rebuild` first")
        }
        return try InlineProjections(directory: directory, projectors: PlayheadStore.projectors, readOnly: true)
    }

    /// `start` to `end` within what the API allows.
    static func sessionRange(_ options: SessionQueryOptions) throws -> (start: Timestamp, end: Timestamp) {
        let (start, end) = try QueryRange.instants(start: options.startDate, end: options.endDate, defaultDays: 28)
        guard end.microsecondsSince1970 - start.microsecondsSince1970 <= 3_660 * 86_400_000_000 else {
            throw ValidationError("the range may span at most 3660 days")
        }
        return (start, end)
    }

    static func sessionColumns(_ metrics: SessionMetrics) -> [QueryAnswer.Value] {
        [
            .number(Double(metrics.totalSessions)), .number(Double(metrics.uniqueUsers)), .number(Double(metrics.engagedSessions)),
            .number(metrics.engagementRate), .number(metrics.averageDurationSeconds), .number(Double(metrics.endedSessions)),
            .number(Double(metrics.expiredSessions)), .number(Double(metrics.renewedSessions)),
        ]
    }

    static let sessionColumnNames = [
        "totalSessions", "uniqueUsers", "engagedSessions", "engagementRate", "averageDurationSeconds", "endedSessions", "expiredSessions",
        "renewedSessions",
    ]
}

/// What the session queries take: the store, a range of UTC days (sessions are counted per
/// UTC day) and the format.
struct SessionQueryOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(
        name: .customLong("start-date"),
        help: "The first UTC day (YYYY-MM-DD) or time (ISO 8601), as the API's startDate (default: 27 days before the end)."
    )
    var startDate: String?

    @Option(name: .customLong("end-date"), help: "The last UTC day or time, as the API's endDate (default: today).")
    var endDate: String?

    @Option(help: "table, json, csv or ndjson (default: table on a terminal, json when piped).")
    var format: VideoQueryFormat?
}

/// `playhead query sessions`: as `GET /metrics/sessions`, with its days as rows.
struct SessionsQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Session metrics over a range: sessions, unique users, engagement, average length, ended, expired, renewed.",
        discussion: "--start-date and --end-date as the API's (default: the 28 UTC days to today). Rows: the days."
    )

    @OptionGroup var options: SessionQueryOptions

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let (start, end) = try ModuleQuery.sessionRange(options)
        let queries = UserSessionQueries(views: try ModuleQuery.views(options.store))
        let metrics = try queries.metrics(from: start, to: end)
        let daily = try queries.dailyMetrics(from: start, to: end)
        let answer = QueryAnswer(
            title: "Sessions, \(ISO8601Micros.format(start)) to \(ISO8601Micros.format(end))",
            figures: [
                ("sessions", "\(metrics.totalSessions)"),
                ("unique users", "\(metrics.uniqueUsers)"),
                ("engaged", "\(metrics.engagedSessions) (\(String(format: "%.1f%%", metrics.engagementRate * 100)))"),
                ("average length", VideoQueryText.duration(UInt64((metrics.averageDurationSeconds * 1_000).rounded()))),
                ("ended", "\(metrics.endedSessions)"),
                ("expired", "\(metrics.expiredSessions)"),
                ("renewed", "\(metrics.renewedSessions)"),
            ],
            sparklines: [("sessions per day", daily.map { Double($0.metrics.totalSessions) })],
            columns: ["date"] + ModuleQuery.sessionColumnNames,
            rows: daily.map { [.text($0.date)] + ModuleQuery.sessionColumns($0.metrics) }
        )
        try answer.write(body: SessionMetricsBody.Summary(metrics, from: start, to: end), format: options.format, chart: nil, svg: nil)
    }
}

/// `playhead query sessions-daily`: as `GET /metrics/sessions/daily`.
struct SessionsDailyQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions-daily",
        abstract: "Session metrics per UTC day.",
        discussion: "--start-date and --end-date as the API's (default: the 28 UTC days to today). Rows: the days."
    )

    @OptionGroup var options: SessionQueryOptions

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let (start, end) = try ModuleQuery.sessionRange(options)
        let daily = try UserSessionQueries(views: try ModuleQuery.views(options.store)).dailyMetrics(from: start, to: end)
        let answer = QueryAnswer(
            title: "Sessions per day, \(ISO8601Micros.format(start)) to \(ISO8601Micros.format(end))",
            figures: [("days", "\(daily.count)"), ("days with sessions", "\(daily.filter { $0.metrics.totalSessions > 0 }.count)")],
            sparklines: [
                ("sessions", daily.map { Double($0.metrics.totalSessions) }),
                ("unique users", daily.map { Double($0.metrics.uniqueUsers) }),
            ],
            columns: ["date"] + ModuleQuery.sessionColumnNames,
            rows: daily.map { [.text($0.date)] + ModuleQuery.sessionColumns($0.metrics) },
            tableRows: 31
        )
        try answer.write(body: SessionMetricsBody.Daily(daily), format: options.format, chart: nil, svg: nil)
    }
}

/// What the progress and interaction queries take: the store and the format.
struct ModuleQueryOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(help: "table, json, csv or ndjson (default: table on a terminal, json when piped).")
    var format: VideoQueryFormat?
}

/// `playhead query progress-summary VIDEO_ID`: as `GET /progress/summary/{videoId}`.
struct ProgressSummaryQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress-summary",
        abstract: "A video's progress summary: viewers, completions, completion rate, average watched duration.",
        discussion: "From the progress reports (watched durations in seconds)."
    )

    @OptionGroup var options: ModuleQueryOptions
    @Argument(help: "The video's id.") var videoId: String

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let videoId = try QueryRange.id(VideoID.self, self.videoId).text
        let summary = try VideoProgressQueries(views: try ModuleQuery.views(options.store)).summary(video: videoId)
        let body = ProgressSummaryBody(summary, of: videoId)
        let totals = summary.totals
        let average = totals.viewers == 0 ? 0 : Double(totals.watchedDuration) / Double(totals.viewers)
        let answer = QueryAnswer(
            title: "Progress of \(videoId)",
            figures: [
                ("length", summary.video.map { VideoQueryText.duration($0.durationMillis) } ?? "- (not registered)"),
                ("viewers", "\(totals.viewers)"),
                ("completed", "\(totals.completed)"),
                ("completion rate", totals.viewers == 0 ? "-" : String(format: "%.1f%%", Double(totals.completed) / Double(totals.viewers) * 100)),
                ("average watched", VideoQueryText.duration(UInt64((average * 1_000).rounded()))),
            ],
            columns: ["videoId", "viewers", "completedViewers", "completionRate", "averageWatchedDuration", "videoDuration"],
            rows: [
                [
                    .text(videoId), .number(Double(totals.viewers)), .number(Double(totals.completed)),
                    .number(totals.viewers == 0 ? 0 : Double(totals.completed) / Double(totals.viewers)), .number(average.rounded()),
                    summary.video.map { .number(Double($0.durationMillis) / 1_000) } ?? .none,
                ]
            ]
        )
        try answer.write(body: body, format: options.format, chart: nil, svg: nil)
    }
}

/// `playhead query engagement USER_ID`: as `GET /progress/engagement/{userId}`.
struct EngagementQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engagement",
        abstract: "A user's engagement: total watched, videos watched and completed, the most watched videos.",
        discussion: "Rows: the most watched videos, most first (watched durations in seconds)."
    )

    @OptionGroup var options: ModuleQueryOptions
    @Argument(help: "The user's id.") var userId: String

    @Option(help: "How many of the most watched videos (1 to 100).")
    var limit = 10

    func validate() throws {
        guard (1...100).contains(limit) else { throw ValidationError("--limit must be a whole number from 1 to 100") }
    }

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let userId = try QueryRange.id(UserID.self, self.userId).text
        let engagement = try VideoProgressQueries(views: try ModuleQuery.views(options.store)).engagement(user: userId, limit: limit)
        let answer = QueryAnswer(
            title: "Engagement of \(userId)",
            figures: [
                ("total watched", VideoQueryText.duration(engagement.totals.watchedDuration * 1_000)),
                ("videos watched", "\(engagement.totals.viewers)"),
                ("completed", "\(engagement.totals.completed)"),
            ],
            columns: ["rank", "videoId", "watchedDuration"],
            rows: engagement.mostWatched.enumerated().map {
                [.number(Double($0 + 1)), .text($1.videoId), .number(Double($1.watchedDuration))]
            },
            tableRows: limit
        )
        try answer.write(body: EngagementBody(engagement, of: userId), format: options.format, chart: nil, svg: nil)
    }
}

/// `playhead query patterns USER_ID`: as `GET /interactions/patterns/{userId}`.
struct PatternsQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patterns",
        abstract: "A user's interaction patterns: the most common type, average duration, mood correlation, time of day, trends.",
        discussion: "--tz sets the zone of the time of day, as the API's tz."
    )

    @OptionGroup var options: ModuleQueryOptions
    @Argument(help: "The user's id.") var userId: String

    @Option(help: "The time zone of the time of day: an IANA zone (Europe/Paris), UTC, or an offset (+05:30) (default: UTC).")
    var tz: String?

    func run() async throws {
        try CrashGuard.runGuarded("query")
        let zone = try QueryRange.zone(tz)
        let userId = try QueryRange.id(UserID.self, self.userId).text
        let queries = InteractionQueries(views: try ModuleQuery.views(options.store))
        let patterns = try queries.patterns(user: userId, now: Timestamp.now(), minuteOfDay: zone.minuteOfDay)
        let body = PatternsBody(patterns, timeZone: zone.name)
        let figures: [(String, String)] = [
            ("interactions", "\(patterns.totalInteractions)"),
            ("most common type", patterns.mostCommonType?.name ?? "-"),
            ("average duration", String(format: "%.1f s", patterns.averageDuration)),
            ("mood correlation", patterns.moodCorrelation.map { String(format: "%.3f", $0) } ?? "-"),
            ("time of day", patterns.timeOfDay?.rawValue ?? "-"),
            ("time zone", zone.name),
            ("content type", patterns.contentTypePreference ?? "-"),
            ("frequency", "\(patterns.frequencyTrend.rawValue) (\(patterns.recentTrackings) in 30 days, \(patterns.previousTrackings) before)"),
            ("mood trend", patterns.moodTrend.rawValue),
        ]
        let answer = QueryAnswer(
            title: "Interaction patterns of \(userId)",
            figures: figures,
            columns: ["figure", "value"],
            rows: figures.map { [.text($0.0), .text($0.1)] }
        )
        try answer.write(body: body, format: options.format, chart: nil, svg: nil)
    }
}
