public import EventLog
import Foundation
public import Hummingbird
import PlayheadCore
public import Projections
import WatchDomain

/// A session as the API shows it.
struct UserSessionBody: ResponseEncodable {
    var sessionId: String
    var userId: String
    var status: String
    var startedAt: String
    var lastActiveAt: String
    var contentEngaged: Bool
    var heartbeats: UInt64
    var renewedFrom: String?
    var userAgent: String?

    init(_ session: UserSession) {
        sessionId = session.sessionId.uuidString.lowercased()
        userId = session.userId
        status = "active"
        startedAt = ISO8601Micros.format(session.startedAt)
        lastActiveAt = ISO8601Micros.format(session.lastActiveAt)
        contentEngaged = session.contentEngaged
        heartbeats = session.heartbeats
        renewedFrom = session.renewedFrom?.uuidString.lowercased()
        userAgent = session.userAgent
    }
}

/// The routes of the user-sessions module (../shared/spec/user-sessions.md).
struct UserSessionRoutes {
    let commands: UserSessionCommands

    struct Started: ResponseEncodable {
        struct Login: Encodable { var sessionId: String }
        var sessionId: String
        var userId: String
        /// What the spec's login example reads (`response.data.body.sessionId`).
        var body: Login
    }

    struct Heartbeat: ResponseEncodable {
        var status: String
        var needsNewSession: Bool
        var sessionId: String?
    }

    struct Ended: ResponseEncodable {
        var status: String
        var message: String
        var sessionId: String
    }

    struct Engagement: Decodable { var engaged: Bool }

    struct EngagementUpdated: ResponseEncodable {
        var status: String
        var message: String
        var sessionId: String
        var contentEngaged: Bool
    }

    struct Sessions: ResponseEncodable { var data: [UserSessionBody] }

    /// `{"needsNewSession":false,"status":"active"}`, as the response encoder writes it.
    static let activeBody = ByteBuffer(string: #"{"needsNewSession":false,"status":"active"}"#)

    func add(to router: Router<PlayheadRequestContext>) {
        let group = router.group("user-sessions")
        group.post { request, context in
            let caller = try context.requireCaller()
            let started = try await commands.start(caller: caller, userAgent: request.headers[.userAgent], correlation: context.correlationID)
            let text = started.sessionId.uuidString.lowercased()
            return EditedResponse(status: .created, response: Started(sessionId: text, userId: started.userId, body: .init(sessionId: text)))
        }
        group.get { _, context in
            let caller = try context.requireCaller()
            return Sessions(data: try commands.activeSessions(of: caller).map(UserSessionBody.init))
        }
        group.post("heartbeat/:sessionId") { request, context -> Response in
            let caller = try context.requireCaller()
            let sessionId = try context.uuidParameter("sessionId")
            switch try await commands.heartbeat(sessionId, caller: caller, correlation: context.correlationID) {
            case .active:
                // The answer to nearly every heartbeat, encoded once.
                return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: Self.activeBody))
            case .renewed(let newSessionId):
                return try Heartbeat(status: "renewed", needsNewSession: false, sessionId: newSessionId.uuidString.lowercased())
                    .response(from: request, context: context)
            case .expired:
                return try Heartbeat(status: "expired", needsNewSession: true).response(from: request, context: context)
            }
        }
        group.post("end/:sessionId") { _, context in
            let caller = try context.requireCaller()
            let sessionId = try context.uuidParameter("sessionId")
            let text = sessionId.uuidString.lowercased()
            switch try await commands.end(sessionId, caller: caller, correlation: context.correlationID) {
            case .ended: return Ended(status: "success", message: "Session ended", sessionId: text)
            case .alreadyClosed(.expired): return Ended(status: "success", message: "Session had already expired", sessionId: text)
            case .alreadyClosed: return Ended(status: "success", message: "Session had already ended", sessionId: text)
            }
        }
        group.patch(":sessionId/content-engaged") { request, context in
            let caller = try context.requireCaller()
            let sessionId = try context.uuidParameter("sessionId")
            let engaged = try await request.decodeJSON(Engagement.self).engaged
            try await commands.setEngaged(engaged, sessionId, caller: caller, correlation: context.correlationID)
            return EngagementUpdated(
                status: "success",
                message: "Content engaged status updated to \(engaged)",
                sessionId: sessionId.uuidString.lowercased(),
                contentEngaged: engaged
            )
        }
    }
}

/// `GET /metrics/sessions` and `GET /metrics/sessions/daily`, for administrators.
struct SessionMetricsRoutes {
    let queries: UserSessionQueries
    /// The longest range a query may span.
    static let maxDays: Int64 = 3_660

    func add(to router: Router<PlayheadRequestContext>) {
        let group = router.group("metrics/sessions")
        group.get { request, context in
            _ = try context.requireAdmin()
            let range = try DateRange(query: request, maxDays: Self.maxDays)
            return SessionMetricsBody.Summary(try queries.metrics(from: range.start, to: range.end), from: range.start, to: range.end)
        }
        group.get("daily") { request, context in
            _ = try context.requireAdmin()
            let range = try DateRange(query: request, maxDays: Self.maxDays)
            return SessionMetricsBody.Daily(try queries.dailyMetrics(from: range.start, to: range.end))
        }
    }
}

/// The bodies of `GET /metrics/sessions` and `GET /metrics/sessions/daily` (and of `playhead
/// query sessions` and `sessions-daily`).
public enum SessionMetricsBody {
    /// `{"data": {"startDate", "endDate", figures…}}`: the range's times and its ``SessionMetrics``.
    public struct Summary: ResponseEncodable, Sendable {
        struct Figures: Encodable {
            var startDate: String
            var endDate: String
            var metrics: SessionMetrics

            private enum CodingKeys: String, CodingKey { case startDate, endDate }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(startDate, forKey: .startDate)
                try container.encode(endDate, forKey: .endDate)
                try metrics.encode(to: encoder)
            }
        }

        /// The figures shown.
        public let metrics: SessionMetrics
        let data: Figures

        private enum CodingKeys: String, CodingKey { case data }

        /// The body of `metrics` over `start` to `end` (exclusive).
        public init(_ metrics: SessionMetrics, from start: Timestamp, to end: Timestamp) {
            self.metrics = metrics
            data = Figures(startDate: ISO8601Micros.format(start), endDate: ISO8601Micros.format(end), metrics: metrics)
        }
    }

    /// `{"data": [{"date", figures…}]}`: one entry per UTC day with sessions.
    public struct Daily: ResponseEncodable, Sendable {
        struct Day: Encodable {
            var day: DailySessionMetrics

            private enum CodingKeys: String, CodingKey { case date }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(day.date, forKey: .date)
                try day.metrics.encode(to: encoder)
            }
        }

        /// The days shown.
        public let days: [DailySessionMetrics]
        let data: [Day]

        private enum CodingKeys: String, CodingKey { case data }

        /// The body of `days`.
        public init(_ days: [DailySessionMetrics]) {
            self.days = days
            data = days.map(Day.init)
        }
    }
}
