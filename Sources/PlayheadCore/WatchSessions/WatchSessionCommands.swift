public import Foundation
public import Projections
import Views
public import WatchDomain

/// The watch-session commands, and the reads of watch sessions that need the caller's rights.
public struct WatchSessionCommands: Sendable {
    /// Runs the commands through the log's writer.
    public let runner: CommandRunner
    /// Who may read what.
    public let access: AccessPolicy

    /// Commands through `runner`, reading with `access`.
    public init(runner: CommandRunner, access: AccessPolicy = AccessPolicy()) {
        self.runner = runner
        self.access = access
    }

    private var queries: WatchSessionQueries { WatchSessionQueries(.committed(runner.views)) }

    /// Records a new watch session for `caller` and returns its id. The draft's user session
    /// and the video's registered length are read in the batch.
    public func create(_ draft: WatchSessionDraft, caller: Caller, correlation: UUID) async throws -> UUID {
        let id = UUID()
        try await runner.run(caller: caller, correlation: correlation) { views in
            let userSession = try draft.userSessionId.flatMap { try UserSessionQueries(views).session($0) }
            let length = try VideoProgressQueries(views).video(draft.videoId.text)?.durationMillis
            let events = try WatchSessionDecider.create(
                draft,
                sessionId: id,
                caller: caller,
                userSession: userSession,
                videoDurationMillis: length
            )
            return (events, ())
        }
        return id
    }

    /// Applies `changes` to watch session `id`.
    public func update(_ changes: WatchSessionChanges, of id: UUID, caller: Caller, correlation: UUID) async throws {
        try await runner.run(caller: caller, correlation: correlation) { views in
            let queries = WatchSessionQueries(views)
            let session = try queries.session(id)
            let length = try session.flatMap { try VideoProgressQueries(views).video($0.videoId)?.durationMillis }
            let events = try WatchSessionDecider.update(
                changes,
                session: session,
                sessionId: id,
                caller: caller,
                videoDurationMillis: length,
                isRecorded: { try queries.isRecorded($0, in: id) }
            )
            return (events, ())
        }
    }

    /// Deletes watch session `id`.
    public func delete(_ id: UUID, caller: Caller, correlation: UUID) async throws {
        try await runner.run(caller: caller, correlation: correlation) { views in
            (try WatchSessionDecider.delete(try WatchSessionQueries(views).session(id), sessionId: id, caller: caller), ())
        }
    }

    // MARK: Reads

    /// The stored session `id` with its player events, when `caller` may see it (not found otherwise).
    public func session(_ id: UUID, caller: Caller) throws -> (session: WatchSession, playerEvents: [PlayerEvent]) {
        let found = try queries.sessionWithPlayerEvents(id)
        try access.requireWatchSession(id, ownedBy: found?.session.userId, for: caller)
        guard let found else { throw CommandError(.notFound, "no watch session \(id.uuidString.lowercased())") }
        return found
    }

    /// A page of the sessions `caller` lists when naming none (everyone's for an administrator).
    public func page(for caller: Caller, limit: Int, offset: Int) throws -> WatchSessionPage {
        try queries.page(of: access.watchSessionList(for: caller), limit: limit, offset: offset)
    }

    /// A page of the sessions watched in user session `id`, when `caller` may see it.
    public func page(ofUserSession id: UUID, caller: Caller, limit: Int, offset: Int) throws -> WatchSessionPage {
        let owner = try UserSessionQueries(.committed(runner.views)).session(id)?.userId
        try access.requireUserSession(id, ownedBy: owner, for: caller)
        return try queries.page(of: .userSession(id), limit: limit, offset: offset)
    }

    /// A page of `userId`'s sessions, when `caller` may list them.
    public func page(ofUser userId: UserID, caller: Caller, limit: Int, offset: Int) throws -> WatchSessionPage {
        try access.requireWatchSessions(of: userId, for: caller)
        return try queries.page(of: .user(userId.text), limit: limit, offset: offset)
    }
}
