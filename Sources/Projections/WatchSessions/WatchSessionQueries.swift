import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The queries of the watch-sessions module, answered from ``WatchSessionsProjector``'s rows.
public struct WatchSessionQueries: Sendable {
    /// The views to read.
    public let views: ViewSource
    private let name = WatchSessionsProjector().name

    /// Queries reading the last committed state of `views`.
    public init(views: InlineProjections) { self.views = .committed(views) }

    /// Queries reading `source`: a decider passes its batch's views (``ViewSource/batch(_:of:)``).
    public init(_ source: ViewSource) { self.views = source }

    /// The session's row.
    public func session(_ id: UUID) throws -> WatchSession? {
        try views.read(name) { try WatchSessionsProjector.row(id, in: $0) }
    }

    /// The session's player events in event-time order.
    public func playerEvents(of id: UUID) throws -> [PlayerEvent] {
        try views.read(name) { try WatchSessionsProjector.playerEvents(id, in: $0) }
    }

    /// The session's row and its player events, read in one snapshot.
    public func sessionWithPlayerEvents(_ id: UUID) throws -> (session: WatchSession, playerEvents: [PlayerEvent])? {
        try views.read(name) { tx in
            guard let session = try WatchSessionsProjector.row(id, in: tx) else { return nil }
            return (session, try WatchSessionsProjector.playerEvents(id, in: tx))
        }
    }

    /// Whether the session already has `event`.
    public func isRecorded(_ event: PlayerEvent, in id: UUID) throws -> Bool {
        try views.read(name) { tx in
            try tx.withValue("player_events", WatchSessionsProjector.playerEventKey(id, event)) { $0 != nil }
        }
    }

    /// `limit` sessions of `list` after skipping `offset`, with the list's total.
    public func page(of list: WatchSessionList, limit: Int, offset: Int) throws -> WatchSessionPage {
        try views.read(name) { tx in
            let total = try tx.get("counts", list.countKey).map(ViewKey.integer) ?? 0
            var sessions: [WatchSession] = []
            var skipped = 0
            guard limit > 0, offset < total else { return WatchSessionPage(total: Int(total), sessions: [], playerEvents: []) }
            try tx.forEach(list.database, prefix: list.prefix) { key, _ in
                if skipped < offset {
                    skipped += 1
                    return true
                }
                if let session = try WatchSessionsProjector.row(ViewKey.uuid(suffixOf: key), in: tx) { sessions.append(session) }
                return sessions.count < limit
            }
            let playerEvents = try sessions.map { try WatchSessionsProjector.playerEvents($0.sessionId, in: tx) }
            return WatchSessionPage(total: Int(total), sessions: sessions, playerEvents: playerEvents)
        }
    }
}
