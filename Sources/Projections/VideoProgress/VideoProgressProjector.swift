public import EventLog
public import Views
public import WatchDomain

/// Folds the video catalogue and progress reports into read models that answer every
/// progress query without scanning events:
///
/// | database | key | value |
/// |---|---|---|
/// | `videos` | video id | ``VideoInfo`` |
/// | `progress` | user id (length-prefixed), video id | ``ProgressEntry``: the winning report |
/// | `by_video` | video id (length-prefixed), user id | empty: the video's viewers |
/// | `by_user_watched` | user id (length-prefixed), ~watched (8, BE), video id | empty: the user's videos, most watched first |
/// | `video_totals` | video id | ``ProgressTotals`` of its viewers |
/// | `user_totals` | user id | ``ProgressTotals`` of the user's videos |
///
/// A report changes the read models only when it supersedes the kept entry
/// (``ProgressEntry/supersedes(_:)``), so they don't depend on arrival order.
/// Registering a video's length recounts its completions: O(viewers), once per registration.
public struct VideoProgressProjector: Projector {
    public let name = "video-progress"
    public let version: UInt32 = 1
    public let databases = ["videos", "progress", "by_video", "by_user_watched", "video_totals", "user_totals"]
    public let eventTypePrefixes = ["progress.", "video."]

    /// Creates the projector.
    public init() {}

    static let recorded = Array(ProgressRecorded.eventType.utf8)
    static let deleted = Array(ProgressDeleted.eventType.utf8)
    static let registered = Array(VideoRegistered.eventType.utf8)

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        if ViewKey.matches(type, Self.recorded) {
            let event = try ProgressRecorded.decode(record.payload)
            let entry = ProgressEntry(event)
            let old = try Self.entry(event.userId, event.videoId, in: views)
            guard entry.supersedes(old) else { return }
            try replace(old, with: entry, user: event.userId, video: event.videoId, views)
        } else if ViewKey.matches(type, Self.deleted) {
            let event = try ProgressDeleted.decode(record.payload)
            guard let old = try Self.entry(event.userId, event.videoId, in: views) else { return }
            try replace(old, with: nil, user: event.userId, video: event.videoId, views)
        } else if ViewKey.matches(type, Self.registered) {
            let event = try VideoRegistered.decode(record.payload)
            try register(event, views)
        }
    }

    /// Replaces a user's entry for a video (nil: removes it), keeping every index and total in step.
    private func replace(_ old: ProgressEntry?, with new: ProgressEntry?, user: String, video: String, _ views: ViewTransaction) throws {
        let info = try Self.video(video, in: views)
        var change = ProgressTotals()
        // A report that doesn't move the watched duration (a paused player) leaves the
        // most-watched index as it is.
        let watchedChanged = old?.watchedDuration != new?.watchedDuration
        if let old {
            change.subtract(old, completed: old.isCompleted(video: info))
            if watchedChanged { try views.delete("by_user_watched", Self.watchedKey(user, old.watchedDuration, video)) }
        }
        if let new {
            change.add(new, completed: new.isCompleted(video: info))
            try views.put("progress", Self.progressKey(user, video), new.encoded())
            if watchedChanged { try views.put("by_user_watched", Self.watchedKey(user, new.watchedDuration, video), []) }
            if old == nil { try views.put("by_video", ViewKey.string(video) + Array(user.utf8), []) }
        } else {
            try views.delete("progress", Self.progressKey(user, video))
            try views.delete("by_video", ViewKey.string(video) + Array(user.utf8))
        }
        try Self.add(change, to: "video_totals", Array(video.utf8), views)
        try Self.add(change, to: "user_totals", Array(user.utf8), views)
    }

    /// Stores the video's entry and recounts which of its viewers completed it.
    private func register(_ event: VideoRegistered, _ views: ViewTransaction) throws {
        let old = try Self.video(event.videoId, in: views)
        let new = VideoInfo(durationMillis: event.durationMillis, title: event.title, completionThreshold: event.completionThreshold)
        try views.put("videos", Array(event.videoId.utf8), new.encoded())
        var viewers: [String] = []
        let prefix = ViewKey.string(event.videoId)
        try views.forEach("by_video", prefix: prefix) { key, _ in
            viewers.append(String(decoding: key.dropFirst(prefix.count), as: UTF8.self))
            return true
        }
        var videoChange = ProgressTotals()
        for user in viewers {
            guard let entry = try Self.entry(user, event.videoId, in: views) else { continue }
            let before = entry.isCompleted(video: old)
            let after = entry.isCompleted(video: new)
            guard before != after else { continue }
            var change = ProgressTotals()
            change.completed = after ? 1 : UInt64.max  // +1 or -1, wrapping
            videoChange.completed &+= change.completed
            try Self.add(change, to: "user_totals", Array(user.utf8), views)
        }
        try Self.add(videoChange, to: "video_totals", Array(event.videoId.utf8), views)
    }

    static func progressKey(_ user: String, _ video: String) -> [UInt8] { ViewKey.string(user) + Array(video.utf8) }

    static func watchedKey(_ user: String, _ watched: UInt64, _ video: String) -> [UInt8] {
        ViewKey.string(user) + ViewKey.bigEndian(~watched) + Array(video.utf8)
    }

    static func entry(_ user: String, _ video: String, in views: ViewTransaction) throws -> ProgressEntry? {
        guard !video.isEmpty else { return nil }
        return try views.withValue("progress", progressKey(user, video)) { bytes in try bytes.map { try ProgressEntry(decoding: $0) } }
    }

    /// The catalogue entry of `video`; nil for none (and for the empty id, which LMDB can't use as a key).
    static func video(_ video: String, in views: ViewTransaction) throws -> VideoInfo? {
        guard !video.isEmpty else { return nil }
        return try views.withValue("videos", Array(video.utf8)) { bytes in try bytes.map { try VideoInfo(decoding: $0) } }
    }

    static func totals(_ database: String, _ key: String, in views: ViewTransaction) throws -> ProgressTotals {
        guard !key.isEmpty else { return ProgressTotals() }
        return try views.withValue(database, Array(key.utf8)) { bytes in bytes.map(ProgressTotals.init(decoding:)) } ?? ProgressTotals()
    }

    private static func add(_ change: ProgressTotals, to database: String, _ key: [UInt8], _ views: ViewTransaction) throws {
        guard change != ProgressTotals() else { return }
        var totals = try views.withValue(database, key) { bytes in bytes.map(ProgressTotals.init(decoding:)) } ?? ProgressTotals()
        totals.viewers &+= change.viewers
        totals.watchedDuration &+= change.watchedDuration
        totals.completed &+= change.completed
        if totals.viewers == 0 {
            try views.delete(database, key)
        } else {
            try views.put(database, key, totals.encoded())
        }
    }
}

/// Sums over a set of progress entries: a video's viewers, or a user's videos. Kept up to
/// date by every report, so a summary is one read.
public struct ProgressTotals: Sendable, Hashable {
    /// How many entries (viewers of a video, or videos of a user).
    public var viewers: UInt64 = 0
    /// Their watched durations added up, in seconds.
    public var watchedDuration: UInt64 = 0
    /// How many of them completed the video.
    public var completed: UInt64 = 0

    /// No entries.
    public init() {}

    /// Counts `entry` in (wrapping arithmetic: a change is a sum of additions and subtractions).
    mutating func add(_ entry: ProgressEntry, completed isCompleted: Bool) {
        viewers &+= 1
        watchedDuration &+= entry.watchedDuration
        if isCompleted { completed &+= 1 }
    }

    /// Counts `entry` out.
    mutating func subtract(_ entry: ProgressEntry, completed isCompleted: Bool) {
        viewers &-= 1
        watchedDuration &-= entry.watchedDuration
        if isCompleted { completed &-= 1 }
    }

    /// The stored form: three 8-byte big-endian integers.
    func encoded() -> [UInt8] { ViewKey.bigEndian(viewers) + ViewKey.bigEndian(watchedDuration) + ViewKey.bigEndian(completed) }

    init(decoding bytes: UnsafeRawBufferPointer) {
        func field(_ index: Int) -> UInt64 {
            guard bytes.count >= (index + 1) * 8 else { return 0 }
            return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
        }
        viewers = field(0)
        watchedDuration = field(1)
        completed = field(2)
    }
}

/// A video's progress summary.
public struct VideoProgressSummary: Sendable, Hashable {
    /// The video's catalogue entry, when it is registered.
    public var video: VideoInfo?
    /// Its viewers' totals.
    public var totals: ProgressTotals
}

/// A user's engagement figures.
public struct UserEngagement: Sendable, Hashable {
    /// The totals over the user's videos.
    public var totals: ProgressTotals
    /// The most watched videos, most first (ties by video id).
    public var mostWatched: [(videoId: String, watchedDuration: UInt64)]

    public static func == (left: UserEngagement, right: UserEngagement) -> Bool {
        left.totals == right.totals
            && left.mostWatched.elementsEqual(right.mostWatched) {
                $0.videoId.utf8.elementsEqual($1.videoId.utf8) && $0.watchedDuration == $1.watchedDuration
            }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(totals)
        for video in mostWatched {
            hasher.combine(UTF8Key(video.videoId))
            hasher.combine(video.watchedDuration)
        }
    }
}
