public import EventLog
public import Views
import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
public import Foundation
#endif

/// Folds the user-session events into the rows the module's queries read:
///
/// | database | key | value |
/// |---|---|---|
/// | `sessions` | session id (16 bytes) | ``UserSession`` row |
/// | `open_by_user` | user id length (2 bytes BE), user id, started-at (8 bytes), session id | empty: the user's sessions not yet ended or expired |
/// | `by_start` | started-at (8 bytes), session id | empty: every session in start order, for metrics |
///
/// Times in keys are microseconds since 1970 with the sign bit flipped, big-endian, so
/// that byte order is time order.
public struct UserSessionsProjector: Projector {
    public let name = "user-sessions"
    public let version: UInt32 = 2
    public let databases = ["sessions", "open_by_user", "by_start"]
    public let eventTypePrefixes = ["user-session."]

    /// Creates the projector.
    public init() {}

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        let type = record.typeBytes
        guard ViewKey.matches(type, prefixOf: Self.prefix) else { return }
        let payload = record.payload
        let at = record.recordedAt
        if ViewKey.matches(type, Self.heartbeat) {
            // The most frequent event: patched into the stored row without decoding it.
            let event = try UserSessionHeartbeat.decode(payload)
            try views.update("sessions", Self.key(event.sessionId)) { row in try UserSession.recordActivity(in: &row, at: at) }
        } else if ViewKey.matches(type, Self.started) {
            let event = try UserSessionStarted.decode(payload)
            try open(UserSession(sessionId: event.sessionId, userId: event.userId, startedAt: at, userAgent: event.userAgent), views)
        } else if ViewKey.matches(type, Self.renewed) {
            let event = try UserSessionRenewed.decode(payload)
            try open(
                UserSession(sessionId: event.sessionId, userId: event.userId, startedAt: at, renewedFrom: event.previousSessionId),
                views
            )
        } else if ViewKey.matches(type, Self.engagement) {
            let event = try UserSessionEngagementChanged.decode(payload)
            try update(event.sessionId, views) { $0.contentEngaged = event.engaged }
        } else if ViewKey.matches(type, Self.ended) {
            let event = try UserSessionEnded.decode(payload)
            try close(event.sessionId, as: .ended, at: at, renewedBy: nil, views)
        } else if ViewKey.matches(type, Self.expired) {
            let event = try UserSessionExpired.decode(payload)
            try close(event.sessionId, as: .expired, at: at, renewedBy: event.renewedBy, views)
        }
    }

    /// Stores a new session's row and index keys; a second start of the same id replaces the
    /// first, index keys included.
    private func open(_ session: UserSession, _ views: ViewTransaction) throws {
        if let previous = try Self.row(session.sessionId, in: views) {
            try views.delete("open_by_user", Self.userKey(previous.userId, previous.startedAt, previous.sessionId))
            try views.delete("by_start", ViewKey.time(previous.startedAt) + Self.key(previous.sessionId))
        }
        try views.put("sessions", Self.key(session.sessionId), session.encoded())
        try views.put("open_by_user", Self.userKey(session.userId, session.startedAt, session.sessionId), [])
        try views.put("by_start", ViewKey.time(session.startedAt) + Self.key(session.sessionId), [])
    }

    private func close(_ id: UUID, as status: UserSession.Status, at: Timestamp, renewedBy: UUID?, _ views: ViewTransaction) throws {
        guard
            let session = try update(
                id,
                views,
                { session in
                    session.status = status
                    session.closedAt = at
                    session.renewedBy = renewedBy
                }
            )
        else { return }
        try views.delete("open_by_user", Self.userKey(session.userId, session.startedAt, id))
    }

    /// Changes a stored row; an event for a session with no row (a log cut short by an
    /// import range, say) changes nothing.
    @discardableResult
    private func update(_ id: UUID, _ views: ViewTransaction, _ change: (inout UserSession) -> Void) throws -> UserSession? {
        guard var session = try Self.row(id, in: views) else { return nil }
        change(&session)
        try views.put("sessions", Self.key(id), session.encoded())
        return session
    }

    static let prefix = Array("user-session.".utf8)
    static let started = Array(UserSessionStarted.eventType.utf8)
    static let renewed = Array(UserSessionRenewed.eventType.utf8)
    static let heartbeat = Array(UserSessionHeartbeat.eventType.utf8)
    static let engagement = Array(UserSessionEngagementChanged.eventType.utf8)
    static let ended = Array(UserSessionEnded.eventType.utf8)
    static let expired = Array(UserSessionExpired.eventType.utf8)

    static func key(_ id: UUID) -> [UInt8] { ViewKey.uuid(id) }

    /// The stored row of a session, decoded; nil when there is none.
    static func row(_ id: UUID, in views: ViewTransaction) throws -> UserSession? {
        try views.withValue("sessions", key(id)) { bytes in try bytes.map { try UserSession(decoding: $0) } }
    }

    static func userPrefix(_ userId: String) -> [UInt8] { ViewKey.string(userId) }

    static func userKey(_ userId: String, _ startedAt: Timestamp, _ id: UUID) -> [UInt8] {
        userPrefix(userId) + ViewKey.time(startedAt) + key(id)
    }
}

/// Session figures over a range of start times (see Docs/api.md for each definition).
public struct SessionMetrics: Sendable, Hashable, Codable {
    /// Sessions started in the range (renewals included).
    public var totalSessions: Int = 0
    /// Distinct users among them.
    public var uniqueUsers: Int = 0
    /// Those marked as engaged with content.
    public var engagedSessions: Int = 0
    /// `engagedSessions / totalSessions`, 0 when there are none.
    public var engagementRate: Double = 0
    /// Mean of start-to-last-activity, in seconds, 0 when there are none.
    public var averageDurationSeconds: Double = 0
    /// Those ended by their user.
    public var endedSessions: Int = 0
    /// Those found expired by a later heartbeat.
    public var expiredSessions: Int = 0
    /// Those that began as the renewal of an expired session.
    public var renewedSessions: Int = 0

    /// Empty figures.
    public init() {}
}

/// The figures of one UTC day.
public struct DailySessionMetrics: Sendable, Hashable, Codable {
    /// The day, `YYYY-MM-DD`.
    public var date: String
    /// The figures of the sessions started that day.
    public var metrics: SessionMetrics
}

/// Sums sessions into ``SessionMetrics``.
struct MetricsAccumulator {
    /// Distinct user ids, by their bytes (as the rows store them).
    var users: Set<[UInt8]> = []
    var total = 0
    var engaged = 0
    var ended = 0
    var expired = 0
    var renewed = 0
    var durationMicros: Int64 = 0

    mutating func add(_ session: UserSession) {
        total += 1
        users.insert(Array(session.userId.utf8))
        if session.contentEngaged { engaged += 1 }
        switch session.status {
        case .ended: ended += 1
        case .expired: expired += 1
        case .active: break
        }
        if session.renewedFrom != nil { renewed += 1 }
        // Wrapping: imported times are only as sane as the file they came from.
        durationMicros &+= session.lastActiveAt.microsecondsSince1970 &- session.startedAt.microsecondsSince1970
    }

    var metrics: SessionMetrics {
        var metrics = SessionMetrics()
        metrics.totalSessions = total
        metrics.uniqueUsers = users.count
        metrics.engagedSessions = engaged
        metrics.endedSessions = ended
        metrics.expiredSessions = expired
        metrics.renewedSessions = renewed
        if total > 0 {
            metrics.engagementRate = Double(engaged) / Double(total)
            metrics.averageDurationSeconds = Double(durationMicros) / Double(total) / 1_000_000
        }
        return metrics
    }
}
