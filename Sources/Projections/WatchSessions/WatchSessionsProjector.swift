public import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Folds the watch-session events into the rows the module's queries read:
///
/// | database | key | value |
/// |---|---|---|
/// | `sessions` | watch session id (16 bytes) | ``WatchSession`` row |
/// | `player_events` | session id, event time (8), kind (1), video time in ms (8, BE) | empty: the session's player events in time order, each once |
/// | `all` | created-at newest first (8), log position newest first (8), session id | empty: every session, for administrators |
/// | `by_user` | user id (length-prefixed), then as `all` | empty |
/// | `by_user_session` | user session id (16), then as `all` | empty |
/// | `counts` | a list's scope: `0`, `1` + user id, or `2` + user session id | how many sessions it has (8 bytes BE) |
///
/// A deleted session leaves every database; its events stay in the log.
public struct WatchSessionsProjector: Projector {
    public let name = "watch-sessions"
    /// 2: rows carry the log position of their start; 3: and their player-event count.
    public let version: UInt32 = 3
    public let databases = ["sessions", "player_events", "all", "by_user", "by_user_session", "counts"]
    public let eventTypePrefixes = ["watch-session."]

    /// Creates the projector.
    public init() {}

    static let prefix = Array("watch-session.".utf8)
    static let started = Array(WatchSessionStarted.eventType.utf8)
    static let updated = Array(WatchSessionUpdated.eventType.utf8)
    static let playerEvent = Array(PlayerEventRecorded.eventType.utf8)
    static let deleted = Array(WatchSessionDeleted.eventType.utf8)

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        guard ViewKey.matches(type, prefixOf: Self.prefix) else { return }
        let at = record.recordedAt
        if ViewKey.matches(type, Self.playerEvent) {
            let event = try PlayerEventRecorded.decode(record.payload)
            guard var session = try Self.row(event.sessionId, in: views) else { return }
            let key = Self.playerEventKey(event.sessionId, event.event)
            guard try views.get("player_events", key) == nil else { return }
            try views.put("player_events", key, [])
            session.playerEventCount += 1
            try views.put("sessions", ViewKey.uuid(session.sessionId), session.encoded())
        } else if ViewKey.matches(type, Self.started) {
            let event = try WatchSessionStarted.decode(record.payload)
            // A second start of the same id (an import of a doctored log) replaces the first.
            try remove(event.sessionId, views)
            let session = WatchSession(event, at: at, position: record.position)
            try views.put("sessions", ViewKey.uuid(session.sessionId), session.encoded())
            for (database, key) in Self.listKeys(session) { try views.put(database, key, []) }
            for scope in Self.scopes(session) { try views.addToCounter("counts", scope, 1) }
        } else if ViewKey.matches(type, Self.updated) {
            let event = try WatchSessionUpdated.decode(record.payload)
            guard var session = try Self.row(event.sessionId, in: views) else { return }
            session.apply(event, at: at)
            try views.put("sessions", ViewKey.uuid(session.sessionId), session.encoded())
        } else if ViewKey.matches(type, Self.deleted) {
            try remove(try WatchSessionDeleted.decode(record.payload).sessionId, views)
        }
    }

    /// Removes a session with its list keys, counts and player events (nothing when there is no such session).
    private func remove(_ id: UUID, _ views: ViewTransaction) throws {
        guard let session = try Self.row(id, in: views) else { return }
        try views.delete("sessions", ViewKey.uuid(id))
        for (database, key) in Self.listKeys(session) { try views.delete(database, key) }
        for scope in Self.scopes(session) { try views.addToCounter("counts", scope, -1) }
        var playerEvents: [[UInt8]] = []
        try views.forEach("player_events", prefix: ViewKey.uuid(id)) { key, _ in
            playerEvents.append(key)
            return true
        }
        for key in playerEvents { try views.delete("player_events", key) }
    }

    /// The list index keys of a session.
    static func listKeys(_ session: WatchSession) -> [(database: String, key: [UInt8])] {
        // The log position breaks ties between sessions recorded in the same microsecond.
        let suffix = ViewKey.newestFirst(session.createdAt) + ViewKey.bigEndian(~session.position) + ViewKey.uuid(session.sessionId)
        var keys = [("all", suffix), ("by_user", ViewKey.string(session.userId) + suffix)]
        if let userSessionId = session.userSessionId { keys.append(("by_user_session", ViewKey.uuid(userSessionId) + suffix)) }
        return keys
    }

    /// The `counts` keys of the lists a session is in.
    static func scopes(_ session: WatchSession) -> [[UInt8]] {
        var scopes = [WatchSessionList.all.countKey, WatchSessionList.user(session.userId).countKey]
        if let userSessionId = session.userSessionId { scopes.append(WatchSessionList.userSession(userSessionId).countKey) }
        return scopes
    }

    static func playerEventKey(_ id: UUID, _ event: PlayerEvent) -> [UInt8] {
        ViewKey.uuid(id) + ViewKey.time(event.eventTime.timestamp) + [event.event.rawValue] + ViewKey.bigEndian(event.videoTimeMillis)
    }

    /// A session's player events in event-time order: its `player_events` keys, decoded.
    static func playerEvents(_ id: UUID, in views: ViewTransaction) throws -> [PlayerEvent] {
        var events: [PlayerEvent] = []
        try views.forEach("player_events", prefix: ViewKey.uuid(id)) { key, _ in
            guard key.count == 33, let kind = PlayerEventKind(rawValue: key[24]) else { return true }
            let time = ViewKey.timestamp(prefixOf: Array(key[16..<24]))
            events.append(PlayerEvent(event: kind, eventTime: time, videoTimeMillis: ViewKey.integer(key[25..<33])))
            return true
        }
        return events
    }

    /// The stored row of a session, decoded; nil when there is none.
    static func row(_ id: UUID, in views: ViewTransaction) throws -> WatchSession? {
        try views.withValue("sessions", ViewKey.uuid(id)) { bytes in try bytes.map { try WatchSession(decoding: $0) } }
    }
}

/// A list of watch sessions, newest first.
public enum WatchSessionList: Sendable, Hashable {
    /// Everyone's (administrators).
    case all
    /// One user's.
    case user(String)
    /// Those watched in one user session.
    case userSession(UUID)

    var database: String {
        switch self {
        case .all: "all"
        case .user: "by_user"
        case .userSession: "by_user_session"
        }
    }

    var prefix: [UInt8] {
        switch self {
        case .all: []
        case .user(let userId): ViewKey.string(userId)
        case .userSession(let id): ViewKey.uuid(id)
        }
    }

    var countKey: [UInt8] {
        switch self {
        case .all: [0]
        case .user(let userId): [1] + ViewKey.string(userId)
        case .userSession(let id): [2] + ViewKey.uuid(id)
        }
    }
}

/// A page of a ``WatchSessionList``.
public struct WatchSessionPage: Sendable, Hashable {
    /// How many sessions the whole list has.
    public var total: Int
    /// The sessions of the page, newest first.
    public var sessions: [WatchSession]
    /// Each session's player events, in the order of ``sessions``.
    public var playerEvents: [[PlayerEvent]]
}
