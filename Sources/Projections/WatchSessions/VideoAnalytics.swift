public import EventLog
public import Views
import WatchDomain

/// A range of whole UTC days, `first` through `last`, each counted from 1970-01-01 (day 0).
public struct DayRange: Sendable, Hashable {
    /// The longest range an answer spans (a year, a leap one included).
    public static let maxDays: Int64 = ViewerGaps.maxGap

    public var first: Int64
    public var last: Int64

    /// The days from `first` through `last`; nil when `last` is before `first` or the range
    /// is longer than ``maxDays``.
    public init?(first: Int64, last: Int64) {
        guard first <= last, last - first < Self.maxDays else { return nil }
        self.first = first
        self.last = last
    }

    /// The UTC days the instants from `start` to `end` (exclusive) fall on; nil as above.
    public init?(covering start: Timestamp, to end: Timestamp) {
        self.init(first: Self.day(of: start), last: Self.day(of: Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1)))
    }

    /// The UTC day `time` falls on.
    public static func day(of time: Timestamp) -> Int64 { VideoAnalyticsKey.day(of: time) }

    /// The days, in order.
    public var days: ClosedRange<Int64> { first...last }
}

/// A video's figures over a range of days (issue 17): YouTube Studio's and Mux's overview.
public struct VideoSummary: Sendable, Hashable {
    /// One day of the range.
    public struct Day: Sendable, Hashable {
        /// Days since 1970-01-01.
        public var day: Int64
        public var views: UInt64
        /// Distinct users who viewed the video that day.
        public var uniqueViewers: UInt64
        public var watchTimeMillis: UInt64
        public var countedPlays: UInt64
        public var completions: UInt64
    }

    public var videoId: String
    public var range: DayRange
    /// The video's registered length; nil when it is not registered.
    public var lengthMillis: UInt64?
    /// Watch sessions started in the range.
    public var views: UInt64
    /// Distinct users among them.
    public var uniqueViewers: UInt64
    public var watchTimeMillis: UInt64
    /// Watch time per view; nil without views.
    public var averageViewDurationMillis: Double?
    /// The average view duration of the views made while the video was registered, as a
    /// percentage of its length (above 100 when viewers rewatch); nil without such views.
    public var averagePercentageViewed: Double?
    /// Views that watched at least ``ViewWatch/countedPlayMillis`` (or the whole video).
    public var countedPlays: UInt64
    /// Views that reached the end or the completion threshold.
    public var completions: UInt64
    /// Every day of the range, days without views included.
    public var days: [Day]
}

/// The share of views that watched each of 100 points along a video.
public struct RetentionCurve: Sendable, Hashable {
    /// One point.
    public struct Point: Sendable, Hashable {
        /// 0 to 99.
        public var index: Int
        /// Where it is in the video, in milliseconds.
        public var positionMillis: UInt64
        /// Views that watched it, and that watched it more than once.
        public var watched: UInt64
        public var rewatched: UInt64
    }

    public var videoId: String
    public var range: DayRange
    public var lengthMillis: UInt64
    /// Views with a known length in the range: the curve's denominator.
    public var views: UInt64
    public var points: [Point]
}

/// Where viewers seek from and to, in 100 stretches of 1 % of the video.
public struct SeekHeatmap: Sendable, Hashable {
    /// One stretch.
    public struct Bucket: Sendable, Hashable {
        /// 0 to 99.
        public var index: Int
        /// Where it starts and ends in the video, in milliseconds.
        public var fromMillis: UInt64
        public var toMillis: UInt64
        /// Seeks that left from it, that landed in it, and forward seeks that jumped over its start.
        public var seeksFrom: UInt64
        public var seeksTo: UInt64
        public var skipped: UInt64
    }

    public var videoId: String
    public var range: DayRange
    public var lengthMillis: UInt64
    /// All seeks in the range.
    public var seeks: UInt64
    public var buckets: [Bucket]
    /// The stretches skipped most, most first (at most 5, none skipped 0 times).
    public var mostSkipped: [Bucket]
}

/// Views playing along time, per minute.
public struct ConcurrentViewers: Sendable, Hashable {
    /// One minute.
    public struct Minute: Sendable, Hashable {
        /// Its start.
        public var start: Timestamp
        /// Views that played during it.
        public var viewers: UInt64
    }

    /// The video; nil for all videos.
    public var videoId: String?
    public var minutes: [Minute]
    /// The most views playing in one minute, and the first minute it was reached (nil when 0).
    public var peak: UInt64
    public var peakAt: Timestamp?
}

/// Videos ranked by views or watch time over a range.
public struct TopVideos: Sendable, Hashable {
    /// What the ranking is by.
    public enum Order: String, Sendable, Hashable, CaseIterable {
        case views
        case watchTime = "watch_time"
    }

    /// One video.
    public struct Entry: Sendable, Hashable {
        public var videoId: String
        public var views: UInt64
        public var watchTimeMillis: UInt64
    }

    public var range: DayRange
    public var order: Order
    public var videos: [Entry]
}

/// Answers the video analytics from ``VideoAnalyticsProjector``'s rows in the asynchronous
/// views. Each answer reads O(days asked for) rows (a top-videos answer: the day's rows of
/// every video viewed in the range), or O(minutes asked for); never the sessions or the log.
public struct VideoAnalyticsQueries: Sendable {
    /// The asynchronous views.
    public let projections: AsyncProjections
    private let name = VideoAnalyticsProjector().name

    /// Queries reading the last committed state of `projections`.
    public init(_ projections: AsyncProjections) { self.projections = projections }

    /// The summary of `videoId` over `range`. Throws ``ViewError`` when the views have no
    /// video-analytics projector.
    public func summary(of videoId: String, over range: DayRange) throws -> VideoSummary {
        try projections.read(name) { views in
            let video = ViewKey.string(videoId)
            var summary = VideoSummary(
                videoId: videoId,
                range: range,
                lengthMillis: try VideoAnalyticsProjector.video(videoId, in: views)?.lengthMillis,
                views: 0,
                uniqueViewers: 0,
                watchTimeMillis: 0,
                countedPlays: 0,
                completions: 0,
                days: []
            )
            var registeredViews: UInt64 = 0
            var registeredWatched: UInt64 = 0
            for day in range.days {
                let tally =
                    try views.withValue("daily", VideoAnalyticsKey.day(day) + video) { bytes in
                        try bytes.map { try DailyVideoTally(decoding: $0) }
                    } ?? DailyVideoTally()
                let gaps = try ViewerGaps.read(video, day: day, in: views)
                summary.views += tally.views
                summary.uniqueViewers += gaps.viewers(withGapOver: day - range.first)
                summary.watchTimeMillis += tally.watchedMillis
                summary.countedPlays += tally.countedPlays
                summary.completions += tally.completions
                registeredViews += tally.registeredViews
                registeredWatched += tally.registeredWatchedMillis
                summary.days.append(
                    .init(
                        day: day,
                        views: tally.views,
                        uniqueViewers: gaps.viewers(withGapOver: 0),
                        watchTimeMillis: tally.watchedMillis,
                        countedPlays: tally.countedPlays,
                        completions: tally.completions
                    )
                )
            }
            if summary.views > 0 { summary.averageViewDurationMillis = Double(summary.watchTimeMillis) / Double(summary.views) }
            if registeredViews > 0, let length = summary.lengthMillis {
                summary.averagePercentageViewed = 100 * Double(registeredWatched) / Double(registeredViews) / Double(length)
            }
            return summary
        }
    }

    /// The retention curve of `videoId` over `range`; nil when the video is not registered.
    public func retention(of videoId: String, over range: DayRange) throws -> RetentionCurve? {
        try projections.read(name) { views in
            guard let length = try VideoAnalyticsProjector.video(videoId, in: views)?.lengthMillis else { return nil }
            let video = ViewKey.string(videoId)
            let points = ViewWatch.points
            var counts = [UInt64](repeating: 0, count: 2 * points)
            try sum("retention", video, range, into: &counts, views)
            var registeredViews: UInt64 = 0
            for day in range.days {
                registeredViews +=
                    try views.withValue("daily", VideoAnalyticsKey.day(day) + video) { bytes in
                        try bytes.map { try DailyVideoTally(decoding: $0).registeredViews }
                    } ?? 0
            }
            return RetentionCurve(
                videoId: videoId,
                range: range,
                lengthMillis: length,
                views: registeredViews,
                points: (0..<points).map {
                    .init(index: $0, positionMillis: UInt64($0) * length / UInt64(points), watched: counts[$0], rewatched: counts[points + $0])
                }
            )
        }
    }

    /// The seek heatmap of `videoId` over `range`; nil when the video is not registered.
    public func seeks(of videoId: String, over range: DayRange) throws -> SeekHeatmap? {
        try projections.read(name) { views in
            guard let length = try VideoAnalyticsProjector.video(videoId, in: views)?.lengthMillis else { return nil }
            let points = ViewWatch.points
            var counts = [UInt64](repeating: 0, count: 3 * points)
            try sum("seeks", ViewKey.string(videoId), range, into: &counts, views)
            let buckets = (0..<points).map { index in
                SeekHeatmap.Bucket(
                    index: index,
                    fromMillis: UInt64(index) * length / UInt64(points),
                    toMillis: UInt64(index + 1) * length / UInt64(points),
                    seeksFrom: counts[index],
                    seeksTo: counts[points + index],
                    skipped: counts[2 * points + index]
                )
            }
            let mostSkipped = buckets.filter { $0.skipped > 0 }.sorted { ($0.skipped, $1.index) > ($1.skipped, $0.index) }.prefix(5)
            return SeekHeatmap(
                videoId: videoId,
                range: range,
                lengthMillis: length,
                seeks: counts[0..<points].reduce(0, +),
                buckets: buckets,
                mostSkipped: Array(mostSkipped)
            )
        }
    }

    /// Views playing per minute from `start` (inclusive) to `end` (exclusive), of `videoId`
    /// or of every video.
    public func concurrentViewers(of videoId: String?, from start: Timestamp, to end: Timestamp) throws -> ConcurrentViewers {
        try projections.read(name) { views in
            let first = VideoAnalyticsKey.minute(of: start)
            let last = VideoAnalyticsKey.minute(of: Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1))
            let database = videoId == nil ? "all_minutes" : "minutes"
            let prefix = videoId.map(ViewKey.string) ?? []
            var answer = ConcurrentViewers(videoId: videoId, minutes: [], peak: 0, peakAt: nil)
            guard first <= last else { return answer }
            var counts = [UInt64](repeating: 0, count: Int(last - first + 1))
            try views.forEach(database, from: prefix + VideoAnalyticsKey.minute(first)) { key, value in
                guard key.starts(with: prefix) else { return false }
                let minute = VideoAnalyticsKey.minute(fromKey: key[prefix.count...])
                guard minute <= last else { return false }
                counts[Int(minute - first)] = ViewKey.integer(value)
                return true
            }
            answer.minutes.reserveCapacity(counts.count)
            for (offset, viewers) in counts.enumerated() {
                let minute = first + Int64(offset)
                let start = Timestamp(microsecondsSince1970: minute * VideoAnalyticsKey.microsPerMinute)
                answer.minutes.append(.init(start: start, viewers: viewers))
                if viewers > answer.peak {
                    answer.peak = viewers
                    answer.peakAt = start
                }
            }
            return answer
        }
    }

    /// The `limit` videos with the most views (or watch time) over `range`, ties by video id.
    public func topVideos(over range: DayRange, by order: TopVideos.Order, limit: Int) throws -> TopVideos {
        try projections.read(name) { views in
            var totals: [String: (views: UInt64, watched: UInt64)] = [:]
            for day in range.days {
                let prefix = VideoAnalyticsKey.day(day)
                try views.forEach("daily", prefix: prefix) { key, value in
                    guard let (video, _) = ViewKey.string(in: key, at: 8) else { return true }
                    let tally = try value.withUnsafeBytes { try DailyVideoTally(decoding: $0) }
                    totals[video, default: (0, 0)].views += tally.views
                    totals[video, default: (0, 0)].watched += tally.watchedMillis
                    return true
                }
            }
            let entries = totals.map { TopVideos.Entry(videoId: $0.key, views: $0.value.views, watchTimeMillis: $0.value.watched) }
                .filter { $0.views > 0 || $0.watchTimeMillis > 0 }
            let ranked = entries.sorted { left, right in
                let (l, r) = order == .views ? (left.views, right.views) : (left.watchTimeMillis, right.watchTimeMillis)
                return l != r ? l > r : Array(left.videoId.utf8).lexicographicallyPrecedes(Array(right.videoId.utf8))
            }
            return TopVideos(range: range, order: order, videos: Array(ranked.prefix(max(limit, 0))))
        }
    }

    /// Adds up the UInt32 counter rows of `database` for `video` over `range`.
    private func sum(_ database: String, _ video: [UInt8], _ range: DayRange, into counts: inout [UInt64], _ views: ViewTransaction) throws {
        try views.forEach(database, from: video + VideoAnalyticsKey.day(range.first)) { key, value in
            guard key.starts(with: video), VideoAnalyticsKey.day(fromKey: key[video.count...]) <= range.last else { return false }
            for (index, count) in VideoAnalyticsProjector.counters(value).enumerated() where index < counts.count {
                counts[index] += UInt64(count)
            }
            return true
        }
    }
}
