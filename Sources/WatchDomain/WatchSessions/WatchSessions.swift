public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One watch session as the read models keep it: the fold of its stream, without its
/// player events (they are rows of their own).
public struct WatchSession: Sendable, Hashable {
    /// The watch session's id.
    public var sessionId: UUID
    /// Whose it is.
    public var userId: String
    /// The user session it was watched in, if any.
    public var userSessionId: UUID?
    /// Whether it was watched without logging in.
    public var isGuest: Bool
    /// The video.
    public var videoId: String
    /// When watching began (client clock).
    public var startTime: Timestamp
    /// When it ended, if known.
    public var endTime: Timestamp?
    /// Time actually spent watching, in milliseconds.
    public var actualTimeWatchedMillis: UInt64
    /// How much of the video was watched, 0 to 100.
    public var percentageWatched: Double
    /// The client's description of itself.
    public var userMetadata: ClientMetadata
    /// When it was recorded (server clock).
    public var createdAt: Timestamp
    /// When it last changed (server clock).
    public var updatedAt: Timestamp
    /// The log position of its start, which orders sessions recorded in the same microsecond.
    public var position: UInt64
    /// How many distinct player events it has.
    public var playerEventCount: UInt64 = 0

    /// The row a ``WatchSessionStarted`` event recorded at `at`, at log `position`, makes.
    public init(_ event: WatchSessionStarted, at: Timestamp, position: UInt64 = 0) {
        sessionId = event.sessionId
        userId = event.userId
        userSessionId = event.userSessionId
        isGuest = event.isGuest
        videoId = event.videoId
        startTime = event.startTime.timestamp
        endTime = event.endTime?.timestamp
        actualTimeWatchedMillis = event.actualTimeWatchedMillis
        percentageWatched = event.percentageWatched
        userMetadata = event.userMetadata
        createdAt = at
        updatedAt = at
        self.position = position
    }

    /// Applies the fields an update carries.
    public mutating func apply(_ event: WatchSessionUpdated, at: Timestamp) {
        if let endTime = event.endTime { self.endTime = endTime.timestamp }
        if let actual = event.actualTimeWatchedMillis { actualTimeWatchedMillis = actual }
        if let percentage = event.percentageWatched { percentageWatched = percentage }
        updatedAt = at
    }

    /// The row's stored form (version byte 1, then the fields).
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 128)
        writer.write(UInt8(1))
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
        writer.write(createdAt)
        writer.write(updatedAt)
        writer.write(position)
        writer.write(playerEventCount)
        return writer.bytes
    }

    /// Reads a stored row.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown watch-session row version") }
        sessionId = try reader.readUUID()
        userId = try reader.readString()
        userSessionId = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUUID() }
        isGuest = try reader.readBool()
        videoId = try reader.readString()
        startTime = try reader.readTimestamp()
        endTime = try reader.readOptional { reader throws(DomainCodecError) in try reader.readTimestamp() }
        actualTimeWatchedMillis = try reader.readUInt()
        percentageWatched = try reader.readDouble()
        userMetadata = try ClientMetadata(from: &reader)
        createdAt = try reader.readTimestamp()
        updatedAt = try reader.readTimestamp()
        position = try reader.readUInt()
        playerEventCount = reader.isAtEnd ? 0 : try reader.readUInt()
    }
}

/// A new watch session as a request describes it, its values parsed.
public struct WatchSessionDraft: Sendable, Hashable {
    /// The user session it was watched in, for logged-in users.
    public var userSessionId: UUID?
    /// Whether it was watched without logging in.
    public var isGuest: Bool
    /// The video.
    public var videoId: VideoID
    /// When watching began (client clock).
    public var startTime: Timestamp
    /// When it ended, if known.
    public var endTime: Timestamp?
    /// Time actually spent watching, in milliseconds.
    public var actualTimeWatchedMillis: UInt64
    /// How much of the video was watched, 0 to 100.
    public var percentageWatched: Double
    /// What the player reported.
    public var playerEvents: [PlayerEvent]
    /// The client's description of itself.
    public var userMetadata: ClientMetadata

    /// Creates a draft.
    public init(
        userSessionId: UUID? = nil,
        isGuest: Bool = false,
        videoId: VideoID,
        startTime: Timestamp,
        endTime: Timestamp? = nil,
        actualTimeWatchedMillis: UInt64 = 0,
        percentageWatched: Double = 0,
        playerEvents: [PlayerEvent] = [],
        userMetadata: ClientMetadata = ClientMetadata()
    ) {
        self.userSessionId = userSessionId
        self.isGuest = isGuest
        self.videoId = videoId
        self.startTime = startTime
        self.endTime = endTime
        self.actualTimeWatchedMillis = actualTimeWatchedMillis
        self.percentageWatched = percentageWatched
        self.playerEvents = playerEvents
        self.userMetadata = userMetadata
    }
}

/// The changes a `PATCH` asks for; absent fields stay as they are.
public struct WatchSessionChanges: Sendable, Hashable {
    /// The new end time.
    public var endTime: Timestamp?
    /// The new time actually watched, in milliseconds.
    public var actualTimeWatchedMillis: UInt64?
    /// The new percentage watched.
    public var percentageWatched: Double?
    /// The player events as the client knows them; those already recorded are skipped.
    public var playerEvents: [PlayerEvent]

    /// Creates changes.
    public init(endTime: Timestamp? = nil, actualTimeWatchedMillis: UInt64? = nil, percentageWatched: Double? = nil, playerEvents: [PlayerEvent] = [])
    {
        self.endTime = endTime
        self.actualTimeWatchedMillis = actualTimeWatchedMillis
        self.percentageWatched = percentageWatched
        self.playerEvents = playerEvents
    }
}

/// Decides the events of watch-session commands. Pure: the state they need comes in as
/// arguments.
public enum WatchSessionDecider {
    /// Records a new watch session `sessionId` for `caller`. `userSession` is the row of
    /// the draft's user session, `videoDurationMillis` the video's registered length.
    public static func create(
        _ draft: WatchSessionDraft,
        sessionId: UUID,
        caller: Caller,
        userSession: UserSession?,
        videoDurationMillis: UInt64?
    ) throws(CommandError) -> [any DomainEvent] {
        if let userSessionId = draft.userSessionId {
            guard !draft.isGuest else {
                throw CommandError(.invalid, "a guest watch session has no userSessionId", field: "userSessionId")
            }
            // The caller's own, administrators included: a watch session belongs to whoever
            // records it, and must not show up in another user's lists.
            guard let userSession, userSession.sessionId == userSessionId, userSession.userId.utf8.elementsEqual(caller.userId.utf8) else {
                throw CommandError(.invalid, "userSessionId names no user session of yours", field: "userSessionId")
            }
        }
        try checkTimes(start: draft.startTime, end: draft.endTime)
        try checkFigures(actual: draft.actualTimeWatchedMillis, percentage: draft.percentageWatched)
        if let problem = draft.userMetadata.problem() { throw CommandError(.invalid, problem.message, field: problem.field) }
        let playerEvents = try withinVideo(try distinctPlayerEvents(draft.playerEvents), videoDurationMillis: videoDurationMillis)
        let started = WatchSessionStarted(
            sessionId: sessionId,
            userId: caller.userId,
            userSessionId: draft.userSessionId,
            isGuest: draft.isGuest,
            videoId: draft.videoId.text,
            startTime: draft.startTime,
            endTime: draft.endTime,
            actualTimeWatchedMillis: draft.actualTimeWatchedMillis,
            percentageWatched: draft.percentageWatched,
            userMetadata: draft.userMetadata
        )
        return [started] + playerEvents.map { PlayerEventRecorded(sessionId: sessionId, event: $0) }
    }

    /// Applies `changes` to `session`: an update event when a figure changes, and one event
    /// per player event not yet recorded (`isRecorded` answers from the read models).
    public static func update(
        _ changes: WatchSessionChanges,
        session: WatchSession?,
        sessionId: UUID,
        caller: Caller,
        videoDurationMillis: UInt64?,
        isRecorded: (PlayerEvent) throws -> Bool
    ) throws -> [any DomainEvent] {
        let session = try owned(session, sessionId, by: caller)
        try checkTimes(start: session.startTime, end: changes.endTime)
        try checkFigures(actual: changes.actualTimeWatchedMillis, percentage: changes.percentageWatched)
        // Only new events are checked against the video's length: one recorded while the video
        // was longer stays valid, and a client re-sending its whole list must not be refused.
        let newEvents = try distinctPlayerEvents(changes.playerEvents).filter { try !isRecorded($0.event) }
        let playerEvents = try withinVideo(newEvents, videoDurationMillis: videoDurationMillis)
        guard session.playerEventCount + UInt64(playerEvents.count) <= UInt64(WatchSessionEvents.maxPlayerEventsPerSession) else {
            throw CommandError(
                .invalid,
                "a watch session may hold at most \(WatchSessionEvents.maxPlayerEventsPerSession) player events; it has \(session.playerEventCount)",
                field: "userEvent"
            )
        }
        var events: [any DomainEvent] = []
        let endTime = changes.endTime.flatMap { $0 == session.endTime ? nil : $0 }
        let actual = changes.actualTimeWatchedMillis.flatMap { $0 == session.actualTimeWatchedMillis ? nil : $0 }
        let percentage = changes.percentageWatched.flatMap { $0 == session.percentageWatched ? nil : $0 }
        if endTime != nil || actual != nil || percentage != nil {
            events.append(WatchSessionUpdated(sessionId: sessionId, endTime: endTime, actualTimeWatchedMillis: actual, percentageWatched: percentage))
        }
        events += playerEvents.map { PlayerEventRecorded(sessionId: sessionId, event: $0) }
        return events
    }

    /// Deletes `session`.
    public static func delete(_ session: WatchSession?, sessionId: UUID, caller: Caller) throws(CommandError) -> [any DomainEvent] {
        _ = try owned(session, sessionId, by: caller)
        return [WatchSessionDeleted(sessionId: sessionId)]
    }

    private static func owned(_ session: WatchSession?, _ sessionId: UUID, by caller: Caller) throws(CommandError) -> WatchSession {
        guard let session, caller.mayAccess(session.userId) else {
            throw CommandError(.notFound, "no watch session \(sessionId.uuidString.lowercased())")
        }
        return session
    }

    private static func checkTimes(start: Timestamp, end: Timestamp?) throws(CommandError) {
        if let end, end < start { throw CommandError(.invalid, "endTime must not be before startTime", field: "endTime") }
    }

    private static func checkFigures(actual: UInt64?, percentage: Double?) throws(CommandError) {
        if let problem = WatchSessionEvents.figuresProblem(actual: actual, percentage: percentage) {
            throw CommandError(.invalid, problem.message, field: problem.field)
        }
    }

    /// The events of `reported` without repeats, in the order given, with their index in it.
    private static func distinctPlayerEvents(_ reported: [PlayerEvent]) throws(CommandError) -> [(index: Int, event: PlayerEvent)] {
        guard reported.count <= WatchSessionEvents.maxPlayerEventsPerRequest else {
            throw CommandError(.invalid, "userEvent may hold at most \(WatchSessionEvents.maxPlayerEventsPerRequest) events", field: "userEvent")
        }
        var seen: Set<PlayerEvent> = []
        return reported.enumerated().filter { seen.insert($0.element).inserted }.map { ($0.offset, $0.element) }
    }

    /// `events`, each checked against the video's length (when known).
    private static func withinVideo(
        _ events: [(index: Int, event: PlayerEvent)],
        videoDurationMillis: UInt64?
    ) throws(CommandError) -> [PlayerEvent] {
        if let duration = videoDurationMillis, let late = events.first(where: { $0.event.videoTimeMillis > duration }) {
            throw CommandError(
                .invalid,
                "userEvent[\(late.index)].videoTime is past the end of the video (\(Timecode.format(duration)))",
                field: "userEvent[\(late.index)].videoTime"
            )
        }
        return events.map(\.event)
    }
}
