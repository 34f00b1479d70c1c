public import EventLog

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The events of the video-progress module: the video catalogue (`video/<videoId>`) and
/// each user's progress (`progress/<userId>`).
public enum VideoProgressEvents {
    /// Every event type of the module.
    public static let all: [any DomainEvent.Type] = [VideoRegistered.self, ProgressRecorded.self, ProgressDeleted.self]

    /// The stream of a video's catalogue entry.
    public static func videoStream(_ videoId: String) -> String { "video/" + videoId }
    /// The stream of a user's progress.
    public static func progressStream(_ userId: String) -> String { "progress/" + userId }

    /// The share of a video's length that counts as completing it, unless its registration says otherwise.
    public static let defaultCompletionThreshold = 0.9

    /// A completion threshold (0 < threshold ≤ 1) in millionths, the resolution at which
    /// Playhead compares it: the nearest whole number to threshold × 1,000,000, so that the
    /// decimal a client sent (0.55) is what counts, not its binary neighbour.
    public static func thresholdPartsPerMillion(_ threshold: Double) -> UInt64 {
        UInt64((min(max(threshold, 0), 1) * 1_000_000).rounded())
    }
    /// The longest watched duration accepted, in seconds (10,000 hours).
    public static let maxWatchedSeconds: UInt64 = 36_000_000
    /// How far ahead of the server's clock a `lastWatched` may be: further, and one device's
    /// fast clock would win every merge from then on.
    public static let maxClockSkew: Duration = .seconds(600)
    /// The most entries one sync may carry.
    public static let maxSyncEntries = 1_000
    /// The longest title, in UTF-8 bytes.
    public static let maxTitleBytes = 512
}

/// How a progress report reached the server.
public enum ProgressSource: UInt8, Sendable, Hashable, Codable {
    /// `POST /progress/update`.
    case update = 0
    /// `POST /progress/sync`.
    case sync = 1
    /// `POST /progress/realtime`.
    case realtime = 2
}

/// An administrator registered a video's length (and title), or changed them.
///
/// Schema history: 1 `videoId`, `durationMillis`, `title`, `completionThreshold`.
public struct VideoRegistered: DomainEvent {
    public static let eventType = "video.registered"
    public static let schemaVersion: UInt8 = 1
    /// The video.
    public var videoId: String
    /// Its length in milliseconds.
    public var durationMillis: UInt64
    /// Its title.
    public var title: String?
    /// The share of its length that counts as completing it (0 < threshold ≤ 1).
    public var completionThreshold: Double

    /// Creates the event.
    public init(videoId: String, durationMillis: UInt64, title: String?, completionThreshold: Double) {
        self.videoId = videoId
        self.durationMillis = durationMillis
        self.title = title
        self.completionThreshold = completionThreshold
    }

    public var stream: String { VideoProgressEvents.videoStream(videoId) }

    public func validate() throws(DomainCodecError) {
        try ClientIdentifier.validate(videoId, field: "videoId")
        guard (1...Timecode.maxMilliseconds).contains(durationMillis) else { throw DomainCodecError("duration is out of range") }
        guard completionThreshold > 0, completionThreshold <= 1 else { throw DomainCodecError("completionThreshold must be in (0, 1]") }
        if let title, title.utf8.count > VideoProgressEvents.maxTitleBytes { throw DomainCodecError("title is too long") }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(videoId)
        writer.write(durationMillis)
        writer.writeOptional(title) { $0.write($1) }
        writer.write(completionThreshold)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        videoId = try reader.readString()
        durationMillis = try reader.readUInt()
        title = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
        completionThreshold = try reader.readDouble()
    }
}

/// A device reported a user's progress in a video. Every report is kept; the read models
/// hold, per video, the report with the latest `lastWatched` (see ``ProgressEntry/supersedes(_:)``).
///
/// Schema history: 1 `userId`, `videoId`, `watchedDuration`, `lastWatched`,
/// `videoDurationMillis`, `source`.
public struct ProgressRecorded: DomainEvent {
    public static let eventType = "progress.recorded"
    public static let schemaVersion: UInt8 = 1
    /// Whose progress.
    public var userId: String
    /// The video.
    public var videoId: String
    /// Seconds watched.
    public var watchedDuration: UInt64
    /// When the device last played it (client clock).
    public var lastWatched: UTCTime
    /// The video's length as the player knows it, in milliseconds.
    public var videoDurationMillis: UInt64?
    /// Which route received it.
    public var source: ProgressSource

    /// Creates the event.
    public init(
        userId: String,
        videoId: String,
        watchedDuration: UInt64,
        lastWatched: Timestamp,
        videoDurationMillis: UInt64?,
        source: ProgressSource
    ) {
        self.userId = userId
        self.videoId = videoId
        self.watchedDuration = watchedDuration
        self.lastWatched = UTCTime(lastWatched)
        self.videoDurationMillis = videoDurationMillis
        self.source = source
    }

    public var stream: String { VideoProgressEvents.progressStream(userId) }

    /// Checks the stored form: a payload read back from a log (an import of a doctored
    /// export) has been through no ``UserID``, ``VideoID`` or ``WatchedDuration``, which
    /// checked the rules of a request once; this guards the bytes, not the request.
    public func validate() throws(DomainCodecError) {
        try ClientIdentifier.validate(userId, field: "userId", maxBytes: UserSessionEvents.maxUserIdBytes)
        try ClientIdentifier.validate(videoId, field: "videoId")
        guard watchedDuration <= VideoProgressEvents.maxWatchedSeconds else { throw DomainCodecError("watchedDuration is out of range") }
        if let videoDurationMillis, !(1...Timecode.maxMilliseconds).contains(videoDurationMillis) {
            throw DomainCodecError("videoDuration is out of range")
        }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(userId)
        writer.write(videoId)
        writer.write(watchedDuration)
        writer.write(lastWatched)
        writer.writeOptional(videoDurationMillis) { $0.write($1) }
        writer.write(source.rawValue)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        userId = try reader.readString()
        videoId = try reader.readString()
        watchedDuration = try reader.readUInt()
        lastWatched = try reader.readUTCTime()
        videoDurationMillis = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUInt() }
        let raw = try reader.readByte()
        guard let source = ProgressSource(rawValue: raw) else { throw DomainCodecError("unknown progress source \(raw)") }
        self.source = source
    }
}

/// A user's progress in a video was deleted. A later report starts it again.
///
/// Schema history: 1 `userId`, `videoId`.
public struct ProgressDeleted: DomainEvent {
    public static let eventType = "progress.deleted"
    public static let schemaVersion: UInt8 = 1
    /// Whose progress.
    public var userId: String
    /// The video.
    public var videoId: String

    /// Creates the event.
    public init(userId: String, videoId: String) {
        self.userId = userId
        self.videoId = videoId
    }

    public var stream: String { VideoProgressEvents.progressStream(userId) }

    public func validate() throws(DomainCodecError) {
        try ClientIdentifier.validate(userId, field: "userId", maxBytes: UserSessionEvents.maxUserIdBytes)
        try ClientIdentifier.validate(videoId, field: "videoId")
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(userId)
        writer.write(videoId)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        userId = try reader.readString()
        videoId = try reader.readString()
    }
}

/// A video's catalogue entry.
public struct VideoInfo: Sendable, Hashable {
    /// Its length in milliseconds.
    public var durationMillis: UInt64
    /// Its title.
    public var title: String?
    /// The share of its length that counts as completing it.
    public var completionThreshold: Double

    /// Creates an entry.
    public init(durationMillis: UInt64, title: String?, completionThreshold: Double) {
        self.durationMillis = durationMillis
        self.title = title
        self.completionThreshold = completionThreshold
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 32)
        writer.write(UInt8(1))
        writer.write(durationMillis)
        writer.write(completionThreshold)
        writer.writeOptional(title) { $0.write($1) }
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown video row version") }
        durationMillis = try reader.readUInt()
        completionThreshold = try reader.readDouble()
        title = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
    }
}

/// A user's progress in one video, as the read models keep it.
public struct ProgressEntry: Sendable, Hashable {
    /// Seconds watched.
    public var watchedDuration: UInt64
    /// When a device last played it (client clock).
    public var lastWatched: Timestamp
    /// The video's length as the winning report's player knew it, in milliseconds.
    public var videoDurationMillis: UInt64?

    /// Creates an entry.
    public init(watchedDuration: UInt64, lastWatched: Timestamp, videoDurationMillis: UInt64? = nil) {
        self.watchedDuration = watchedDuration
        self.lastWatched = lastWatched
        self.videoDurationMillis = videoDurationMillis
    }

    /// The entry a report makes.
    public init(_ event: ProgressRecorded) {
        self.init(watchedDuration: event.watchedDuration, lastWatched: event.lastWatched.timestamp, videoDurationMillis: event.videoDurationMillis)
    }

    /// The merge rule of multi-device sync: the entry with the later `lastWatched` wins; at
    /// equal times, the one with more watched; then the one whose player knew the longer
    /// video length (a known length over none); at equal all three, the entries are the
    /// same. So the result doesn't depend on the order in which reports arrive.
    public func supersedes(_ kept: ProgressEntry?) -> Bool {
        guard let kept else { return true }
        if lastWatched != kept.lastWatched { return lastWatched > kept.lastWatched }
        if watchedDuration != kept.watchedDuration { return watchedDuration > kept.watchedDuration }
        return (videoDurationMillis ?? 0) > (kept.videoDurationMillis ?? 0)
    }

    /// Whether the entry completes the video: watched at least `threshold` of its length
    /// (the catalogue's length, else the player's). Unknown length: not completed.
    ///
    /// Compared in whole numbers, never in floating point, where 0.55 × 100,000 ms is
    /// 55,000.00000000001: the threshold counts to a millionth
    /// (``VideoProgressEvents/thresholdPartsPerMillion(_:)``), so 0.55 of 100 s is 55 s exactly.
    public func isCompleted(video: VideoInfo?) -> Bool {
        guard let length = video?.durationMillis ?? videoDurationMillis, length > 0 else { return false }
        let threshold = video?.completionThreshold ?? VideoProgressEvents.defaultCompletionThreshold
        let watchedMillis = UInt128(watchedDuration) * 1_000
        return watchedMillis * 1_000_000 >= UInt128(VideoProgressEvents.thresholdPartsPerMillion(threshold)) * UInt128(length)
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 24)
        writer.write(UInt8(1))
        writer.write(watchedDuration)
        writer.write(lastWatched)
        writer.writeOptional(videoDurationMillis) { $0.write($1) }
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown progress row version") }
        watchedDuration = try reader.readUInt()
        lastWatched = try reader.readTimestamp()
        videoDurationMillis = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUInt() }
    }
}

/// A progress report as a request carries it, its values parsed: the id and the watched
/// duration are validated values, so the decider does not check them again.
public struct ProgressReport: Sendable, Hashable {
    /// The video.
    public var videoId: VideoID
    /// Seconds watched.
    public var watchedDuration: WatchedDuration
    /// When the device last played it (client clock).
    public var lastWatched: Timestamp
    /// The video's length as the player knows it, in milliseconds.
    public var videoDurationMillis: UInt64?

    /// Creates a report.
    public init(videoId: VideoID, watchedDuration: WatchedDuration, lastWatched: Timestamp, videoDurationMillis: UInt64? = nil) {
        self.videoId = videoId
        self.watchedDuration = watchedDuration
        self.lastWatched = lastWatched
        self.videoDurationMillis = videoDurationMillis
    }
}

/// Decides the events of video-progress commands. Pure.
public enum VideoProgressDecider {
    /// Checks that `caller` may read or write the progress of `userId`: theirs, unless they
    /// are an administrator.
    public static func authorize(_ caller: Caller, userId: UserID, field: String = "userId") throws(CommandError) {
        guard caller.mayAccess(userId.text) else { throw CommandError(.forbidden, "you may only use your own progress", field: field) }
    }

    /// Checks that a sync of `count` reports is not too large (the one place this limit is checked).
    public static func checkSyncSize(_ count: Int) throws(CommandError) {
        guard count <= VideoProgressEvents.maxSyncEntries else {
            throw CommandError(.invalid, "progressData may hold at most \(VideoProgressEvents.maxSyncEntries) entries", field: "progressData")
        }
    }

    /// Records `reports` of `userId`'s progress. `fieldPrefix` names the reports in errors
    /// (`progressData[3].` for a sync, empty for a single report).
    public static func record(
        _ reports: [ProgressReport],
        userId: UserID,
        caller: Caller,
        now: Timestamp,
        source: ProgressSource,
        fieldPrefix: (Int) -> String = { _ in "" }
    ) throws(CommandError) -> [ProgressRecorded] {
        try authorize(caller, userId: userId)
        try checkSyncSize(reports.count)
        let latest = now.microsecondsSince1970 + VideoProgressEvents.maxClockSkew.microseconds
        var events: [ProgressRecorded] = []
        events.reserveCapacity(reports.count)
        for (index, report) in reports.enumerated() {
            let prefix = fieldPrefix(index)
            guard report.lastWatched.microsecondsSince1970 <= latest else {
                throw CommandError(.invalid, "\(prefix)lastWatched is in the future", field: prefix + "lastWatched")
            }
            if let length = report.videoDurationMillis, !(1...Timecode.maxMilliseconds).contains(length) {
                throw CommandError(.invalid, "\(prefix)videoDuration must be above 0 and at most 36000000 seconds", field: prefix + "videoDuration")
            }
            events.append(
                ProgressRecorded(
                    userId: userId.text,
                    videoId: report.videoId.text,
                    watchedDuration: report.watchedDuration.seconds,
                    lastWatched: report.lastWatched,
                    videoDurationMillis: report.videoDurationMillis,
                    source: source
                )
            )
        }
        return events
    }

    /// Deletes `userId`'s progress in `videoId`; `entry` is what the read models hold.
    public static func delete(userId: UserID, videoId: VideoID, entry: ProgressEntry?, caller: Caller) throws(CommandError) -> ProgressDeleted {
        try authorize(caller, userId: userId)
        guard entry != nil else { throw CommandError(.notFound, "no progress of \(userId.text) in video \(videoId.text)") }
        return ProgressDeleted(userId: userId.text, videoId: videoId.text)
    }

    /// Registers (or changes) a video in the catalogue. Administrators only.
    public static func register(
        videoId: VideoID,
        durationMillis: UInt64,
        title: String?,
        completionThreshold: Double?,
        caller: Caller
    ) throws(CommandError) -> VideoRegistered {
        guard caller.isAdmin else { throw CommandError(.forbidden, "only administrators register videos") }
        guard (1...Timecode.maxMilliseconds).contains(durationMillis) else {
            throw CommandError(.invalid, "duration must be above 0 and at most 36000000 seconds", field: "duration")
        }
        if let title, title.utf8.count > VideoProgressEvents.maxTitleBytes {
            throw CommandError(.invalid, "title must be at most \(VideoProgressEvents.maxTitleBytes) bytes", field: "title")
        }
        let threshold = completionThreshold ?? VideoProgressEvents.defaultCompletionThreshold
        // Stored as the millionth it is compared at, so that the threshold answered is the one
        // applied; one that rounds to 0 would complete every video at 0 s.
        guard threshold.isFinite, threshold > 0, threshold <= 1, VideoProgressEvents.thresholdPartsPerMillion(threshold) > 0 else {
            throw CommandError(
                .invalid,
                "completionThreshold must be from 0.000001 to 1 (it counts to a millionth)",
                field: "completionThreshold"
            )
        }
        let rounded = Double(VideoProgressEvents.thresholdPartsPerMillion(threshold)) / 1_000_000
        return VideoRegistered(videoId: videoId.text, durationMillis: durationMillis, title: title, completionThreshold: rounded)
    }
}
