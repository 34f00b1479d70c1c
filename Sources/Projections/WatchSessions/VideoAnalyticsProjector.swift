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
/// A watch session is a view; it belongs to the UTC day its `startTime` falls on. Its player
/// events are folded by ``ViewWatch``; a deleted session takes back all it added.
///
/// | database | key | value |
/// |---|---|---|
/// | `videos` | video id (UTF-8) | length in ms, completion threshold in millionths (varints) |
/// | `views` | session id (16) | ``ViewRecord``: the view's video, user, day and ``ViewWatch`` |
/// | `daily` | day (8), video (length-prefixed) | ``DailyVideoTally``: views, watch time, plays that count, completions |
/// | `retention` | video (length-prefixed), day (8) | 200 × UInt32 LE: views that watched each of the 100 points, then that rewatched it |
/// | `seeks` | video (length-prefixed), day (8) | 300 × UInt32 LE: seeks from each 1 % of the video, seeks to it, forward seeks that skipped it |
/// | `viewer_days` | video, user (length-prefixed), day (8) | views (varint): the days a user viewed the video |
/// | `day_viewers` | video (length-prefixed), day (8) | the day's viewers by the days since their previous view of the video (``ViewerGaps``) |
/// | `minutes` | video (length-prefixed), minute (8) | views playing during the minute (8 BE) |
/// | `all_minutes` | minute (8) | views of any video playing during the minute (8 BE) |
/// | `view_seeks` | session id (16), the seek's log position (8) | a seek's from and to (ms), to take it back |
/// | `view_minutes` | session id (16), first minute (8) | last minute (8): minutes the view was counted in |
///
/// Days and minutes are counted from 1970-01-01T00:00Z and stored with the sign bit flipped,
/// big-endian, so that they sort in time order.
public struct VideoAnalyticsProjector: Projector {
    public let name = "video-analytics"
    public let version: UInt32 = 1
    public let databases = [
        "videos", "views", "daily", "retention", "seeks", "viewer_days", "day_viewers", "minutes", "all_minutes", "view_seeks",
        "view_minutes",
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
        let day = VideoAnalyticsKey.day(of: event.startTime.timestamp)
        let watch =
            video.map { ViewWatch(lengthMillis: $0.lengthMillis, threshold: Double($0.thresholdPPM) / 1_000_000) }
            ?? ViewWatch(lengthMillis: Timecode.maxMilliseconds, threshold: 1)
        let view = ViewRecord(videoId: event.videoId, userId: event.userId, day: day, registered: video != nil, lastMinute: nil, watch: watch)
        try views.put("views", session16, view.encoded())
        try updateDaily(view, in: views) { tally in
            tally.views += 1
            if view.registered { tally.registeredViews += 1 }
        }
        try addViewerDay(view, views)
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
            try Self.add(to: "retention", video + VideoAnalyticsKey.day(view.day), count: 2 * ViewWatch.points, in: views) { counts in
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
            try Self.add(to: "retention", video + VideoAnalyticsKey.day(view.day), count: 2 * ViewWatch.points, in: views) { counts in
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
        try removeViewerDay(view, views)
        try views.delete("views", session16)
    }

    // MARK: Rows

    private func updateDaily(_ view: ViewRecord, in views: ViewTransaction, _ body: (inout DailyVideoTally) -> Void) throws {
        let key = VideoAnalyticsKey.day(view.day) + ViewKey.string(view.videoId)
        var tally = try views.withValue("daily", key) { bytes in try bytes.map { try DailyVideoTally(decoding: $0) } } ?? DailyVideoTally()
        body(&tally)
        try views.put("daily", key, tally.encoded())
    }

    private func addSeek(from: UInt64, to: UInt64, of view: ViewRecord, sign: Int, _ views: ViewTransaction) throws {
        let length = view.watch.lengthMillis
        let points = ViewWatch.points
        let fromBucket = min(Int(from * UInt64(points) / length), points - 1)
        let toBucket = min(Int(to * UInt64(points) / length), points - 1)
        let key = ViewKey.string(view.videoId) + VideoAnalyticsKey.day(view.day)
        try Self.add(to: "seeks", key, count: 3 * points, in: views) { counts in
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

    /// Counts the view in the user's days of the video; a first view that day enters the
    /// day's ``ViewerGaps`` (and changes the gap of the user's next day).
    private func addViewerDay(_ view: ViewRecord, _ views: ViewTransaction) throws {
        let prefix = ViewKey.string(view.videoId) + ViewKey.string(view.userId)
        let key = prefix + VideoAnalyticsKey.day(view.day)
        let count = try views.withValue("viewer_days", key) { bytes in try bytes.map { try Self.varint($0) } } ?? 0
        try views.put("viewer_days", key, Self.varintBytes(count + 1))
        guard count == 0 else { return }
        let (previous, next) = try Self.neighbours(of: view.day, prefix: prefix, in: views)
        try ViewerGaps.change(ViewKey.string(view.videoId), day: view.day, in: views) { $0.add(gap: ViewerGaps.gap(view.day, after: previous)) }
        if let next {
            try ViewerGaps.change(ViewKey.string(view.videoId), day: next, in: views) {
                $0.remove(gap: ViewerGaps.gap(next, after: previous))
                $0.add(gap: ViewerGaps.gap(next, after: view.day))
            }
        }
    }

    private func removeViewerDay(_ view: ViewRecord, _ views: ViewTransaction) throws {
        let prefix = ViewKey.string(view.videoId) + ViewKey.string(view.userId)
        let key = prefix + VideoAnalyticsKey.day(view.day)
        let count = try views.withValue("viewer_days", key) { bytes in try bytes.map { try Self.varint($0) } } ?? 0
        guard count > 1 else {
            try views.delete("viewer_days", key)
            guard count == 1 else { return }
            let (previous, next) = try Self.neighbours(of: view.day, prefix: prefix, in: views)
            try ViewerGaps.change(ViewKey.string(view.videoId), day: view.day, in: views) {
                $0.remove(gap: ViewerGaps.gap(view.day, after: previous))
            }
            if let next {
                try ViewerGaps.change(ViewKey.string(view.videoId), day: next, in: views) {
                    $0.remove(gap: ViewerGaps.gap(next, after: view.day))
                    $0.add(gap: ViewerGaps.gap(next, after: previous))
                }
            }
            return
        }
        try views.put("viewer_days", key, Self.varintBytes(count - 1))
    }

    /// The user's nearest days before and after `day` (other than it).
    private static func neighbours(of day: Int64, prefix: [UInt8], in views: ViewTransaction) throws -> (Int64?, Int64?) {
        var previous: Int64?
        var next: Int64?
        try views.forEach("viewer_days", prefix: prefix) { key, _ in
            let other = VideoAnalyticsKey.day(fromKey: key[(key.count - 8)...])
            if other < day { previous = other }
            if other > day {
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

/// Keys of days and minutes since 1970-01-01T00:00Z, in time order.
enum VideoAnalyticsKey {
    static let microsPerDay: Int64 = 86_400_000_000
    static let microsPerMinute: Int64 = 60_000_000

    /// The UTC day `time` falls on, counted from 1970-01-01 (negative before).
    static func day(of time: Timestamp) -> Int64 { floorDivide(time.microsecondsSince1970, microsPerDay) }
    static func minute(of time: Timestamp) -> Int64 { floorDivide(time.microsecondsSince1970, microsPerMinute) }

    static func day(_ day: Int64) -> [UInt8] { ViewKey.bigEndian(UInt64(bitPattern: day) ^ (1 << 63)) }
    static func minute(_ minute: Int64) -> [UInt8] { day(minute) }
    static func day(fromKey bytes: ArraySlice<UInt8>) -> Int64 { Int64(bitPattern: ViewKey.integer(bytes.prefix(8)) ^ (1 << 63)) }
    static func minute(fromKey bytes: ArraySlice<UInt8>) -> Int64 { day(fromKey: bytes) }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}

/// One view as the projector keeps it (row of `views`).
struct ViewRecord {
    var videoId: String
    var userId: String
    /// The UTC day of the session's start.
    var day: Int64
    /// Whether the video was registered when the view began: only then has it a length,
    /// and only then does it count in retention and seeks.
    var registered: Bool
    /// The last minute the view was counted in as a concurrent viewer.
    var lastMinute: Int64?
    var watch: ViewWatch

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 96)
        writer.write(UInt8(1))
        writer.write(videoId)
        writer.write(userId)
        writer.write(day)
        writer.write(registered)
        writer.writeOptional(lastMinute) { $0.write($1) }
        watch.encode(to: &writer)
        return writer.bytes
    }

    init(videoId: String, userId: String, day: Int64, registered: Bool, lastMinute: Int64?, watch: ViewWatch) {
        self.videoId = videoId
        self.userId = userId
        self.day = day
        self.registered = registered
        self.lastMinute = lastMinute
        self.watch = watch
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown view record version") }
        videoId = try reader.readString()
        userId = try reader.readString()
        day = try reader.readInt()
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

/// A day's viewers of a video by how many days before it each last viewed it (row of
/// `day_viewers`): the distinct viewers of days `a` to `b` are, summed over each day `d` of
/// them, its viewers whose previous view was more than `d − a` days before (or never). Gaps
/// of ``maxGap`` days or more, and first views, are kept as ``maxGap``, which is exact for
/// ranges of up to ``maxGap`` days.
struct ViewerGaps {
    /// The longest range a unique-viewers answer spans, in days (and the cap of gaps).
    static let maxGap: Int64 = 366

    /// (gap, viewers), by gap.
    var counts: [(gap: Int64, viewers: UInt64)] = []

    static func gap(_ day: Int64, after previous: Int64?) -> Int64 { previous.map { min(day - $0, maxGap) } ?? maxGap }

    mutating func add(gap: Int64) {
        if let index = counts.firstIndex(where: { $0.gap == gap }) {
            counts[index].viewers += 1
        } else {
            counts.append((gap, 1))
            counts.sort { $0.gap < $1.gap }
        }
    }

    mutating func remove(gap: Int64) {
        guard let index = counts.firstIndex(where: { $0.gap == gap }) else { return }
        counts[index].viewers -= 1
        if counts[index].viewers == 0 { counts.remove(at: index) }
    }

    /// Viewers whose previous view was more than `days` days before.
    func viewers(withGapOver days: Int64) -> UInt64 { counts.reduce(0) { $0 + ($1.gap > days ? $1.viewers : 0) } }

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

    static func read(_ video: [UInt8], day: Int64, in views: ViewTransaction) throws -> ViewerGaps {
        try views.withValue("day_viewers", video + VideoAnalyticsKey.day(day)) { bytes in try bytes.map { try ViewerGaps(decoding: $0) } }
            ?? ViewerGaps()
    }

    static func change(_ video: [UInt8], day: Int64, in views: ViewTransaction, _ body: (inout ViewerGaps) -> Void) throws {
        var gaps = try read(video, day: day, in: views)
        body(&gaps)
        let key = video + VideoAnalyticsKey.day(day)
        if gaps.counts.isEmpty {
            try views.delete("day_viewers", key)
        } else {
            try views.put("day_viewers", key, gaps.encoded())
        }
    }
}
