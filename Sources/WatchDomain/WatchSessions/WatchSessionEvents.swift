public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The events of the watch-sessions module. Each watch session is one stream,
/// `watch-session/<id>`, that begins with ``WatchSessionStarted``.
public enum WatchSessionEvents {
    /// Every event type of the module.
    public static let all: [any DomainEvent.Type] = [
        WatchSessionStarted.self,
        WatchSessionUpdated.self,
        PlayerEventRecorded.self,
        WatchSessionDeleted.self,
    ]

    /// The stream of one watch session.
    public static func stream(_ id: UUID) -> String { "watch-session/" + id.uuidString.lowercased() }

    /// The most player events one request may carry.
    public static let maxPlayerEventsPerRequest = 1_000
    /// The most player events one watch session may hold (each read with the session).
    public static let maxPlayerEventsPerSession = 5_000
    /// The longest metadata value kept, in UTF-8 bytes.
    public static let maxMetadataBytes = 512

    /// The first of the figures that is out of range, with why; nil when both are in range.
    static func figuresProblem(actual: UInt64?, percentage: Double?) -> (field: String, message: String)? {
        if let percentage, !percentage.isFinite || !(0...100).contains(percentage) {
            return ("percentageWatched", "percentageWatched must be 0 to 100")
        }
        if let actual, actual > Timecode.maxMilliseconds {
            return ("actualTimeWatched", "actualTimeWatched must be at most 10000:00:00")
        }
        return nil
    }
}

/// What a player reports: the kinds of ``PlayerEvent``.
public enum PlayerEventKind: UInt8, NamedValue {
    /// Playback started or resumed.
    case play = 0
    /// Playback paused.
    case pause = 1
    /// The viewer jumped to another position.
    case seek = 2
    /// Playback reached the end.
    case ended = 3
    /// Playback waited for data.
    case buffering = 4
    /// The playback rate changed.
    case rateChange = 5
    /// The volume changed.
    case volumeChange = 6

    /// The name clients send and receive.
    public var name: String {
        switch self {
        case .play: "play"
        case .pause: "pause"
        case .seek: "seek"
        case .ended: "ended"
        case .buffering: "buffering"
        case .rateChange: "ratechange"
        case .volumeChange: "volumechange"
        }
    }

    /// Decodes the name (see ``NamedValue/init(nameFrom:)``).
    public init(from decoder: any Decoder) throws { try self.init(nameFrom: decoder) }

    /// Encodes the name.
    public func encode(to encoder: any Encoder) throws { try encodeName(to: encoder) }
}

/// One thing the player did: what, when (the client's clock) and where in the video.
/// Two reports with the same kind, time and video position are the same event.
public struct PlayerEvent: Sendable, Hashable, Codable {
    /// What happened.
    public var event: PlayerEventKind
    /// When, by the client's clock.
    public var eventTime: UTCTime
    /// The position in the video, in milliseconds.
    public var videoTimeMillis: UInt64

    /// Creates a player event.
    public init(event: PlayerEventKind, eventTime: Timestamp, videoTimeMillis: UInt64) {
        self.event = event
        self.eventTime = UTCTime(eventTime)
        self.videoTimeMillis = videoTimeMillis
    }
}

/// What the client said about itself when the watch session began. Every field is optional.
public struct ClientMetadata: Sendable, Hashable, Codable {
    /// The browser's `User-Agent`.
    public var userAgent: String?
    /// The client's address as it reported it.
    public var ipAddress: String?
    /// The device ("desktop", a model name).
    public var device: String?
    /// The browser ("Chrome").
    public var browser: String?
    /// The operating system ("Windows").
    public var os: String?
    /// The kind of device ("desktop", "mobile", "tv").
    public var deviceType: String?

    /// Creates metadata.
    public init(
        userAgent: String? = nil,
        ipAddress: String? = nil,
        device: String? = nil,
        browser: String? = nil,
        os: String? = nil,
        deviceType: String? = nil
    ) {
        self.userAgent = userAgent
        self.ipAddress = ipAddress
        self.device = device
        self.browser = browser
        self.os = os
        self.deviceType = deviceType
    }

    /// The fields by their JSON names, in a fixed order.
    public var fields: [(name: String, value: String?)] {
        [("userAgent", userAgent), ("ipAddress", ipAddress), ("device", device), ("browser", browser), ("os", os), ("deviceType", deviceType)]
    }

    func encode(to writer: inout BinaryWriter) {
        for field in fields { writer.writeOptional(field.value) { $0.write($1) } }
    }

    init(from reader: inout BinaryReader) throws(DomainCodecError) {
        func next() throws(DomainCodecError) -> String? { try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() } }
        userAgent = try next()
        ipAddress = try next()
        device = try next()
        browser = try next()
        os = try next()
        deviceType = try next()
    }

    /// The first field longer than ``WatchSessionEvents/maxMetadataBytes``, with why; nil when none is.
    public func problem() -> (field: String, message: String)? {
        for field in fields where (field.value?.utf8.count ?? 0) > WatchSessionEvents.maxMetadataBytes {
            return ("userMetadata.\(field.name)", "userMetadata.\(field.name) must be at most \(WatchSessionEvents.maxMetadataBytes) bytes")
        }
        return nil
    }

    func validate() throws(DomainCodecError) {
        if let problem = problem() { throw DomainCodecError(problem.message) }
    }
}

/// A watch session was recorded: someone watched (part of) a video.
///
/// Schema history: 1 every field below.
public struct WatchSessionStarted: DomainEvent {
    public static let eventType = "watch-session.started"
    public static let schemaVersion: UInt8 = 1
    /// The new watch session.
    public var sessionId: UUID
    /// Whose it is: the user who recorded it (a guest's token for guest sessions).
    public var userId: String
    /// The user session it was watched in, for logged-in users.
    public var userSessionId: UUID?
    /// Whether it was watched without logging in.
    public var isGuest: Bool
    /// The video.
    public var videoId: String
    /// When watching began (client clock).
    public var startTime: UTCTime
    /// When it ended, if known yet.
    public var endTime: UTCTime?
    /// Time actually spent watching, in milliseconds.
    public var actualTimeWatchedMillis: UInt64
    /// How much of the video was watched, 0 to 100.
    public var percentageWatched: Double
    /// The client's description of itself.
    public var userMetadata: ClientMetadata

    /// Creates the event.
    public init(
        sessionId: UUID,
        userId: String,
        userSessionId: UUID?,
        isGuest: Bool,
        videoId: String,
        startTime: Timestamp,
        endTime: Timestamp?,
        actualTimeWatchedMillis: UInt64,
        percentageWatched: Double,
        userMetadata: ClientMetadata
    ) {
        self.sessionId = sessionId
        self.userId = userId
        self.userSessionId = userSessionId
        self.isGuest = isGuest
        self.videoId = videoId
        self.startTime = UTCTime(startTime)
        self.endTime = endTime.map(UTCTime.init)
        self.actualTimeWatchedMillis = actualTimeWatchedMillis
        self.percentageWatched = percentageWatched
        self.userMetadata = userMetadata
    }

    public var stream: String { WatchSessionEvents.stream(sessionId) }

    public func validate() throws(DomainCodecError) {
        try UserSessionEvents.validateUserId(userId)
        try ClientIdentifier.validate(videoId, field: "videoId")
        if let problem = WatchSessionEvents.figuresProblem(actual: actualTimeWatchedMillis, percentage: percentageWatched) {
            throw DomainCodecError(problem.message)
        }
        if let endTime, endTime < startTime { throw DomainCodecError("endTime is before startTime") }
        try userMetadata.validate()
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(userId)
        writer.writeOptional(userSessionId) { $0.write($1) }
        writer.write(isGuest)
        writer.write(videoId)
        writer.write(startTime)
        writer.writeOptional(endTime) { $0.write($1) }
        writer.write(actualTimeWatchedMillis)
        writer.write(percentageWatched)
        userMetadata.encode(to: &writer)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        userId = try reader.readString()
        userSessionId = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUUID() }
        isGuest = try reader.readBool()
        videoId = try reader.readString()
        startTime = try reader.readUTCTime()
        endTime = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUTCTime() }
        actualTimeWatchedMillis = try reader.readUInt()
        percentageWatched = try reader.readDouble()
        userMetadata = try ClientMetadata(from: &reader)
    }
}

/// Some of a watch session's figures changed; absent fields stay as they were.
///
/// Schema history: 1 `sessionId`, `endTime`, `actualTimeWatchedMillis`, `percentageWatched`.
public struct WatchSessionUpdated: DomainEvent {
    public static let eventType = "watch-session.updated"
    public static let schemaVersion: UInt8 = 1
    /// The watch session.
    public var sessionId: UUID
    /// The new end time.
    public var endTime: UTCTime?
    /// The new time actually watched, in milliseconds.
    public var actualTimeWatchedMillis: UInt64?
    /// The new percentage watched.
    public var percentageWatched: Double?

    /// Creates the event.
    public init(sessionId: UUID, endTime: Timestamp?, actualTimeWatchedMillis: UInt64?, percentageWatched: Double?) {
        self.sessionId = sessionId
        self.endTime = endTime.map(UTCTime.init)
        self.actualTimeWatchedMillis = actualTimeWatchedMillis
        self.percentageWatched = percentageWatched
    }

    public var stream: String { WatchSessionEvents.stream(sessionId) }

    public func validate() throws(DomainCodecError) {
        if let problem = WatchSessionEvents.figuresProblem(actual: actualTimeWatchedMillis, percentage: percentageWatched) {
            throw DomainCodecError(problem.message)
        }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.writeOptional(endTime) { $0.write($1) }
        writer.writeOptional(actualTimeWatchedMillis) { $0.write($1) }
        writer.writeOptional(percentageWatched) { $0.write($1) }
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        endTime = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUTCTime() }
        actualTimeWatchedMillis = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUInt() }
        percentageWatched = try reader.readOptional { reader throws(DomainCodecError) in try reader.readDouble() }
    }
}

/// The player of a watch session reported an event (play, pause, seek, …).
///
/// Schema history: 1 `sessionId`, `event`.
public struct PlayerEventRecorded: DomainEvent {
    public static let eventType = "watch-session.player-event"
    public static let schemaVersion: UInt8 = 1
    /// The watch session.
    public var sessionId: UUID
    /// What the player did.
    public var event: PlayerEvent

    /// Creates the event.
    public init(sessionId: UUID, event: PlayerEvent) {
        self.sessionId = sessionId
        self.event = event
    }

    public var stream: String { WatchSessionEvents.stream(sessionId) }

    public func validate() throws(DomainCodecError) {
        guard event.videoTimeMillis <= Timecode.maxMilliseconds else { throw DomainCodecError("videoTime is too long") }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(event.event.rawValue)
        writer.write(event.eventTime)
        writer.write(event.videoTimeMillis)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        let raw = try reader.readByte()
        guard let kind = PlayerEventKind(rawValue: raw) else { throw DomainCodecError("unknown player event kind \(raw)") }
        event = PlayerEvent(event: kind, eventTime: try reader.readTimestamp(), videoTimeMillis: try reader.readUInt())
    }
}

/// A watch session was deleted: it leaves every read model; the log keeps its history.
///
/// Schema history: 1 `sessionId`.
public struct WatchSessionDeleted: DomainEvent {
    public static let eventType = "watch-session.deleted"
    public static let schemaVersion: UInt8 = 1
    /// The watch session.
    public var sessionId: UUID

    /// Creates the event.
    public init(sessionId: UUID) { self.sessionId = sessionId }

    public var stream: String { WatchSessionEvents.stream(sessionId) }

    public func encodeFields(to writer: inout BinaryWriter) { writer.write(sessionId) }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
    }
}
