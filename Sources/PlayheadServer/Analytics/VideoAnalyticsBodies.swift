public import Charts
public import EventLog
import Foundation
public import Hummingbird
public import Projections
import WatchDomain

/// The video analytics as `GET /analytics/…` and `playhead query …` show them (Docs/api.md):
/// each answer in `data`, camelCase as `/metrics/sessions`, dates as `YYYY-MM-DD` (UTC),
/// times as ISO 8601, positions and durations in seconds, and `null` for a figure that has
/// no value (an average without views, the length of an unregistered video).
public enum VideoAnalyticsBody {
    /// `YYYY-MM-DD` of a day counted from 1970-01-01.
    public static func date(_ day: Int64) -> String {
        String(ISO8601Micros.format(Timestamp(microsecondsSince1970: day * 86_400_000_000)).prefix(10))
    }

    static func seconds(_ millis: UInt64) -> Double { Double(millis) / 1_000 }

    /// A JSON body written by hand, sent as `JSONEncoder`'s answers are (200, the same type).
    static func jsonResponse(_ body: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A video's summary with its days.
    public struct Summary: ResponseEncodable, Sendable {
        struct Day: Encodable {
            var date: String
            var views: UInt64
            var uniqueViewers: UInt64
            var watchTimeSeconds: Double
            var countedPlays: UInt64
            var completions: UInt64
        }

        struct Figures: Encodable {
            var videoId: String
            var startDate: String
            var endDate: String
            /// The zone the dates are days of: `UTC`, or `tz` as asked.
            var timeZone: String
            var lengthSeconds: Double?
            var views: UInt64
            var uniqueViewers: UInt64
            var watchTimeSeconds: Double
            var averageViewDurationSeconds: Double?
            var averagePercentageViewed: Double?
            var countedPlays: UInt64
            var countedPlaySeconds: Double
            var completions: UInt64
            var days: [Day]

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(videoId, forKey: .videoId)
                try container.encode(startDate, forKey: .startDate)
                try container.encode(endDate, forKey: .endDate)
                try container.encode(timeZone, forKey: .timeZone)
                // Figures without a value are null, not missing.
                try container.encode(lengthSeconds, forKey: .lengthSeconds)
                try container.encode(views, forKey: .views)
                try container.encode(uniqueViewers, forKey: .uniqueViewers)
                try container.encode(watchTimeSeconds, forKey: .watchTimeSeconds)
                try container.encode(averageViewDurationSeconds, forKey: .averageViewDurationSeconds)
                try container.encode(averagePercentageViewed, forKey: .averagePercentageViewed)
                try container.encode(countedPlays, forKey: .countedPlays)
                try container.encode(countedPlaySeconds, forKey: .countedPlaySeconds)
                try container.encode(completions, forKey: .completions)
                try container.encode(days, forKey: .days)
            }

            enum CodingKeys: String, CodingKey {
                case videoId, startDate, endDate, timeZone, lengthSeconds, views, uniqueViewers, watchTimeSeconds, averageViewDurationSeconds
                case averagePercentageViewed, countedPlays, countedPlaySeconds, completions, days
            }
        }

        /// The summary shown.
        public let summary: VideoSummary
        let data: Figures

        enum CodingKeys: String, CodingKey { case data }

        /// The body of `summary`.
        public init(_ summary: VideoSummary) {
            self.summary = summary
            data = Figures(
                videoId: summary.videoId,
                startDate: VideoAnalyticsBody.date(summary.range.first),
                endDate: VideoAnalyticsBody.date(summary.range.last),
                timeZone: summary.range.timeZone,
                lengthSeconds: summary.lengthMillis.map(VideoAnalyticsBody.seconds),
                views: summary.views,
                uniqueViewers: summary.uniqueViewers,
                watchTimeSeconds: VideoAnalyticsBody.seconds(summary.watchTimeMillis),
                averageViewDurationSeconds: summary.averageViewDurationMillis.map { $0 / 1_000 },
                averagePercentageViewed: summary.averagePercentageViewed,
                countedPlays: summary.countedPlays,
                countedPlaySeconds: VideoAnalyticsBody.seconds(ViewWatch.countedPlayMillis),
                completions: summary.completions,
                days: summary.days.map {
                    Day(
                        date: VideoAnalyticsBody.date($0.day),
                        views: $0.views,
                        uniqueViewers: $0.uniqueViewers,
                        watchTimeSeconds: VideoAnalyticsBody.seconds($0.watchTimeMillis),
                        countedPlays: $0.countedPlays,
                        completions: $0.completions
                    )
                }
            )
        }

        /// The JSON body, written by hand: byte for byte what `JSONEncoder` (sorted keys,
        /// unescaped slashes) writes of this value (a test holds the two equal). A year of
        /// days is 2,000 values, which the encoder took most of the answer's time over.
        public func json() -> [UInt8] {
            var json = JSONText(capacity: 512 + 128 * data.days.count)
            json.beginObject()
            json.key("data")
            json.beginObject()
            json.key("averagePercentageViewed")
            json.valueOrNull(data.averagePercentageViewed)
            json.key("averageViewDurationSeconds")
            json.valueOrNull(data.averageViewDurationSeconds)
            json.key("completions")
            json.value(data.completions)
            json.key("countedPlaySeconds")
            json.value(data.countedPlaySeconds)
            json.key("countedPlays")
            json.value(data.countedPlays)
            json.key("days")
            json.beginArray()
            for day in data.days {
                json.beginObject()
                json.key("completions")
                json.value(day.completions)
                json.key("countedPlays")
                json.value(day.countedPlays)
                json.key("date")
                json.value(day.date)
                json.key("uniqueViewers")
                json.value(day.uniqueViewers)
                json.key("views")
                json.value(day.views)
                json.key("watchTimeSeconds")
                json.value(day.watchTimeSeconds)
                json.endObject()
            }
            json.endArray()
            json.key("endDate")
            json.value(data.endDate)
            json.key("lengthSeconds")
            json.valueOrNull(data.lengthSeconds)
            json.key("startDate")
            json.value(data.startDate)
            json.key("timeZone")
            json.value(data.timeZone)
            json.key("uniqueViewers")
            json.value(data.uniqueViewers)
            json.key("videoId")
            json.value(data.videoId)
            json.key("views")
            json.value(data.views)
            json.key("watchTimeSeconds")
            json.value(data.watchTimeSeconds)
            json.endObject()
            json.endObject()
            return Array(json.text.utf8)
        }

        /// The ``json()`` body, as the API's other JSON answers are sent.
        public func response(from request: Request, context: some RequestContext) throws -> Response {
            VideoAnalyticsBody.jsonResponse(json())
        }

        /// Views per day as bars and watch time per day (minutes) as a line.
        public var chart: SVGChart {
            SVGChart(
                title: "\(summary.videoId): views and watch time per day, \(data.startDate) to \(data.endDate)",
                xLabel: "days from \(data.startDate)",
                leftLabel: "views",
                leftFormat: .count,
                rightLabel: "watch time (minutes)",
                rightFormat: .number,
                series: [
                    .init(name: "views", values: summary.days.map { Double($0.views) }, style: .bars, color: "#2563eb"),
                    .init(
                        name: "watch time (minutes)",
                        values: summary.days.map { Double($0.watchTimeMillis) / 60_000 },
                        style: .line,
                        axis: .right,
                        color: "#f59e0b"
                    ),
                ]
            )
        }
    }

    /// A retention curve.
    public struct Retention: ResponseEncodable, Sendable {
        struct Point: Encodable {
            var point: Int
            var videoTime: Double
            var watched: UInt64
            var rewatched: UInt64
            var audienceRetention: Double?
            var rewatchRate: Double?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(point, forKey: .point)
                try container.encode(videoTime, forKey: .videoTime)
                try container.encode(watched, forKey: .watched)
                try container.encode(rewatched, forKey: .rewatched)
                try container.encode(audienceRetention, forKey: .audienceRetention)
                try container.encode(rewatchRate, forKey: .rewatchRate)
            }

            enum CodingKeys: String, CodingKey { case point, videoTime, watched, rewatched, audienceRetention, rewatchRate }
        }

        struct Curve: Encodable {
            var videoId: String
            var startDate: String
            var endDate: String
            /// The zone the dates are days of: `UTC`, or `tz` as asked.
            var timeZone: String
            var lengthSeconds: Double
            var views: UInt64
            var points: [Point]
        }

        /// The curve shown.
        public let curve: RetentionCurve
        let data: Curve

        enum CodingKeys: String, CodingKey { case data }

        /// The body of `curve`: each point's share of the views (0 to 1; null without views).
        public init(_ curve: RetentionCurve) {
            self.curve = curve
            let views = curve.views
            data = Curve(
                videoId: curve.videoId,
                startDate: VideoAnalyticsBody.date(curve.range.first),
                endDate: VideoAnalyticsBody.date(curve.range.last),
                timeZone: curve.range.timeZone,
                lengthSeconds: VideoAnalyticsBody.seconds(curve.lengthMillis),
                views: views,
                points: curve.points.map {
                    Point(
                        point: $0.index,
                        videoTime: VideoAnalyticsBody.seconds($0.positionMillis),
                        watched: $0.watched,
                        rewatched: $0.rewatched,
                        audienceRetention: views > 0 ? Double($0.watched) / Double(views) : nil,
                        rewatchRate: views > 0 ? Double($0.rewatched) / Double(views) : nil
                    )
                }
            )
        }

        /// Audience retention as an area and rewatching as a line, as shares of the views
        /// (drawn as percentages), along the video.
        public var chart: SVGChart {
            let views = Double(max(curve.views, 1))
            return SVGChart(
                title: "\(curve.videoId): audience retention, \(data.startDate) to \(data.endDate) (\(curve.views) views)",
                xLabel: "position in the video (m:ss)",
                xStart: 0,
                xStep: Double(curve.lengthMillis) / 1_000 / Double(ViewWatch.points),
                xFormat: .seconds,
                leftLabel: "share of views",
                leftFormat: .percent,
                series: [
                    .init(name: "watched", values: curve.points.map { Double($0.watched) / views }, style: .area, color: "#2563eb"),
                    .init(name: "rewatched", values: curve.points.map { Double($0.rewatched) / views }, style: .line, color: "#dc2626"),
                ]
            )
        }
    }

    /// A seek heatmap.
    public struct Seeks: ResponseEncodable, Sendable {
        struct Bucket: Encodable {
            var bucket: Int
            var from: Double
            var to: Double
            var seeksFrom: UInt64
            var seeksTo: UInt64
            var skipped: UInt64

            init(_ bucket: SeekHeatmap.Bucket) {
                self.bucket = bucket.index
                from = VideoAnalyticsBody.seconds(bucket.fromMillis)
                to = VideoAnalyticsBody.seconds(bucket.toMillis)
                seeksFrom = bucket.seeksFrom
                seeksTo = bucket.seeksTo
                skipped = bucket.skipped
            }
        }

        struct Heatmap: Encodable {
            var videoId: String
            var startDate: String
            var endDate: String
            /// The zone the dates are days of: `UTC`, or `tz` as asked.
            var timeZone: String
            var lengthSeconds: Double
            var seeks: UInt64
            var buckets: [Bucket]
            var mostSkipped: [Bucket]
        }

        /// The heatmap shown.
        public let heatmap: SeekHeatmap
        let data: Heatmap

        enum CodingKeys: String, CodingKey { case data }

        /// The body of `heatmap`.
        public init(_ heatmap: SeekHeatmap) {
            self.heatmap = heatmap
            data = Heatmap(
                videoId: heatmap.videoId,
                startDate: VideoAnalyticsBody.date(heatmap.range.first),
                endDate: VideoAnalyticsBody.date(heatmap.range.last),
                timeZone: heatmap.range.timeZone,
                lengthSeconds: VideoAnalyticsBody.seconds(heatmap.lengthMillis),
                seeks: heatmap.seeks,
                buckets: heatmap.buckets.map(Bucket.init),
                mostSkipped: heatmap.mostSkipped.map(Bucket.init)
            )
        }

        /// Skipped stretches as bars, seeks from and to as lines, along the video.
        public var chart: SVGChart {
            SVGChart(
                title: "\(heatmap.videoId): seeks, \(data.startDate) to \(data.endDate) (\(heatmap.seeks) seeks)",
                xLabel: "position in the video (m:ss)",
                xStart: 0,
                xStep: Double(heatmap.lengthMillis) / 1_000 / Double(ViewWatch.points),
                xFormat: .seconds,
                leftLabel: "seeks",
                leftFormat: .count,
                series: [
                    .init(name: "skipped", values: heatmap.buckets.map { Double($0.skipped) }, style: .bars, color: "#d1d5db"),
                    .init(name: "seeks from", values: heatmap.buckets.map { Double($0.seeksFrom) }, style: .line, color: "#dc2626"),
                    .init(name: "seeks to", values: heatmap.buckets.map { Double($0.seeksTo) }, style: .line, color: "#16a34a"),
                ]
            )
        }
    }

    /// Concurrent viewers along time: one count per minute from `startTime`, as a compact
    /// series (`intervalSeconds` apart), so that a week's 10,080 minutes stay cheap to send.
    public struct Concurrent: ResponseEncodable, Sendable {
        struct Series: Encodable {
            var videoId: String?
            var startTime: String
            var endTime: String
            var intervalSeconds: Int
            var peak: UInt64
            var peakAt: String?
            var viewers: [UInt64]

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(videoId, forKey: .videoId)
                try container.encode(startTime, forKey: .startTime)
                try container.encode(endTime, forKey: .endTime)
                try container.encode(intervalSeconds, forKey: .intervalSeconds)
                try container.encode(peak, forKey: .peak)
                try container.encode(peakAt, forKey: .peakAt)
                try container.encode(viewers, forKey: .viewers)
            }

            enum CodingKeys: String, CodingKey { case videoId, startTime, endTime, intervalSeconds, peak, peakAt, viewers }
        }

        /// The series shown.
        public let viewers: ConcurrentViewers
        let data: Series

        enum CodingKeys: String, CodingKey { case data }

        /// The body of `viewers` from `start` to `end`; the series starts at the first
        /// minute's start (`start` rounded down to the minute).
        public init(_ viewers: ConcurrentViewers, from start: Timestamp, to end: Timestamp) {
            self.viewers = viewers
            data = Series(
                videoId: viewers.videoId,
                startTime: ISO8601Micros.format(viewers.minutes.first?.start ?? start),
                endTime: ISO8601Micros.format(end),
                intervalSeconds: 60,
                peak: viewers.peak,
                peakAt: viewers.peakAt.map(ISO8601Micros.format),
                viewers: viewers.minutes.map(\.viewers)
            )
        }

        /// The JSON body, `{"data":{…}}`, written by hand: byte for byte what `JSONEncoder`
        /// (sorted keys, unescaped slashes) writes of this value (a test holds the two
        /// equal), at many times its speed. The encoder took over a millisecond for a day's
        /// 1,440 numbers, most of the answer's time.
        public func json() -> [UInt8] {
            var json = JSONText(capacity: 192 + (data.videoId?.utf8.count ?? 0) + 4 * data.viewers.count)
            json.beginObject()
            json.key("data")
            json.beginObject()
            json.key("endTime")
            json.value(data.endTime)
            json.key("intervalSeconds")
            json.value(data.intervalSeconds)
            json.key("peak")
            json.value(data.peak)
            json.key("peakAt")
            json.valueOrNull(data.peakAt)
            json.key("startTime")
            json.value(data.startTime)
            json.key("videoId")
            json.valueOrNull(data.videoId)
            json.key("viewers")
            json.beginArray()
            for viewers in data.viewers { json.value(viewers) }
            json.endArray()
            json.endObject()
            json.endObject()
            return Array(json.text.utf8)
        }

        /// The ``json()`` body, as the API's other JSON answers are sent.
        public func response(from request: Request, context: some RequestContext) throws -> Response {
            VideoAnalyticsBody.jsonResponse(json())
        }

        /// Viewers per minute as an area, from the range's start.
        public var chart: SVGChart {
            SVGChart(
                title: "\(viewers.videoId ?? "all videos"): concurrent viewers from \(data.startTime)",
                xLabel: "time from the start (h:mm)",
                xFormat: .minutes,
                leftLabel: "viewers",
                leftFormat: .count,
                series: [.init(name: "viewers", values: viewers.minutes.map { Double($0.viewers) }, style: .area, color: "#2563eb")]
            )
        }
    }

    /// The top videos.
    public struct Top: ResponseEncodable, Sendable {
        struct Entry: Encodable {
            var videoId: String
            var views: UInt64
            var watchTimeSeconds: Double
        }

        struct Ranking: Encodable {
            var startDate: String
            var endDate: String
            /// The zone the dates are days of: `UTC`, or `tz` as asked.
            var timeZone: String
            var by: String
            var videos: [Entry]
        }

        /// The ranking shown.
        public let top: TopVideos
        let data: Ranking

        enum CodingKeys: String, CodingKey { case data }

        /// The body of `top`.
        public init(_ top: TopVideos) {
            self.top = top
            data = Ranking(
                startDate: VideoAnalyticsBody.date(top.range.first),
                endDate: VideoAnalyticsBody.date(top.range.last),
                timeZone: top.range.timeZone,
                by: top.order.rawValue,
                videos: top.videos.map {
                    Entry(videoId: $0.videoId, views: $0.views, watchTimeSeconds: VideoAnalyticsBody.seconds($0.watchTimeMillis))
                }
            )
        }
    }
}
