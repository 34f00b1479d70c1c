public import EventLog
public import Views
import WatchDomain

/// A range of whole days, `first` through `last`, each counted from 1970-01-01 (day 0) in the
/// calendar of `timeZone`: UTC days, or the days of the zone an answer is asked in (`tz`, as
/// the interactions' patterns take it).
///
/// A view belongs to the day its session started on in that zone. Every zone's days start on
/// a quarter-hour of UTC today (offsets are whole quarter-hours, +05:45 and +12:45
/// included); a few did not in the 1970s (Liberia's −00:44:30), and
/// ``init(first:last:timeZone:startOfDay:)`` refuses such days.
public struct DayRange: Sendable, Hashable {
    /// The longest range an answer spans (a year, a leap one included).
    public static let maxDays: Int64 = 366

    /// Why days cannot be a range: a ``Code`` and a sentence for the client.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong (a struct, so that codes can be added).
        public struct Code: Sendable, Hashable {
            private let value: Int
            /// The last day is before the first.
            public static let reversed = Code(value: 1)
            /// More than ``DayRange/maxDays`` days.
            public static let tooLong = Code(value: 2)
            /// The zone's days do not start on a quarter-hour of UTC.
            public static let offQuarterHour = Code(value: 3)
        }

        public let code: Code
        public let description: String
    }

    public private(set) var first: Int64
    public private(set) var last: Int64
    /// The zone's name as asked (`Europe/Paris`, `+05:30`), or `UTC`.
    public private(set) var timeZone: String
    /// Where each day starts, and the last one ends, in quarter-hours since
    /// 1970-01-01T00:00Z: `last − first + 2` of them, never decreasing (a day a zone skipped
    /// is empty).
    public private(set) var boundaries: [Int64]

    /// The UTC days from `first` through `last`; nil when `last` is before `first` or the range
    /// is longer than ``maxDays``.
    public init?(first: Int64, last: Int64) {
        guard first <= last, last - first < Self.maxDays else { return nil }
        self.first = first
        self.last = last
        timeZone = "UTC"
        boundaries = (first...(last + 1)).map { $0 * VideoAnalyticsKey.quartersPerDay }
    }

    /// The UTC days the instants from `start` to `end` (exclusive) fall on; nil as above.
    public init?(covering start: Timestamp, to end: Timestamp) {
        self.init(first: Self.day(of: start), last: Self.day(of: Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1)))
    }

    /// The days from `first` through `last` of the zone named `timeZone`, where local day `d`
    /// starts at `startOfDay(d)`. Throws when `last` is before `first`, the range is longer
    /// than ``maxDays``, or a day does not start on a quarter-hour (or starts before the one
    /// before).
    public init(first: Int64, last: Int64, timeZone: String, startOfDay: (Int64) -> Timestamp) throws(Failure) {
        guard first <= last else { throw Failure(code: .reversed, description: "the last day is before the first") }
        guard last - first < Self.maxDays else { throw Failure(code: .tooLong, description: "the range may span at most \(Self.maxDays) days") }
        var boundaries: [Int64] = []
        boundaries.reserveCapacity(Int(last - first + 2))
        for day in first...(last + 1) {
            let micros = startOfDay(day).microsecondsSince1970
            guard micros % VideoAnalyticsKey.microsPerQuarter == 0 else {
                throw Failure(code: .offQuarterHour, description: "the days of \(timeZone) do not start on a quarter-hour of UTC in this range")
            }
            // A day the zone skipped (Apia's 2011-12-30) starts where the next one does: it
            // holds nothing. Days never start before the one before.
            guard boundaries.last.map({ $0 * VideoAnalyticsKey.microsPerQuarter <= micros }) ?? true else {
                throw Failure(code: .offQuarterHour, description: "the days of \(timeZone) go back in time in this range")
            }
            boundaries.append(VideoAnalyticsKey.floorDivide(micros, VideoAnalyticsKey.microsPerQuarter))
        }
        self.first = first
        self.last = last
        self.timeZone = timeZone
        self.boundaries = boundaries
    }

    /// The UTC day `time` falls on.
    public static func day(of time: Timestamp) -> Int64 { VideoAnalyticsKey.day(of: time) }

    /// The days, in order.
    public var days: ClosedRange<Int64> { first...last }

    /// The start of the range and the end of its last day.
    public var start: Timestamp { Timestamp(microsecondsSince1970: boundaries[0] * VideoAnalyticsKey.microsPerQuarter) }
    public var end: Timestamp { Timestamp(microsecondsSince1970: boundaries[boundaries.count - 1] * VideoAnalyticsKey.microsPerQuarter) }

    /// Where the `index`th day (from 0) starts and ends, in quarter-hours.
    func quarters(ofDay index: Int) -> Range<Int64> { boundaries[index]..<boundaries[index + 1] }

    /// Every quarter-hour of the range.
    var allQuarters: Range<Int64> { boundaries[0]..<boundaries[boundaries.count - 1] }
}

/// The rows that cover the quarter-hours `quarters` exactly: the whole UTC days among them
/// (one row each), and the quarter-hours left at each end. Ranges of UTC days are whole days
/// only; a day of another zone is two pieces of UTC days, up to 95 quarter-hour rows each.
struct RowCover {
    var pieces: [(span: RowSpan, rows: Range<Int64>)] = []

    init(_ quarters: Range<Int64>) {
        let perDay = VideoAnalyticsKey.quartersPerDay
        let firstDay = -VideoAnalyticsKey.floorDivide(-quarters.lowerBound, perDay)
        let endDay = VideoAnalyticsKey.floorDivide(quarters.upperBound, perDay)
        guard firstDay < endDay else {
            pieces = [(.quarter, quarters)]
            return
        }
        pieces = [
            (.quarter, quarters.lowerBound..<(firstDay * perDay)), (.day, firstDay..<endDay), (.quarter, (endDay * perDay)..<quarters.upperBound),
        ]
        .filter { !$0.rows.isEmpty }
    }
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

        /// `viewers` in the minute from `start`.
        public init(start: Timestamp, viewers: UInt64) {
            self.start = start
            self.viewers = viewers
        }
    }

    /// The video; nil for all videos.
    public var videoId: String?
    public var minutes: [Minute]
    /// The most views playing in one minute, and the first minute it was reached (nil when 0).
    public var peak: UInt64
    public var peakAt: Timestamp?

    /// The series of `videoId` (nil: all videos).
    public init(videoId: String?, minutes: [Minute], peak: UInt64, peakAt: Timestamp?) {
        self.videoId = videoId
        self.minutes = minutes
        self.peak = peak
        self.peakAt = peakAt
    }
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
            let rangeStart = range.boundaries[0]
            var totals = DailyVideoTally()
            for (index, day) in range.days.enumerated() {
                let quarters = range.quarters(ofDay: index)
                let tally = try tallies(of: video, over: quarters, views)
                var dayViewers: UInt64 = 0
                // A viewer counts in the range at their first view in it, and in the day at
                // their first view that day.
                try forEachViewerRow(of: video, over: quarters, views) { start, gaps in
                    let (inRange, inDay) = try ViewerGaps.viewers(in: gaps, withGapOver: start - rangeStart, start - quarters.lowerBound)
                    summary.uniqueViewers += inRange
                    dayViewers += inDay
                }
                summary.views += tally.views
                summary.watchTimeMillis += tally.watchedMillis
                summary.countedPlays += tally.countedPlays
                summary.completions += tally.completions
                totals.add(tally)
                summary.days.append(
                    .init(
                        day: day,
                        views: tally.views,
                        uniqueViewers: dayViewers,
                        watchTimeMillis: tally.watchedMillis,
                        countedPlays: tally.countedPlays,
                        completions: tally.completions
                    )
                )
            }
            if summary.views > 0 { summary.averageViewDurationMillis = Double(summary.watchTimeMillis) / Double(summary.views) }
            if totals.registeredViews > 0, let length = summary.lengthMillis {
                summary.averagePercentageViewed =
                    100 * Double(totals.registeredWatchedMillis) / Double(totals.registeredViews) / Double(length)
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
            try sum(.retention, video, range.allQuarters, into: &counts, views)
            return RetentionCurve(
                videoId: videoId,
                range: range,
                lengthMillis: length,
                views: try tallies(of: video, over: range.allQuarters, views).registeredViews,
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
            try sum(.seeks, ViewKey.string(videoId), range.allQuarters, into: &counts, views)
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
            // In place: a week is 10,080 rows.
            try views.forEachInPlace(database, from: prefix + VideoAnalyticsKey.minute(first)) { key, value in
                guard key.count == prefix.count + 8, key.starts(with: prefix), value.count == 8 else { return false }
                let minute = Int64(bitPattern: UInt64(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)) ^ (1 << 63))
                guard minute <= last else { return false }
                counts[Int(minute - first)] = UInt64(bigEndian: value.loadUnaligned(as: UInt64.self))
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
            func add(_ video: String, _ tally: DailyVideoTally) {
                totals[video, default: (0, 0)].views += tally.views
                totals[video, default: (0, 0)].watched += tally.watchedMillis
            }
            for (span, rows) in RowCover(range.allQuarters).pieces {
                switch span {
                case .day:
                    for day in rows {
                        try views.forEach("daily", prefix: VideoAnalyticsKey.day(day)) { key, value in
                            guard let (video, _) = ViewKey.string(in: key, at: 8) else { return true }
                            add(video, try value.withUnsafeBytes { try DailyVideoTally(decoding: $0) })
                            return true
                        }
                    }
                case .quarter:
                    // The videos viewed in each quarter-hour, then their tallies then.
                    var found: [(quarter: Int64, video: [UInt8])] = []
                    try views.forEach("quarter_videos", from: VideoAnalyticsKey.quarter(rows.lowerBound)) { key, _ in
                        let quarter = VideoAnalyticsKey.quarter(fromKey: key[...])
                        guard quarter < rows.upperBound else { return false }
                        found.append((quarter, Array(key[8...])))
                        return true
                    }
                    // Each video's slots of the piece: one row read per video (a piece is within one day).
                    var seen = Set<[UInt8]>()
                    for (_, video) in found where seen.insert(video).inserted {
                        guard let (id, _) = ViewKey.string(in: video, at: 0) else { continue }
                        try QuarterSlots.forEach("quarter_tallies", video, rows, in: views) { _, bytes in
                            add(id, try DailyVideoTally(decoding: bytes))
                        }
                    }
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

    /// The tallies of `video`'s views that began in `quarters`.
    private func tallies(of video: [UInt8], over quarters: Range<Int64>, _ views: ViewTransaction) throws -> DailyVideoTally {
        var total = DailyVideoTally()
        for (span, rows) in RowCover(quarters).pieces {
            switch span {
            case .day:
                for day in rows {
                    let tally = try views.withValue("daily", VideoAnalyticsKey.day(day) + video) { bytes in
                        try bytes.map { try DailyVideoTally(decoding: $0) }
                    }
                    if let tally { total.add(tally) }
                }
            case .quarter:
                try QuarterSlots.forEach("quarter_tallies", video, rows, in: views) { _, value in total.add(try DailyVideoTally(decoding: value)) }
            }
        }
        return total
    }

    /// Visits the viewer rows (days and quarter-hours) that cover `quarters`, each with its
    /// first quarter-hour and its encoded ``ViewerGaps`` (in place).
    private func forEachViewerRow(
        of video: [UInt8],
        over quarters: Range<Int64>,
        _ views: ViewTransaction,
        _ body: (Int64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        for (span, rows) in RowCover(quarters).pieces {
            switch span {
            case .day:
                for day in rows {
                    try views.withValue("day_viewers", video + VideoAnalyticsKey.day(day)) { bytes in
                        if let bytes { try body(span.start(of: day), bytes) }
                    }
                }
            case .quarter:
                try QuarterSlots.forEach("quarter_viewers", video, rows, in: views, body)
            }
        }
    }

    /// Adds up the UInt32 counter rows of `figure` for `video` that cover `quarters`.
    private func sum(
        _ figure: CounterFigure,
        _ video: [UInt8],
        _ quarters: Range<Int64>,
        into counts: inout [UInt64],
        _ views: ViewTransaction
    ) throws {
        for (span, rows) in RowCover(quarters).pieces {
            try forEachRow(figure.database(span), of: video, rows, in: views) { _, value in
                // Little-endian UInt32 counters, added straight from the row's bytes.
                value.withUnsafeBytes { bytes in
                    for index in 0..<min(bytes.count / 4, counts.count) {
                        counts[index] += UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
                    }
                }
            }
        }
    }

    /// Visits the rows of `database` keyed by `video` and a day or quarter-hour in `rows`, in order.
    private func forEachRow(
        _ database: String,
        of video: [UInt8],
        _ rows: Range<Int64>,
        in views: ViewTransaction,
        _ body: (Int64, [UInt8]) throws -> Void
    ) throws {
        guard !rows.isEmpty else { return }
        try views.forEach(database, from: video + VideoAnalyticsKey.day(rows.lowerBound)) { key, value in
            guard key.starts(with: video) else { return false }
            let row = VideoAnalyticsKey.day(fromKey: key[video.count...])
            guard row < rows.upperBound else { return false }
            try body(row, value)
            return true
        }
    }
}
