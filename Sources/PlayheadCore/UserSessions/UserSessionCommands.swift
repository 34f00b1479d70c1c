public import EventLog
public import Foundation
import Projections
import Views
public import WatchDomain

/// The user-session commands: each reads the session's row as its batch left it, decides
/// with ``UserSessionDecider`` and appends; the caller is answered after the durable commit.
public struct UserSessionCommands: Sendable {
    /// Runs the commands through the log's writer.
    public let runner: CommandRunner
    /// The clock that decides expiry.
    public let clock: @Sendable () -> Timestamp
    /// How long a session may go without activity before it expires.
    public let timeout: Duration

    /// Commands through `runner`, with `clock` and the session `timeout`.
    public init(runner: CommandRunner, clock: @escaping @Sendable () -> Timestamp, timeout: Duration) {
        self.runner = runner
        self.clock = clock
        self.timeout = timeout
    }

    /// A session that started: its id, and whose it is.
    public struct Started: Sendable, Hashable {
        /// The new session's id.
        public var sessionId: UUID
        /// Its user.
        public var userId: String
    }

    /// Starts a session for `caller` (with the client's `userAgent`, if known).
    public func start(caller: Caller, userAgent: String?, correlation: UUID) async throws -> Started {
        let sessionId = UUID()
        return try await runner.run(caller: caller, correlation: correlation) { _ in
            let event = UserSessionDecider.start(sessionId: sessionId, userId: caller.userId, userAgent: userAgent)
            return ([event], Started(sessionId: event.sessionId, userId: caller.userId))
        }
    }

    /// A heartbeat on session `sessionId`: active, renewed as another session, or expired.
    public func heartbeat(_ sessionId: UUID, caller: Caller, correlation: UUID) async throws -> UserSessionDecider.HeartbeatOutcome {
        try await runner.run(caller: caller, correlation: correlation) { [clock, timeout] views in
            try UserSessionDecider.heartbeat(
                try UserSessionQueries(views).session(sessionId),
                sessionId: sessionId,
                caller: caller,
                now: clock(),
                timeout: timeout,
                newSessionId: { UUID() }
            )
        }
    }

    /// Ends session `sessionId` (ending a closed session changes nothing).
    public func end(_ sessionId: UUID, caller: Caller, correlation: UUID) async throws -> UserSessionDecider.EndOutcome {
        try await runner.run(caller: caller, correlation: correlation) { views in
            try UserSessionDecider.end(try UserSessionQueries(views).session(sessionId), sessionId: sessionId, caller: caller)
        }
    }

    /// Sets whether the user engaged with content during the active session `sessionId`.
    public func setEngaged(_ engaged: Bool, _ sessionId: UUID, caller: Caller, correlation: UUID) async throws {
        try await runner.run(caller: caller, correlation: correlation) { [clock, timeout] views in
            let events = try UserSessionDecider.setEngaged(
                engaged,
                try UserSessionQueries(views).session(sessionId),
                sessionId: sessionId,
                caller: caller,
                now: clock(),
                timeout: timeout
            )
            return (events, ())
        }
    }

    /// The caller's sessions that are active now, oldest first (a committed read).
    public func activeSessions(of caller: Caller) throws -> [UserSession] {
        try UserSessionQueries(.committed(runner.views)).activeSessions(of: caller.userId, at: clock(), timeout: timeout)
    }
}
