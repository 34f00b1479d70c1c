public import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The queries of the user-sessions module, answered from ``UserSessionsProjector``'s rows.
public struct UserSessionQueries: Sendable {
    /// The views to read.
    public let views: ViewSource
    private let name = UserSessionsProjector().name

    /// Queries reading the last committed state of `views`.
    public init(views: InlineProjections) { self.views = .committed(views) }

    /// Queries reading `source`: a decider passes its batch's views (``ViewSource/batch(_:of:)``).
    public init(_ source: ViewSource) { self.views = source }

    /// The session's row.
    public func session(_ id: UUID) throws -> UserSession? {
        try views.read(name) { tx in
            try UserSessionsProjector.row(id, in: tx)
        }
    }

    /// The user's sessions that are active at `now` (neither ended nor expired, with activity
    /// within `timeout`), oldest first.
    public func activeSessions(of userId: String, at now: Timestamp, timeout: Duration) throws -> [UserSession] {
        try views.read(name) { tx in
            var sessions: [UserSession] = []
            try tx.forEach("open_by_user", prefix: UserSessionsProjector.userPrefix(userId)) { key, _ in
                if let session = try UserSessionsProjector.row(ViewKey.uuid(suffixOf: key), in: tx),
                    session.isActive(at: now, timeout: timeout)
                {
                    sessions.append(session)
                }
                return true
            }
            return sessions
        }
    }

    /// Figures for the sessions started in `[start, end)`.
    public func metrics(from start: Timestamp, to end: Timestamp) throws -> SessionMetrics {
        var accumulator = MetricsAccumulator()
        try visitSessions(from: start, to: end) { accumulator.add($1) }
        return accumulator.metrics
    }

    /// Figures per UTC day for the days that `[start, end)` touches, every day present
    /// (zeros when no session started on it).
    public func dailyMetrics(from start: Timestamp, to end: Timestamp) throws -> [DailySessionMetrics] {
        let dayMicros: Int64 = 86_400_000_000
        func day(_ time: Timestamp) -> Int64 {
            let micros = time.microsecondsSince1970
            return micros >= 0 ? micros / dayMicros : (micros - dayMicros + 1) / dayMicros
        }
        let first = day(start)
        let last = max(first, day(Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1)))
        var days = Array(repeating: MetricsAccumulator(), count: Int(last - first + 1))
        try visitSessions(from: start, to: end) { startedAt, session in
            let index = day(startedAt) - first
            if days.indices.contains(Int(index)) { days[Int(index)].add(session) }
        }
        return days.enumerated().map { offset, accumulator in
            let midnight = Timestamp(microsecondsSince1970: (first + Int64(offset)) * dayMicros)
            return DailySessionMetrics(date: String(ISO8601Micros.format(midnight).prefix(10)), metrics: accumulator.metrics)
        }
    }

    /// Visits the sessions whose `by_start` key lies in `[start, end)`, with the start time
    /// the key holds.
    private func visitSessions(from start: Timestamp, to end: Timestamp, _ body: (Timestamp, UserSession) -> Void) throws {
        let stop = ViewKey.time(end)
        try views.read(name) { tx in
            try tx.forEach("by_start", from: ViewKey.time(start)) { key, _ in
                guard key.prefix(8).lexicographicallyPrecedes(stop) else { return false }
                if let session = try UserSessionsProjector.row(ViewKey.uuid(suffixOf: key), in: tx) {
                    body(ViewKey.timestamp(prefixOf: key), session)
                }
                return true
            }
        }
    }
}
