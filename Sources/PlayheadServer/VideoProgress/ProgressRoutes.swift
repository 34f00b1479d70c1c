import EventLog
import Foundation
public import Hummingbird
import PlayheadCore
public import Projections
import WatchDomain

/// A user's progress in one video, as the spec shows it, with whether it completes the video.
struct ProgressBody: ResponseEncodable, Sendable {
    var userId: String
    var videoId: String
    var watchedDuration: UInt64
    var lastWatched: String
    var completed: Bool

    init(_ progress: MergedProgress) {
        userId = progress.userId
        videoId = progress.videoId
        watchedDuration = progress.entry.watchedDuration
        lastWatched = ISO8601Micros.format(progress.entry.lastWatched)
        completed = progress.isCompleted
    }
}

/// A video's catalogue entry as the API shows it.
struct VideoBody: ResponseEncodable {
    var videoId: String
    /// Seconds.
    var duration: Double
    var title: String?
    var completionThreshold: Double

    init(videoId: String, video: VideoInfo) {
        self.videoId = videoId
        duration = Double(video.durationMillis) / 1_000
        title = video.title
        completionThreshold = video.completionThreshold
    }
}

/// The routes of the video-progress module (../shared/spec/video-progress.md) and the video
/// catalogue they need for completion.
struct ProgressRoutes {
    let commands: VideoProgressCommands
    let queries: VideoProgressQueries
    let feed: LiveFeed
    /// How often a quiet progress stream gets a keep-alive.
    let keepAliveInterval: Duration

    private var access: AccessPolicy { commands.access }
    private var clock: @Sendable () -> Timestamp { commands.clock }

    struct ReportRequest: FlatDecodable {
        var userId: String
        var videoId: String
        var watchedDuration: Double
        var lastWatched: String?
        /// The video's length in seconds, as the player knows it.
        var videoDuration: Double?

        init?(flat object: FlatJSONObject) {
            guard case .string(let userId)? = object["userId"], case .string(let videoId)? = object["videoId"],
                case .integer(let watchedDuration)? = object["watchedDuration"],
                let lastWatched = object.optionalString("lastWatched"),
                let videoDuration = object.optionalInteger("videoDuration")
            else { return nil }
            self.userId = userId
            self.videoId = videoId
            // A whole number in JSON is that Double to the decoder too (both round to nearest).
            self.watchedDuration = Double(watchedDuration)
            self.lastWatched = lastWatched
            self.videoDuration = videoDuration.map(Double.init)
        }
    }

    struct SyncRequest: Decodable {
        struct Entry: Decodable {
            var videoId: String
            var watchedDuration: Double
            var lastWatched: String?
            var videoDuration: Double?
        }
        var userId: String
        var progressData: [Entry]
    }

    struct ProgressList: ResponseEncodable {
        struct Entry: Encodable {
            var videoId: String
            var watchedDuration: UInt64
            var lastWatched: String
            var completed: Bool
        }
        var userId: String
        var progressData: [Entry]
    }

    struct Message: ResponseEncodable { var message: String }

    struct VideoRequest: Decodable {
        var duration: Double
        var title: String?
        var completionThreshold: Double?
    }

    /// What `POST /progress/realtime` answers, encoded once.
    static let receivedBody = ByteBuffer(string: #"{"status":"received"}"#)

    func add(to router: Router<PlayheadRequestContext>) {
        let group = router.group("progress")
        group.post("update") { request, context in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(ReportRequest.self)
            let (userId, report) = try parse(body, caller: caller)
            let merged = try await commands.record(report, of: userId, source: .update, caller: caller, correlation: context.correlationID)
            return ProgressBody(merged)
        }
        group.post("realtime") { request, context -> Response in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(ReportRequest.self)
            let (userId, report) = try parse(body, caller: caller)
            try await commands.report(report, of: userId, source: .realtime, caller: caller, correlation: context.correlationID)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: Self.receivedBody))
        }
        group.post("sync") { request, context in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(SyncRequest.self, limit: 1 << 20)
            // Before the reports are parsed: a sync too large is refused as such.
            try VideoProgressDecider.checkSyncSize(body.progressData.count)
            // The refusals in the order they have always had: every report's numbers, then
            // the user and the caller's rights, then every report's video.
            let numbers = try body.progressData.enumerated().map { index, entry in
                try Self.numbers(entry.watchedDuration, entry.lastWatched, entry.videoDuration, field: "progressData[\(index)].", now: clock())
            }
            let userId = try Self.progressUser(body.userId)
            try access.requireProgress(of: userId, for: caller)
            let reports = try zip(body.progressData, numbers).enumerated().map { index, pair in
                try Self.report(VideoID(pair.0.videoId, field: "progressData[\(index)].videoId"), pair.1)
            }
            try await commands.sync(reports, of: userId, caller: caller, correlation: context.correlationID)
            return try progressList(of: userId, caller: caller)
        }
        group.get("summary/:videoId") { _, context in
            _ = try context.requireCaller()
            let videoId = try VideoID(context.pathParameter("videoId"))
            return ProgressSummaryBody(try queries.summary(video: videoId.text), of: videoId.text)
        }
        group.get("engagement/:userId") { request, context in
            let caller = try context.requireCaller()
            let userId = try Self.progressUser(context.pathParameter("userId"))
            try access.requireProgress(of: userId, for: caller)
            let limitText = request.uri.queryParameters.get("limit")
            let limit =
                try limitText.map { text in
                    guard let limit = Int(text), (1...100).contains(limit) else {
                        throw Problem.badField("limit", "limit must be a whole number from 1 to 100")
                    }
                    return limit
                } ?? 10
            return EngagementBody(try commands.engagement(of: userId, limit: limit, caller: caller), of: userId.text)
        }
        group.get("stream/:userId") { _, context in
            let caller = try context.requireCaller()
            let userId = try Self.progressUser(context.pathParameter("userId"))
            try access.requireProgress(of: userId, for: caller)
            return stream(userId.text)
        }
        group.get(":userId") { _, context in
            let caller = try context.requireCaller()
            return try progressList(of: Self.progressUser(context.pathParameter("userId")), caller: caller)
        }
        group.get(":userId/:videoId") { _, context in
            let caller = try context.requireCaller()
            let (userId, videoId) = try Self.userAndVideo(context)
            return ProgressBody(try commands.progress(of: userId, in: videoId, caller: caller))
        }
        group.delete(":userId/:videoId") { _, context in
            let caller = try context.requireCaller()
            let (userId, videoId) = try Self.userAndVideo(context)
            try await commands.delete(of: userId, in: videoId, caller: caller, correlation: context.correlationID)
            return Message(message: "Progress deleted successfully")
        }

        let videos = router.group("videos")
        videos.put(":videoId") { request, context in
            let caller = try context.requireAdmin()
            let videoText = try context.pathParameter("videoId")
            let body = try await request.decodeJSON(VideoRequest.self)
            let durationMillis = try BodyValue.secondsAsMillis(body.duration, field: "duration")
            let videoId = try VideoID(videoText)
            let video = try await commands.registerVideo(
                videoId,
                durationMillis: durationMillis,
                title: body.title,
                completionThreshold: body.completionThreshold,
                caller: caller,
                correlation: context.correlationID
            )
            return VideoBody(videoId: videoId.text, video: video)
        }
        videos.get(":videoId") { _, context in
            _ = try context.requireCaller()
            let videoId = try VideoID(context.pathParameter("videoId"))
            guard let video = try queries.video(videoId.text) else { throw Problem(.notFound, "no video \(videoId.text)") }
            return VideoBody(videoId: videoId.text, video: video)
        }
    }

    /// `userId`'s progress in every video (the caller's rights checked first).
    private func progressList(of userId: UserID, caller: Caller) throws -> ProgressList {
        let entries = try commands.progress(of: userId, caller: caller).map { progress in
            ProgressList.Entry(
                videoId: progress.videoId,
                watchedDuration: progress.entry.watchedDuration,
                lastWatched: ISO8601Micros.format(progress.entry.lastWatched),
                completed: progress.isCompleted
            )
        }
        return ProgressList(userId: userId.text, progressData: entries)
    }

    /// The Server-Sent Events stream of `userId`'s progress, fed by the ``LiveFeed``.
    private func stream(_ userId: String) -> Response {
        ProgressStream(feed: feed, userId: userId, keepAliveInterval: keepAliveInterval).response()
    }

    /// The numbers of one report: the watched duration, when it was last watched (`now` when
    /// the client gives no time) and the video's length. `prefix` names the report in
    /// refusals (`progressData[3].`, empty for a single report).
    static func numbers(
        _ watched: Double,
        _ lastWatched: String?,
        _ videoDuration: Double?,
        field prefix: String,
        now: Timestamp
    ) throws -> (watched: WatchedDuration, lastWatched: Timestamp, videoDurationMillis: UInt64?) {
        (
            try WatchedDuration(seconds: watched, field: prefix + "watchedDuration"),
            try lastWatched.map { try BodyValue.time($0, field: prefix + "lastWatched") } ?? now,
            try videoDuration.map { try BodyValue.secondsAsMillis($0, field: prefix + "videoDuration") }
        )
    }

    /// The report of `videoId` with `numbers`.
    static func report(
        _ videoId: VideoID,
        _ numbers: (watched: WatchedDuration, lastWatched: Timestamp, videoDurationMillis: UInt64?)
    ) -> ProgressReport {
        ProgressReport(
            videoId: videoId,
            watchedDuration: numbers.watched,
            lastWatched: numbers.lastWatched,
            videoDurationMillis: numbers.videoDurationMillis
        )
    }

    /// A single report's user and report, parsed in the order the refusals have always had:
    /// the numbers, then the user and the caller's rights, then the video.
    private func parse(_ body: ReportRequest, caller: Caller) throws -> (UserID, ProgressReport) {
        let numbers = try Self.numbers(body.watchedDuration, body.lastWatched, body.videoDuration, field: "", now: clock())
        let userId = try Self.progressUser(body.userId)
        try access.requireProgress(of: userId, for: caller)
        return (userId, Self.report(try VideoID(body.videoId), numbers))
    }

    /// The words after `/progress/` that name routes, so they can't be user ids: a user
    /// `summary` could write progress but never read it.
    static let routeWords: Set<String> = ["update", "sync", "realtime", "summary", "engagement", "stream"]

    /// `text` as the user id of a progress route: a valid ``UserID`` that is not one of the
    /// ``routeWords`` (400 naming `userId` when it is).
    static func progressUser(_ text: String) throws -> UserID {
        let userId = try UserID(text)
        guard !routeWords.contains(userId.text) else {
            throw CommandError(.invalid, "userId '\(userId.text)' is a word of the progress routes, not a user id", field: "userId")
        }
        return userId
    }

    /// The path's user and video ids, the video's parsed first.
    private static func userAndVideo(_ context: PlayheadRequestContext) throws -> (UserID, VideoID) {
        let videoId = try VideoID(context.pathParameter("videoId"))
        return (try Self.progressUser(context.pathParameter("userId")), videoId)
    }
}

/// `GET /progress/summary/{videoId}` (and `playhead query progress-summary`), in the spec's
/// shape: a video's viewers, completions and average watched duration (seconds, rounded).
public struct ProgressSummaryBody: ResponseEncodable, Sendable {
    var videoId: String
    var averageWatchedDuration: Int
    var completionRate: Double
    var viewers: UInt64
    var completedViewers: UInt64
    var videoDuration: Double?

    /// The body of `summary` of `videoId`.
    public init(_ summary: VideoProgressSummary, of videoId: String) {
        let totals = summary.totals
        self.videoId = videoId
        averageWatchedDuration = totals.viewers == 0 ? 0 : Int((Double(totals.watchedDuration) / Double(totals.viewers)).rounded())
        completionRate = totals.viewers == 0 ? 0 : Double(totals.completed) / Double(totals.viewers)
        viewers = totals.viewers
        completedViewers = totals.completed
        videoDuration = summary.video.map { Double($0.durationMillis) / 1_000 }
    }
}

/// `GET /progress/engagement/{userId}` (and `playhead query engagement`), in the spec's
/// shape: a user's watched totals and most watched videos (durations in seconds).
public struct EngagementBody: ResponseEncodable, Sendable {
    struct Video: Encodable {
        var videoId: String
        var watchedDuration: UInt64
    }
    var userId: String
    var totalWatchedDuration: UInt64
    var videosWatched: UInt64
    var completedVideos: UInt64
    var mostWatchedVideos: [Video]

    /// The body of `engagement` of `userId`.
    public init(_ engagement: UserEngagement, of userId: String) {
        self.userId = userId
        totalWatchedDuration = engagement.totals.watchedDuration
        videosWatched = engagement.totals.viewers
        completedVideos = engagement.totals.completed
        mostWatchedVideos = engagement.mostWatched.map { Video(videoId: $0.videoId, watchedDuration: $0.watchedDuration) }
    }
}
