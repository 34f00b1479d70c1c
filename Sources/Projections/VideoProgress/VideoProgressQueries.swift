import EventLog
public import Views
public import WatchDomain

/// The queries of the video-progress module, answered from ``VideoProgressProjector``'s rows.
public struct VideoProgressQueries: Sendable {
    /// The views to read.
    public let views: ViewSource
    private let name = VideoProgressProjector().name

    /// Queries reading the last committed state of `views`.
    public init(views: InlineProjections) { self.views = .committed(views) }

    /// Queries reading `source`: a decider passes its batch's views (``ViewSource/batch(_:of:)``).
    public init(_ source: ViewSource) { self.views = source }

    /// The user's entry for the video.
    public func entry(user: String, video: String) throws -> ProgressEntry? {
        try views.read(name) { try VideoProgressProjector.entry(user, video, in: $0) }
    }

    /// The video's catalogue entry.
    public func video(_ id: String) throws -> VideoInfo? {
        try views.read(name) { try VideoProgressProjector.video(id, in: $0) }
    }

    /// Every entry of the user, by video id, each with its video's catalogue entry (read in
    /// the same snapshot: completion depends on it).
    public func entries(user: String) throws -> [(videoId: String, entry: ProgressEntry, video: VideoInfo?)] {
        try views.read(name) { tx in
            let prefix = ViewKey.string(user)
            var entries: [(String, ProgressEntry)] = []
            try tx.forEach("progress", prefix: prefix) { key, value in
                let entry = try value.withUnsafeBytes { try ProgressEntry(decoding: $0) }
                entries.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), entry))
                return true
            }
            return try entries.map { videoId, entry in (videoId, entry, try VideoProgressProjector.video(videoId, in: tx)) }
        }
    }

    /// The video's summary: two reads, however many reports it has.
    public func summary(video: String) throws -> VideoProgressSummary {
        try views.read(name) { tx in
            VideoProgressSummary(
                video: try VideoProgressProjector.video(video, in: tx),
                totals: try VideoProgressProjector.totals("video_totals", video, in: tx)
            )
        }
    }

    /// The user's totals and `limit` most watched videos.
    public func engagement(user: String, limit: Int) throws -> UserEngagement {
        try views.read(name) { tx in
            let prefix = ViewKey.string(user)
            var videos: [(videoId: String, watchedDuration: UInt64)] = []
            if limit > 0 {
                try tx.forEach("by_user_watched", prefix: prefix) { key, _ in
                    let watched = ~ViewKey.integer(key[prefix.count..<(prefix.count + 8)])
                    videos.append((String(decoding: key.dropFirst(prefix.count + 8), as: UTF8.self), watched))
                    return videos.count < limit
                }
            }
            return UserEngagement(totals: try VideoProgressProjector.totals("user_totals", user, in: tx), mostWatched: videos)
        }
    }
}
