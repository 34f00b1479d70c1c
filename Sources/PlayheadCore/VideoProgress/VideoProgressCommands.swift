public import EventLog
public import Foundation
public import Projections
import Views
public import WatchDomain

/// A user's merged progress in one video, as a command left it: the entry the read models
/// keep (the report that wins the merge) and the video's catalogue entry, for completion.
public struct MergedProgress: Sendable, Hashable {
    /// Whose progress.
    public var userId: String
    /// The video.
    public var videoId: String
    /// The merged entry.
    public var entry: ProgressEntry
    /// The video's catalogue entry, when it is registered.
    public var video: VideoInfo?

    /// Creates the value.
    public init(userId: String, videoId: String, entry: ProgressEntry, video: VideoInfo?) {
        self.userId = userId
        self.videoId = videoId
        self.entry = entry
        self.video = video
    }

    /// Whether the entry completes the video.
    public var isCompleted: Bool { entry.isCompleted(video: video) }
}

/// The video-progress commands (reports, syncs, deletions) and the video catalogue's.
public struct VideoProgressCommands: Sendable {
    /// Runs the commands through the log's writer.
    public let runner: CommandRunner
    /// Who may read or change what.
    public let access: AccessPolicy
    /// The server's clock: a report's `lastWatched` may not be far ahead of it.
    public let clock: @Sendable () -> Timestamp

    /// Commands through `runner`, with `clock`.
    public init(runner: CommandRunner, access: AccessPolicy = AccessPolicy(), clock: @escaping @Sendable () -> Timestamp) {
        self.runner = runner
        self.access = access
        self.clock = clock
    }

    /// Records one report of `userId`'s progress and returns the merged entry it leaves.
    public func record(
        _ report: ProgressReport,
        of userId: UserID,
        source: ProgressSource,
        caller: Caller,
        correlation: UUID
    ) async throws
        -> MergedProgress
    {
        try await runner.run(caller: caller, correlation: correlation) { [clock] views in
            let queries = VideoProgressQueries(views)
            let events = try VideoProgressDecider.record([report], userId: userId, caller: caller, now: clock(), source: source)
            let new = ProgressEntry(events[0])
            let old = try queries.entry(user: userId.text, video: report.videoId.text)
            let kept = new.supersedes(old) ? new : old ?? new
            let video = try queries.video(report.videoId.text)
            return (events, MergedProgress(userId: userId.text, videoId: report.videoId.text, entry: kept, video: video))
        }
    }

    /// Records one report of `userId`'s progress, answering nothing but its durability (the
    /// realtime path: nothing is read).
    public func report(_ report: ProgressReport, of userId: UserID, source: ProgressSource, caller: Caller, correlation: UUID) async throws {
        try await runner.run(caller: caller, correlation: correlation) { [clock] _ in
            (try VideoProgressDecider.record([report], userId: userId, caller: caller, now: clock(), source: source), ())
        }
    }

    /// Records the reports of a sync, all or none; `fieldPrefix` names the report at fault
    /// in errors (`progressData[3].`).
    public func sync(_ reports: [ProgressReport], of userId: UserID, caller: Caller, correlation: UUID) async throws {
        try await runner.run(caller: caller, correlation: correlation) { [clock] _ in
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
    }

    /// Deletes `userId`'s progress in `videoId` (not found when there is none).
    public func delete(of userId: UserID, in videoId: VideoID, caller: Caller, correlation: UUID) async throws {
        // Checked before the ids become a key of the lookup below.
        try access.requireProgress(of: userId, for: caller)
        try await runner.run(caller: caller, correlation: correlation) { views in
            let entry = try VideoProgressQueries(views).entry(user: userId.text, video: videoId.text)
            return ([try VideoProgressDecider.delete(userId: userId, videoId: videoId, entry: entry, caller: caller)], ())
        }
    }

    /// Registers (or changes) video `videoId` in the catalogue and returns its entry.
    /// Administrators only.
    public func registerVideo(
        _ videoId: VideoID,
        durationMillis: UInt64,
        title: String?,
        completionThreshold: Double?,
        caller: Caller,
        correlation: UUID
    ) async throws -> VideoInfo {
        let event = try VideoProgressDecider.register(
            videoId: videoId,
            durationMillis: durationMillis,
            title: title,
            completionThreshold: completionThreshold,
            caller: caller
        )
        try await runner.run(caller: caller, correlation: correlation) { _ in ([event], ()) }
        return VideoInfo(durationMillis: event.durationMillis, title: event.title, completionThreshold: event.completionThreshold)
    }

    // MARK: Reads

    private var queries: VideoProgressQueries { VideoProgressQueries(.committed(runner.views)) }

    /// `userId`'s merged progress in `videoId`, when `caller` may read it (not found when there is none).
    public func progress(of userId: UserID, in videoId: VideoID, caller: Caller) throws -> MergedProgress {
        try access.requireProgress(of: userId, for: caller)
        guard let entry = try queries.entry(user: userId.text, video: videoId.text) else {
            throw CommandError(.notFound, "no progress of \(userId.text) in video \(videoId.text)")
        }
        return MergedProgress(userId: userId.text, videoId: videoId.text, entry: entry, video: try queries.video(videoId.text))
    }

    /// Every video `userId` has progress in, when `caller` may read it.
    public func progress(of userId: UserID, caller: Caller) throws -> [MergedProgress] {
        try access.requireProgress(of: userId, for: caller)
        return try queries.entries(user: userId.text).map {
            MergedProgress(userId: userId.text, videoId: $0.videoId, entry: $0.entry, video: $0.video)
        }
    }

    /// `userId`'s engagement (totals and the `limit` most watched videos), when `caller` may read it.
    public func engagement(of userId: UserID, limit: Int, caller: Caller) throws -> UserEngagement {
        try access.requireProgress(of: userId, for: caller)
        return try queries.engagement(user: userId.text, limit: limit)
    }
}
