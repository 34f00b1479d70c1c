import EventLog
import Foundation
import Hummingbird
import LMDBLog
import PlayheadCore
import Projections
import ServiceLifecycle
import Views
import WatchDomain

/// A user's progress in one video, as the spec shows it, with whether it completes the video.
struct ProgressBody: ResponseEncodable, Sendable {
    var userId: String
    var videoId: String
    var watchedDuration: UInt64
    var lastWatched: String
    var completed: Bool

    init(userId: String, videoId: String, entry: ProgressEntry, video: VideoInfo?) {
        self.userId = userId
        self.videoId = videoId
        watchedDuration = entry.watchedDuration
        lastWatched = ISO8601Micros.format(entry.lastWatched)
        completed = entry.isCompleted(video: video)
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
    let runner: CommandRunner
    let queries: VideoProgressQueries
    let feed: ProgressFeed
    let clock: @Sendable () -> Timestamp

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

    struct Summary: ResponseEncodable {
        var videoId: String
        var averageWatchedDuration: Int
        var completionRate: Double
        var viewers: UInt64
        var completedViewers: UInt64
        var videoDuration: Double?
    }

    struct Engagement: ResponseEncodable {
        struct Video: Encodable {
            var videoId: String
            var watchedDuration: UInt64
        }
        var userId: String
        var totalWatchedDuration: UInt64
        var videosWatched: UInt64
        var completedVideos: UInt64
        var mostWatchedVideos: [Video]
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
            let report = try Self.report(videoId: body.videoId, body.watchedDuration, body.lastWatched, body.videoDuration, field: "", now: clock())
            let merged = try await record(report, userId: body.userId, source: .update, caller: caller, context: context, answer: true)
            return try merged ?? { throw Problem(.internalServerError, "the merged progress was not computed") }()
        }
        group.post("realtime") { request, context -> Response in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(ReportRequest.self)
            let report = try Self.report(videoId: body.videoId, body.watchedDuration, body.lastWatched, body.videoDuration, field: "", now: clock())
            _ = try await record(report, userId: body.userId, source: .realtime, caller: caller, context: context, answer: false)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: Self.receivedBody))
        }
        group.post("sync") { request, context in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(SyncRequest.self, limit: 1 << 20)
            let userId = body.userId
            guard body.progressData.count <= VideoProgressEvents.maxSyncEntries else {
                throw Problem.badField("progressData", "progressData may hold at most \(VideoProgressEvents.maxSyncEntries) entries")
            }
            let reports = try body.progressData.enumerated().map { index, entry in
                try Self.report(
                    videoId: entry.videoId,
                    entry.watchedDuration,
                    entry.lastWatched,
                    entry.videoDuration,
                    field: "progressData[\(index)].",
                    now: clock()
                )
            }
            let (_, append) = try await runner.runAppending(caller: caller, correlation: context.correlationID) { [clock] _ in
                let events = try VideoProgressDecider.record(
                    reports,
                    userId: userId,
                    caller: caller,
                    now: clock(),
                    source: .sync,
                    fieldPrefix: { "progressData[\($0)]." }
                )
                return (events, ())
            }
            let list = try progressList(of: userId)
            if let position = append?.positions.upperBound, feed.hasSubscribers(userId) {
                let synced = Set(reports.map { UTF8Key($0.videoId) })
                for entry in list.progressData where synced.contains(UTF8Key(entry.videoId)) {
                    let body = ProgressBody(
                        userId: userId,
                        videoId: entry.videoId,
                        watchedDuration: entry.watchedDuration,
                        lastWatched: entry.lastWatched,
                        completed: entry.completed
                    )
                    feed.publish(.progress(body), about: entry.videoId, at: position, to: userId)
                }
            }

            return list
        }
        group.get("summary/:videoId") { _, context in
            _ = try context.requireCaller()
            let videoId = try context.pathParameter("videoId")
            try ClientIdentifier.check(videoId, field: "videoId")
            let summary = try queries.summary(video: videoId)
            let totals = summary.totals
            return Summary(
                videoId: videoId,
                averageWatchedDuration: totals.viewers == 0 ? 0 : Int((Double(totals.watchedDuration) / Double(totals.viewers)).rounded()),
                completionRate: totals.viewers == 0 ? 0 : Double(totals.completed) / Double(totals.viewers),
                viewers: totals.viewers,
                completedViewers: totals.completed,
                videoDuration: summary.video.map { Double($0.durationMillis) / 1_000 }
            )
        }
        group.get("engagement/:userId") { request, context in
            let caller = try context.requireCaller()
            let userId = try context.pathParameter("userId")
            try VideoProgressDecider.authorize(caller, userId: userId)
            let limitText = request.uri.queryParameters.get("limit")
            let limit =
                try limitText.map { text in
                    guard let limit = Int(text), (1...100).contains(limit) else {
                        throw Problem.badField("limit", "limit must be a whole number from 1 to 100")
                    }
                    return limit
                } ?? 10
            let engagement = try queries.engagement(user: userId, limit: limit)
            return Engagement(
                userId: userId,
                totalWatchedDuration: engagement.totals.watchedDuration,
                videosWatched: engagement.totals.viewers,
                completedVideos: engagement.totals.completed,
                mostWatchedVideos: engagement.mostWatched.map { Engagement.Video(videoId: $0.videoId, watchedDuration: $0.watchedDuration) }
            )
        }
        group.get("stream/:userId") { _, context in
            let caller = try context.requireCaller()
            let userId = try context.pathParameter("userId")
            try VideoProgressDecider.authorize(caller, userId: userId)
            return stream(userId)
        }
        group.get(":userId") { _, context in
            let caller = try context.requireCaller()
            let userId = try context.pathParameter("userId")
            try VideoProgressDecider.authorize(caller, userId: userId)
            return try progressList(of: userId)
        }
        group.get(":userId/:videoId") { _, context in
            let caller = try context.requireCaller()
            let (userId, videoId) = try Self.userAndVideo(context)
            try VideoProgressDecider.authorize(caller, userId: userId)
            guard let entry = try queries.entry(user: userId, video: videoId) else {
                throw Problem(.notFound, "no progress of \(userId) in video \(videoId)")
            }
            return ProgressBody(userId: userId, videoId: videoId, entry: entry, video: try queries.video(videoId))
        }
        group.delete(":userId/:videoId") { _, context in
            let caller = try context.requireCaller()
            let (userId, videoId) = try Self.userAndVideo(context)
            // Checked before the ids become a key of the lookup below.
            try VideoProgressDecider.authorize(caller, userId: userId)
            let (_, append) = try await runner.runAppending(caller: caller, correlation: context.correlationID) { views in
                let entry = try VideoProgressQueries(views).entry(user: userId, video: videoId)
                return ([try VideoProgressDecider.delete(userId: userId, videoId: videoId, entry: entry, caller: caller)], ())
            }
            if let position = append?.positions.upperBound {
                feed.publish(.deleted(videoId: videoId), about: videoId, at: position, to: userId)
            }
            return Message(message: "Progress deleted successfully")
        }

        let videos = router.group("videos")
        videos.put(":videoId") { request, context in
            let caller = try context.requireAdmin()
            let videoId = try context.pathParameter("videoId")
            let body = try await request.decodeJSON(VideoRequest.self)
            let durationMillis = try BodyValue.secondsAsMillis(body.duration, field: "duration")
            let event = try VideoProgressDecider.register(
                videoId: videoId,
                durationMillis: durationMillis,
                title: body.title,
                completionThreshold: body.completionThreshold,
                caller: caller
            )
            try await runner.run(caller: caller, correlation: context.correlationID) { _ in ([event], ()) }
            return VideoBody(
                videoId: videoId,
                video: VideoInfo(durationMillis: event.durationMillis, title: event.title, completionThreshold: event.completionThreshold)
            )
        }
        videos.get(":videoId") { _, context in
            _ = try context.requireCaller()
            let videoId = try context.pathParameter("videoId")
            try ClientIdentifier.check(videoId, field: "videoId")
            guard let video = try queries.video(videoId) else { throw Problem(.notFound, "no video \(videoId)") }
            return VideoBody(videoId: videoId, video: video)
        }
    }

    /// Records one report; returns the merged entry when `answer` is set or someone follows the user.
    private func record(
        _ report: ProgressReport,
        userId: String,
        source: ProgressSource,
        caller: Caller,
        context: PlayheadRequestContext,
        answer: Bool
    ) async throws -> ProgressBody? {
        let wanted = answer || feed.hasSubscribers(userId)
        let (merged, append) = try await runner.runAppending(caller: caller, correlation: context.correlationID) { [clock] views in
            let queries = VideoProgressQueries(views)
            let events = try VideoProgressDecider.record([report], userId: userId, caller: caller, now: clock(), source: source)
            guard wanted else { return (events, ProgressBody?.none) }
            let new = ProgressEntry(events[0])
            let old = try queries.entry(user: userId, video: report.videoId)
            let kept = new.supersedes(old) ? new : old ?? new
            return (events, ProgressBody(userId: userId, videoId: report.videoId, entry: kept, video: try queries.video(report.videoId)))
        }
        if let merged, let position = append?.positions.upperBound {
            feed.publish(.progress(merged), about: report.videoId, at: position, to: userId)
        }
        return merged
    }

    private func progressList(of userId: String) throws -> ProgressList {
        let entries = try queries.entries(user: userId).map { videoId, entry, video in
            ProgressList.Entry(
                videoId: videoId,
                watchedDuration: entry.watchedDuration,
                lastWatched: ISO8601Micros.format(entry.lastWatched),
                completed: entry.isCompleted(video: video)
            )
        }
        return ProgressList(userId: userId, progressData: entries)
    }

    /// The Server-Sent Events stream of `userId`'s progress.
    private func stream(_ userId: String) -> Response {
        let feed = feed
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                // Subscribed only once the body is written: a HEAD request, whose body is
                // dropped, leaves no subscriber behind.
                let (messages, finish) = feed.subscribe(userId)
                // Sent at once, so that the client knows it is subscribed.
                try await writer.write(ByteBuffer(string: "retry: 3000\n: subscribed to \(userId)\n\n"))
                // A shutting-down server ends the stream, so that its clients reconnect elsewhere.
                try await withGracefulShutdownHandler {
                    for await message in messages {
                        let text: String
                        switch message {
                        case .progress(let body):
                            text = "event: progress\ndata: \(String(decoding: try encoder.encode(body), as: UTF8.self))\n\n"
                        case .deleted(let videoId):
                            let data = try encoder.encode(["userId": userId, "videoId": videoId])
                            text = "event: progress-deleted\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
                        case .keepAlive:
                            text = ": keep-alive\n\n"
                        }
                        try await writer.write(ByteBuffer(string: text))
                    }
                } onGracefulShutdown: {
                    finish()
                }
                try await writer.finish(nil)
            }
        )
    }

    static func report(
        videoId: String,
        _ watched: Double,
        _ lastWatched: String?,
        _ videoDuration: Double?,
        field prefix: String,
        now: Timestamp
    ) throws -> ProgressReport {
        guard watched.isFinite, watched >= 0, watched <= Double(VideoProgressEvents.maxWatchedSeconds) else {
            throw Problem.badField(
                prefix + "watchedDuration",
                "\(prefix)watchedDuration must be a number of seconds from 0 to \(VideoProgressEvents.maxWatchedSeconds)"
            )
        }
        return ProgressReport(
            videoId: videoId,
            watchedDuration: UInt64(watched.rounded(.down)),
            lastWatched: try lastWatched.map { try BodyValue.time($0, field: prefix + "lastWatched") } ?? now,
            videoDurationMillis: try videoDuration.map { try BodyValue.secondsAsMillis($0, field: prefix + "videoDuration") }
        )
    }

    /// The path's user and video ids, the video id checked (the user id is checked with the caller's rights).
    private static func userAndVideo(_ context: PlayheadRequestContext) throws -> (String, String) {
        let videoId = try context.pathParameter("videoId")
        try ClientIdentifier.check(videoId, field: "videoId")
        return (try context.pathParameter("userId"), videoId)
    }
}

extension ProgressBody {
    init(userId: String, videoId: String, watchedDuration: UInt64, lastWatched: String, completed: Bool) {
        self.userId = userId
        self.videoId = videoId
        self.watchedDuration = watchedDuration
        self.lastWatched = lastWatched
        self.completed = completed
    }
}
