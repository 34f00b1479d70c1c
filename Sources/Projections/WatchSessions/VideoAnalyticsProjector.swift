public import EventLog
public import Views
import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Folds watch sessions into the read models video analytics are answered from (issue 17),
/// behind the log's writer (an asynchronous projector, ``AsyncProjections``).
///
/// A watch session is a view; it belongs to the quarter-hour its `startTime` falls in, and so
/// to that quarter-hour's UTC day. Its player events are folded by ``ViewWatch``; a deleted
/// session takes back all it added.
///
/// Every per-time figure is kept twice: per UTC day, which answers ranges of UTC days, and
/// per quarter-hour, which answers the edges of days in other time zones (every zone's days
/// start on a quarter-hour: ``DayRange``). An answer reads the whole UTC days its range
/// covers and the quarter-hours left over at each end. The tallies' and viewers'
/// quarter-hours are packed one row per day (``QuarterSlots``), so that a day of another zone
/// reads two rows of each, not up to 96.
///
/// | database | key | value |
/// |---|---|---|
/// | `videos` | video id (UTF-8) | length in ms, completion threshold in millionths (varints) |
/// | `views` | session id (16) | ``ViewRecord``: the view's video, user, quarter-hour and ``ViewWatch`` |
/// | `daily` | day (8), video (length-prefixed) | ``DailyVideoTally``: views, watch time, plays that count, completions |
/// | `quarter_tallies` | video (length-prefixed), day (8) | ``QuarterSlots``: per quarter-hour of the day, the ``DailyVideoTally`` of the views that began in it |
/// | `quarter_videos` | quarter-hour (8), video (length-prefixed) | nothing: the videos with a `quarter_tallies` row then |
/// | `retention`, `quarter_retention` | video (length-prefixed), day or quarter-hour (8) | 200 × UInt32 LE: views that watched each of the 100 points, then that rewatched it |
/// | `seeks`, `quarter_seeks` | video (length-prefixed), day or quarter-hour (8) | 300 × UInt32 LE: seeks from each 1 % of the video, seeks to it, forward seeks that skipped it |
/// | `viewer_quarters` | video, user (length-prefixed), quarter-hour (8) | views (varint): when a user viewed the video |
/// | `day_viewers` | video (length-prefixed), day (8) | the day's viewers by the quarter-hours from its start back to their previous view of the video (``ViewerGaps``) |
/// | `quarter_viewers` | video (length-prefixed), day (8) | ``QuarterSlots``: per quarter-hour of the day, its viewers as in `day_viewers` |
/// | `minutes` | video (length-prefixed), minute (8) | views playing during the minute (8 BE) |
/// | `all_minutes` | minute (8) | views of any video playing during the minute (8 BE) |
/// | `view_seeks` | session id (16), the seek's log position (8) | a seek's from and to (ms), to take it back |
/// | `view_minutes` | session id (16), first minute (8) | last minute (8): minutes the view was counted in |
///
/// Days, quarter-hours and minutes are counted from 1970-01-01T00:00Z and stored with the
/// sign bit flipped, big-endian, so that they sort in time order.
public struct VideoAnalyticsProjector: Projector {
    public let name = "video-analytics"
    /// 2: quarter-hour rows beside the daily ones, for days in other time zones; 3: the
    /// tallies' and viewers' quarter-hours packed one row per day.
    public let version: UInt32 = 3
    public let databases = [
        "videos", "views", "daily", "quarter_tallies", "quarter_videos", "retention", "quarter_retention", "seeks", "quarter_seeks",
        "viewer_quarters", "day_viewers", "quarter_viewers", "minutes", "all_minutes", "view_seeks", "view_minutes",
    ]
    public let eventTypePrefixes = ["watch-session.", "video."]

    /// Creates the projector.
    public init() {}

    private static let registered = Array(VideoRegistered.eventType.utf8)
    private static let started = Array(WatchSessionStarted.eventType.utf8)
    private static let player = Array(PlayerEventRecorded.eventType.utf8)
    private static let deleted = Array(WatchSessionDeleted.eventType.utf8)

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        if ViewKey.matches(type, Self.player) {
            let event = try PlayerEventRecorded.decode(record.payload)
            try playerEvent(event, at: record.position, views)
        } else if ViewKey.matches(type, Self.started) {
            try start(try WatchSessionStarted.decode(record.payload), views)
        } else if ViewKey.matches(type, Self.deleted) {
            try delete(try WatchSessionDeleted.decode(record.payload).sessionId, views)
        } else if ViewKey.matches(type, Self.registered) {
            let event = try VideoRegistered.decode(record.payload)
            var writer = BinaryWriter(capacity: 16)
            writer.write(event.durationMillis)
            writer.write(VideoProgressEvents.thresholdPartsPerMillion(event.completionThreshold))
            try views.put("videos", Array(event.videoId.utf8), writer.bytes)
        }
    }

    // MARK: Folding

    private func start(_ event: WatchSessionStarted, _ views: ViewTransaction) throws {
        let session16 = ViewKey.uuid(event.sessionId)
        guard try views.get("views", session16) == nil else { return }
        let video = try Self.video(event.videoId, in: views)
        let quarter = VideoAnalyticsKey.quarter(of: event.startTime.timestamp)
        let watch =
            video.map { ViewWatch(lengthMillis: $0.lengthMillis, threshold: Double($0.thresholdPPM) / 1_000_000) }
            ?? ViewWatch(lengthMillis: Timecode.maxMilliseconds, threshold: 1)
        let view = ViewRecord(videoId: event.videoId, userId: event.userId, quarter: quarter, registered: video != nil, lastMinute: nil, watch: watch)
        try views.put("views", session16, view.encoded())
        try updateDaily(view, in: views) { tally in
            tally.views += 1
            if view.registered { tally.registeredViews += 1 }
        }
        try addViewerQuarter(view, views)
    }

    private func playerEvent(_ event: PlayerEventRecorded, at position: LogPosition, _ views: ViewTransaction) throws {
        let session16 = ViewKey.uuid(event.sessionId)
        guard var view = try Self.view(session16, in: views) else { return }
        let change = view.watch.apply(event.event)
        let video = ViewKey.string(view.videoId)
        if change.watchedMillis > 0 || change.becameCounted || change.becameCompleted {
            try updateDaily(view, in: views) { tally in
                tally.watchedMillis += change.watchedMillis
                if view.registered { tally.registeredWatchedMillis += change.watchedMillis }
                if change.becameCounted { tally.countedPlays += 1 }
                if change.becameCompleted { tally.completions += 1 }
            }
        }
        if view.registered, change.newlyWatched.count + change.newlyRewatched.count > 0 {
            try Self.add(to: .retention, of: view, count: 2 * ViewWatch.points, in: views) { counts in
                for point in change.newlyWatched.points { counts[point] &+= 1 }
                for point in change.newlyRewatched.points { counts[ViewWatch.points + point] &+= 1 }
            }
        }
        if view.registered, let seek = change.seek {
            try addSeek(from: seek.from, to: seek.to, of: view, sign: 1, views)
            var writer = BinaryWriter(capacity: 16)
            writer.write(seek.from)
            writer.write(seek.to)
            try views.put("view_seeks", session16 + ViewKey.bigEndian(position), writer.bytes)
        }
        if let since = change.playedSince, change.watchedMillis > 0 {
            let first = max(VideoAnalyticsKey.minute(of: since), (view.lastMinute ?? .min) &+ 1)
            let endMicros = since.microsecondsSince1970 + Int64(change.watchedMillis) * 1_000 - 1
            let last = VideoAnalyticsKey.minute(of: Timestamp(microsecondsSince1970: endMicros))
            if first <= last {
                try addMinutes(first...last, video: video, sign: 1, views)
                try views.put("view_minutes", session16 + VideoAnalyticsKey.minute(first), VideoAnalyticsKey.minute(last))
                view.lastMinute = last
            }
        }
        try views.put("views", session16, view.encoded())
    }

    private func delete(_ sessionId: UUID, _ views: ViewTransaction) throws {
        let session16 = ViewKey.uuid(sessionId)
        guard let view = try Self.view(session16, in: views) else { return }
        let video = ViewKey.string(view.videoId)
        try updateDaily(view, in: views) { tally in
            tally.views -= 1
            tally.watchedMillis -= view.watch.watchedMillis
            if view.registered {
                tally.registeredViews -= 1
                tally.registeredWatchedMillis -= view.watch.watchedMillis
            }
            if view.watch.counted { tally.countedPlays -= 1 }
            if view.watch.completed { tally.completions -= 1 }
        }
        if view.registered, view.watch.watched.count > 0 {
            try Self.add(to: .retention, of: view, count: 2 * ViewWatch.points, in: views) { counts in
                for point in view.watch.watched.points { counts[point] &-= 1 }
                for point in view.watch.rewatched.points { counts[ViewWatch.points + point] &-= 1 }
            }
        }
        var seekKeys: [[UInt8]] = []
        try views.forEach("view_seeks", prefix: session16) { key, value in
            seekKeys.append(key)
            try value.withUnsafeBytes { bytes in
                var reader = BinaryReader(bytes)
                try addSeek(from: try reader.readUInt(), to: try reader.readUInt(), of: view, sign: -1, views)
            }
            return true
        }
        var minuteKeys: [[UInt8]] = []
        try views.forEach("view_minutes", prefix: session16) { key, value in
            minuteKeys.append(key)
            let first = VideoAnalyticsKey.minute(fromKey: key[16...])
            let last = VideoAnalyticsKey.minute(fromKey: value[...])
            try addMinutes(first...last, video: video, sign: -1, views)
            return true
        }
        for key in seekKeys { try views.delete("view_seeks", key) }
        for key in minuteKeys { try views.delete("view_minutes", key) }
        try removeViewerQuarter(view, views)
        try views.delete("views", session16)
    }

    // MARK: Rows

    /// Changes the view's tallies: its day's and its quarter-hour's.
    private func updateDaily(_ view: ViewRecord, in views: ViewTransaction, _ body: (inout DailyVideoTally) -> Void) throws {
        let video = ViewKey.string(view.videoId)
        let dayKey = VideoAnalyticsKey.day(view.day) + video
        var tally = try views.withValue("daily", dayKey) { bytes in try bytes.map { try DailyVideoTally(decoding: $0) } } ?? DailyVideoTally()
        body(&tally)
        try views.put("daily", dayKey, tally.encoded())
        var emptied = false
        try QuarterSlots.change("quarter_tallies", video, quarter: view.quarter, in: views) { bytes in
            var quarter = try bytes.map { bytes in try bytes.withUnsafeBytes { try DailyVideoTally(decoding: $0) } } ?? DailyVideoTally()
            body(&quarter)
            // A quarter-hour whose last view was deleted leaves no slot (and no index entry).
            emptied = quarter == DailyVideoTally()
            bytes = emptied ? nil : quarter.encoded()
        }
        let indexKey = VideoAnalyticsKey.quarter(view.quarter) + video
        if emptied { try views.delete("quarter_videos", indexKey) } else { try views.put("quarter_videos", indexKey, []) }
    }

    private func addSeek(from: UInt64, to: UInt64, of view: ViewRecord, sign: Int, _ views: ViewTransaction) throws {
        let length = view.watch.lengthMillis
        let points = ViewWatch.points
        let fromBucket = min(Int(from * UInt64(points) / length), points - 1)
        let toBucket = min(Int(to * UInt64(points) / length), points - 1)
        try Self.add(to: .seeks, of: view, count: 3 * points, in: views) { counts in
            let delta = UInt32(bitPattern: Int32(sign))
            counts[fromBucket] &+= delta
            counts[points + toBucket] &+= delta
            // A forward seek skips the points it jumps over (from ≤ position < to).
            if to > from {
                for point in 0..<points where view.watch.position(ofPoint: point) >= from && view.watch.position(ofPoint: point) < to {
                    counts[2 * points + point] &+= delta
                }
            }
        }
    }

    private func addMinutes(_ minutes: ClosedRange<Int64>, video: [UInt8], sign: Int64, _ views: ViewTransaction) throws {
        for minute in minutes {
            let minuteKey = VideoAnalyticsKey.minute(minute)
            for (database, key) in [("minutes", video + minuteKey), ("all_minutes", minuteKey)] {
                let count = Int64(bitPattern: try views.get(database, key).map { ViewKey.integer($0) } ?? 0) + sign
                if count <= 0 {
                    try views.delete(database, key)
                } else {
                    try views.put(database, key, ViewKey.bigEndian(UInt64(count)))
                }
            }
        }
    }

    /// Counts the view in the user's quarter-hours of the video. A first view in a quarter-hour
    /// enters its ``ViewerGaps`` (and its day's, when it is the user's first that day), and
    /// changes the gaps of the user's next view.
    private func addViewerQuarter(_ view: ViewRecord, _ views: ViewTransaction) throws {
        let prefix = ViewKey.string(view.videoId) + ViewKey.string(view.userId)
        let key = prefix + VideoAnalyticsKey.quarter(view.quarter)
        let count = try views.withValue("viewer_quarters", key) { bytes in try bytes.map { try Self.varint($0) } } ?? 0
        try views.put("viewer_quarters", key, Self.varintBytes(count + 1))
        guard count == 0 else { return }
        let (previous, next) = try Self.neighbours(of: view.quarter, prefix: prefix, in: views)
        try changeGaps(of: ViewKey.string(view.videoId), at: view.quarter, previous: previous, next: next, adding: true, views)
    }

    private func removeViewerQuarter(_ view: ViewRecord, _ views: ViewTransaction) throws {
        let prefix = ViewKey.string(view.videoId) + ViewKey.string(view.userId)
        let key = prefix + VideoAnalyticsKey.quarter(view.quarter)
        let count = try views.withValue("viewer_quarters", key) { bytes in try bytes.map { try Self.varint($0) } } ?? 0
        guard count > 1 else {
            try views.delete("viewer_quarters", key)
            guard count == 1 else { return }
            let (previous, next) = try Self.neighbours(of: view.quarter, prefix: prefix, in: views)
            try changeGaps(of: ViewKey.string(view.videoId), at: view.quarter, previous: previous, next: next, adding: false, views)
            return
        }
        try views.put("viewer_quarters", key, Self.varintBytes(count - 1))
    }

    /// A user's view quarter-hour `quarter` of `video` comes (or goes) between their views at
    /// `previous` and `next`. In each span's rows (days, quarter-hours) a user is an entry of
    /// the row of their first view in it, with the gap back to their view before the row:
    /// - the row of `quarter` gains (loses) the user unless they have another view in it;
    /// - the row of `next`, when it is another row, has its entry's gap measured from
    ///   `quarter` instead of `previous` (and back).
    private func changeGaps(
        of video: [UInt8],
        at quarter: Int64,
        previous: Int64?,
        next: Int64?,
        adding: Bool,
        _ views: ViewTransaction
    ) throws {
        for span in RowSpan.allCases {
            let row = span.row(of: quarter)
            let sharesRow = previous.map { span.row(of: $0) == row } == true || next.map { span.row(of: $0) == row } == true
            if !sharesRow {
                try ViewerGaps.change(span, video, row: row, in: views) { gaps in
                    let gap = ViewerGaps.gap(from: span.start(of: row), back: previous)
                    if adding { gaps.add(gap: gap) } else { gaps.remove(gap: gap) }
                }
            }
            if let next, span.row(of: next) != row {
                let nextRow = span.row(of: next)
                try ViewerGaps.change(span, video, row: nextRow, in: views) { gaps in
                    let start = span.start(of: nextRow)
                    gaps.remove(gap: ViewerGaps.gap(from: start, back: adding ? previous : quarter))
                    gaps.add(gap: ViewerGaps.gap(from: start, back: adding ? quarter : previous))
                }
            }
        }
    }

    /// The user's nearest quarter-hours with a view before and after `quarter` (other than
    /// it): a scan of the user's quarter-hours of the video, one per distinct time they began one.
    private static func neighbours(of quarter: Int64, prefix: [UInt8], in views: ViewTransaction) throws -> (Int64?, Int64?) {
        var previous: Int64?
        var next: Int64?
        try views.forEach("viewer_quarters", prefix: prefix) { key, _ in
            let other = VideoAnalyticsKey.quarter(fromKey: key[(key.count - 8)...])
            if other < quarter { previous = other }
            if other > quarter {
                next = other
                return false
            }
            return true
        }
        return (previous, next)
    }

    // MARK: Reading rows

    static func video(_ id: String, in views: ViewTransaction) throws -> (lengthMillis: UInt64, thresholdPPM: UInt64)? {
        try views.withValue("videos", Array(id.utf8)) { bytes in
            try bytes.map { bytes in
                var reader = BinaryReader(bytes)
                return (max(try reader.readUInt(), 1), try reader.readUInt())
            }
        }
    }

    static func view(_ session16: [UInt8], in views: ViewTransaction) throws -> ViewRecord? {
        try views.withValue("views", session16) { bytes in try bytes.map { try ViewRecord(decoding: $0) } }
    }

    /// Adds to the view's day row and quarter-hour row of `figure`.
    static func add(to figure: CounterFigure, of view: ViewRecord, count: Int, in views: ViewTransaction, _ body: (inout [UInt32]) -> Void) throws {
        let video = ViewKey.string(view.videoId)
        for span in RowSpan.allCases {
            let row = span.row(of: view.quarter)
            try add(to: figure.database(span), video + VideoAnalyticsKey.day(row), count: count, in: views, body)
        }
    }

    /// Adds to a row of `count` little-endian UInt32 counters (zeros when missing); a row
    /// that comes back to all zeros is removed.
    static func add(to database: String, _ key: [UInt8], count: Int, in views: ViewTransaction, _ body: (inout [UInt32]) -> Void) throws {
        var counts = try views.get(database, key).map(Self.counters) ?? [UInt32](repeating: 0, count: count)
        body(&counts)
        if counts.allSatisfy({ $0 == 0 }) {
            try views.delete(database, key)
        } else {
            try views.put(database, key, counts.withUnsafeBytes { Array($0) })
        }
    }

    /// The little-endian UInt32 counters of a row.
    static func counters(_ bytes: [UInt8]) -> [UInt32] {
        stride(from: 0, to: bytes.count - 3, by: 4).map { index in
            UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
        }
    }

    static func varint(_ bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        var reader = BinaryReader(bytes)
        return try reader.readUInt()
    }

    static func varintBytes(_ value: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: 10)
        writer.write(value)
        return writer.bytes
    }
}

/// Keys of days, quarter-hours and minutes since 1970-01-01T00:00Z, in time order.
enum VideoAnalyticsKey {
    static let microsPerDay: Int64 = 86_400_000_000
    static let microsPerQuarter: Int64 = 900_000_000
    static let microsPerMinute: Int64 = 60_000_000
    static let quartersPerDay: Int64 = 96

    /// The UTC day `time` falls on, counted from 1970-01-01 (negative before).
    static func day(of time: Timestamp) -> Int64 { floorDivide(time.microsecondsSince1970, microsPerDay) }
    static func quarter(of time: Timestamp) -> Int64 { floorDivide(time.microsecondsSince1970, microsPerQuarter) }
    static func minute(of time: Timestamp) -> Int64 { floorDivide(time.microsecondsSince1970, microsPerMinute) }

    static func day(_ day: Int64) -> [UInt8] { ViewKey.bigEndian(UInt64(bitPattern: day) ^ (1 << 63)) }
    static func quarter(_ quarter: Int64) -> [UInt8] { day(quarter) }
    static func minute(_ minute: Int64) -> [UInt8] { day(minute) }
    static func day(fromKey bytes: ArraySlice<UInt8>) -> Int64 { Int64(bitPattern: ViewKey.integer(bytes.prefix(8)) ^ (1 << 63)) }
    static func quarter(fromKey bytes: ArraySlice<UInt8>) -> Int64 { day(fromKey: bytes) }
    static func minute(fromKey bytes: ArraySlice<UInt8>) -> Int64 { day(fromKey: bytes) }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}

/// The two sizes of per-time rows: UTC days, and quarter-hours for the edges of days in
/// other time zones. A row is numbered by its day or quarter-hour since 1970-01-01T00:00Z.
enum RowSpan: CaseIterable {
    case day
    case quarter

    /// Quarter-hours per row.
    var quarters: Int64 { self == .day ? VideoAnalyticsKey.quartersPerDay : 1 }

    /// The row a quarter-hour is in.
    func row(of quarter: Int64) -> Int64 { VideoAnalyticsKey.floorDivide(quarter, quarters) }

    /// The row's first quarter-hour.
    func start(of row: Int64) -> Int64 { row * quarters }

}

/// The figures kept as rows of UInt32 counters per video and time.
enum CounterFigure {
    case retention
    case seeks

    func database(_ span: RowSpan) -> String {
        switch (self, span) {
        case (.retention, .day): "retention"
        case (.retention, .quarter): "quarter_retention"
        case (.seeks, .day): "seeks"
        case (.seeks, .quarter): "quarter_seeks"
        }
    }
}

/// One view as the projector keeps it (row of `views`).
struct ViewRecord {
    var videoId: String
    var userId: String
    /// The quarter-hour of the session's start, since 1970-01-01T00:00Z.
    var quarter: Int64
    /// Whether the video was registered when the view began: only then has it a length,
    /// and only then does it count in retention and seeks.
    var registered: Bool
    /// The last minute the view was counted in as a concurrent viewer.
    var lastMinute: Int64?
    var watch: ViewWatch

    /// The UTC day of the session's start.
    var day: Int64 { RowSpan.day.row(of: quarter) }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 96)
        writer.write(UInt8(2))
        writer.write(videoId)
        writer.write(userId)
        writer.write(quarter)
        writer.write(registered)
        writer.writeOptional(lastMinute) { $0.write($1) }
        watch.encode(to: &writer)
        return writer.bytes
    }

    init(videoId: String, userId: String, quarter: Int64, registered: Bool, lastMinute: Int64?, watch: ViewWatch) {
        self.videoId = videoId
        self.userId = userId
        self.quarter = quarter
        self.registered = registered
        self.lastMinute = lastMinute
        self.watch = watch
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 2 else { throw DomainCodecError("unknown view record version") }
        videoId = try reader.readString()
        userId = try reader.readString()
        quarter = try reader.readInt()
        registered = try reader.readBool()
        lastMinute = try reader.readOptional { (reader: inout BinaryReader) throws(DomainCodecError) in try reader.readInt() }
        watch = try ViewWatch(from: &reader)
    }
}

/// One video's totals on one day (row of `daily`).
struct DailyVideoTally: Hashable {
    var views: UInt64 = 0
    /// Views of the video while it was registered (with a length).
    var registeredViews: UInt64 = 0
    var watchedMillis: UInt64 = 0
    var registeredWatchedMillis: UInt64 = 0
    var countedPlays: UInt64 = 0
    var completions: UInt64 = 0

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 32)
        writer.write(UInt8(1))
        for value in [views, registeredViews, watchedMillis, registeredWatchedMillis, countedPlays, completions] { writer.write(value) }
        return writer.bytes
    }

    init() {}

    /// Adds `other`'s figures to these.
    mutating func add(_ other: DailyVideoTally) {
        views += other.views
        registeredViews += other.registeredViews
        watchedMillis += other.watchedMillis
        registeredWatchedMillis += other.registeredWatchedMillis
        countedPlays += other.countedPlays
        completions += other.completions
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown daily video tally version") }
        views = try reader.readUInt()
        registeredViews = try reader.readUInt()
        watchedMillis = try reader.readUInt()
        registeredWatchedMillis = try reader.readUInt()
        countedPlays = try reader.readUInt()
        completions = try reader.readUInt()
    }
}

/// A row's viewers of a video (a day's or a quarter-hour's, ``RowSpan``) by how far back,
/// from the row's start, each last viewed it before, in quarter-hours (row of `day_viewers`
/// or `quarter_viewers`).
///
/// The distinct viewers of a window of time that starts at quarter-hour `w` and is covered
/// by whole rows are, summed over its rows `r`, the viewers of `r` whose previous view was
/// before `w`: those with a gap over `start(r) − w`. Gaps of ``maxGap`` or more, and first
/// views, are kept as ``maxGap``, which is exact for windows of up to ``maxGap``
/// quarter-hours (366 days of any zone, 25-hour days included).
struct ViewerGaps {
    /// The cap of gaps, in quarter-hours: 367 days.
    static let maxGap: Int64 = 367 * VideoAnalyticsKey.quartersPerDay

    /// (gap, viewers), by gap.
    var counts: [(gap: Int64, viewers: UInt64)] = []

    /// The gap from a row starting at quarter-hour `start` back to a view at `previous`.
    static func gap(from start: Int64, back previous: Int64?) -> Int64 { previous.map { min(start - $0, maxGap) } ?? maxGap }

    /// Where `gap` is, or would be inserted.
    private func index(of gap: Int64) -> Int {
        var low = 0
        var high = counts.count
        while low < high {
            let middle = (low + high) / 2
            if counts[middle].gap < gap { low = middle + 1 } else { high = middle }
        }
        return low
    }

    mutating func add(gap: Int64) {
        let index = index(of: gap)
        if index < counts.count, counts[index].gap == gap {
            counts[index].viewers += 1
        } else {
            counts.insert((gap, 1), at: index)
        }
    }

    mutating func remove(gap: Int64) {
        let index = index(of: gap)
        guard index < counts.count, counts[index].gap == gap else { return }
        counts[index].viewers -= 1
        if counts[index].viewers == 0 { counts.remove(at: index) }
    }

    /// The viewers of an encoded row whose gap is over `first`, and over `second`, read in
    /// place (an answer reads many rows and keeps none).
    static func viewers(in bytes: UnsafeRawBufferPointer, withGapOver first: Int64, _ second: Int64) throws -> (UInt64, UInt64) {
        // The varints read here, not through BinaryReader: a year's answer reads tens of
        // thousands of them, and the call across modules is not inlined.
        var offset = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw DomainCodecError("viewer gaps are cut short") }
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        var counts: (UInt64, UInt64) = (0, 0)
        while offset < bytes.count {
            let gap = Int64(bitPattern: try varint())
            let viewers = try varint()
            if gap > first { counts.0 += viewers }
            if gap > second { counts.1 += viewers }
        }
        return counts
    }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 4 * counts.count)
        for (gap, viewers) in counts {
            writer.write(UInt64(gap))
            writer.write(viewers)
        }
        return writer.bytes
    }

    init() {}

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        while !reader.isAtEnd {
            counts.append((Int64(try reader.readUInt()), try reader.readUInt()))
        }
    }

    static func read(_ span: RowSpan, _ video: [UInt8], row: Int64, in views: ViewTransaction) throws -> ViewerGaps {
        try views.withValue("day_viewers", video + VideoAnalyticsKey.day(row)) { bytes in try bytes.map { try ViewerGaps(decoding: $0) } }
            ?? ViewerGaps()
    }

    /// Changes the gaps of a day (`day_viewers`) or of a quarter-hour (its slot of `quarter_viewers`).
    static func change(_ span: RowSpan, _ video: [UInt8], row: Int64, in views: ViewTransaction, _ body: (inout ViewerGaps) -> Void) throws {
        guard span == .day else {
            try QuarterSlots.change("quarter_viewers", video, quarter: row, in: views) { bytes in
                var gaps = try bytes.map { bytes in try bytes.withUnsafeBytes { try ViewerGaps(decoding: $0) } } ?? ViewerGaps()
                body(&gaps)
                bytes = gaps.counts.isEmpty ? nil : gaps.encoded()
            }
            return
        }
        var gaps = try read(span, video, row: row, in: views)
        body(&gaps)
        let key = video + VideoAnalyticsKey.day(row)
        if gaps.counts.isEmpty {
            try views.delete("day_viewers", key)
        } else {
            try views.put("day_viewers", key, gaps.encoded())
        }
    }
}

/// A day's quarter-hours of one video in one row (`quarter_tallies`, `quarter_viewers`): the
/// value of each quarter-hour that has one, by its index in the day (0 to 95, UTC), as
/// (index: 1 byte, length: varint, the value). One read answers every quarter-hour of a day.
enum QuarterSlots {
    /// Changes the value of `quarter` (nil: none) in `database`'s row of `video` and its day;
    /// a row left without values is removed.
    static func change(
        _ database: String,
        _ video: [UInt8],
        quarter: Int64,
        in views: ViewTransaction,
        _ body: (inout [UInt8]?) throws -> Void
    ) throws {
        let day = RowSpan.day.row(of: quarter)
        let index = Int(quarter - day * VideoAnalyticsKey.quartersPerDay)
        let key = video + VideoAnalyticsKey.day(day)
        var slots = try views.withValue(database, key) { bytes in try bytes.map { try decode($0) } } ?? []
        let position = slots.firstIndex { $0.index >= index } ?? slots.count
        let found = position < slots.count && slots[position].index == index
        var value: [UInt8]? = found ? slots[position].bytes : nil
        try body(&value)
        switch (found, value) {
        case (true, let value?): slots[position].bytes = value
        case (true, nil): slots.remove(at: position)
        case (false, let value?): slots.insert((index, value), at: position)
        case (false, nil): return
        }
        if slots.isEmpty { try views.delete(database, key) } else { try views.put(database, key, encode(slots)) }
    }

    /// Visits the values of `video` for the quarter-hours in `quarters`, in order: one row read
    /// per day, the values handed over in place (valid during `body`).
    static func forEach(
        _ database: String,
        _ video: [UInt8],
        _ quarters: Range<Int64>,
        in views: ViewTransaction,
        _ body: (Int64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard !quarters.isEmpty else { return }
        let perDay = VideoAnalyticsKey.quartersPerDay
        for day in RowSpan.day.row(of: quarters.lowerBound)...RowSpan.day.row(of: quarters.upperBound - 1) {
            try views.withValue(database, video + VideoAnalyticsKey.day(day)) { bytes in
                guard let bytes else { return }
                try walk(bytes) { index, value in
                    let quarter = day * perDay + Int64(index)
                    if quarters.contains(quarter) { try body(quarter, value) }
                }
            }
        }
    }

    /// Visits a row's slots in place, in order.
    static func walk(_ bytes: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            let index = Int(bytes[offset])
            offset += 1
            var length = 0
            var shift = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw DomainCodecError("a quarter-hour slot is cut short") }
                let byte = bytes[offset]
                offset += 1
                length |= Int(byte & 0x7F) << shift
                shift += 7
                if byte < 0x80 { break }
            }
            guard length <= bytes.count - offset else { throw DomainCodecError("a quarter-hour slot is cut short") }
            try body(index, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
            offset += length
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [(index: Int, bytes: [UInt8])] {
        var slots: [(index: Int, bytes: [UInt8])] = []
        try walk(bytes) { index, value in slots.append((index, Array(value))) }
        return slots
    }

    static func encode(_ slots: [(index: Int, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(slots.reduce(0) { $0 + $1.bytes.count + 3 })
        for (index, bytes) in slots {
            out.append(UInt8(index))
            var length = bytes.count
            while length >= 0x80 {
                out.append(UInt8(length & 0x7F) | 0x80)
                length >>= 7
            }
            out.append(UInt8(length))
            out.append(contentsOf: bytes)
        }
        return out
    }
}
