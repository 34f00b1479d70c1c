public import Foundation
public import Projections
public import WatchDomain

/// Who may read or change what: the one place the commands, and the queries the routes
/// make, ask. A refusal is a ``CommandError`` (`forbidden` when the caller named someone
/// else's data, `notFound` when what they named is not theirs to see).
///
/// The ids it is asked about are validated values (``UserID``): the policy checks rights,
/// never the form of an id.
///
/// Ownership compares user ids byte for byte (``Caller/mayAccess(_:)``), as the read models
/// key them; administrators may read and change everyone's data.
public struct AccessPolicy: Sendable {
    /// The policy.
    public init() {}

    /// Whether `caller` may read or change what belongs to `owner`.
    public func mayAccess(_ caller: Caller, ownedBy owner: String) -> Bool { caller.mayAccess(owner) }

    /// `caller`, when an administrator.
    @discardableResult
    public func requireAdministrator(_ caller: Caller) throws(CommandError) -> Caller {
        guard caller.isAdmin else { throw CommandError(.forbidden, "this route is for administrators") }
        return caller
    }

    /// Checks that `caller` may read or write the progress of `userId`: theirs, unless they
    /// are an administrator.
    public func requireProgress(of userId: UserID, for caller: Caller) throws(CommandError) {
        try VideoProgressDecider.authorize(caller, userId: userId)
    }

    /// Checks that `caller` may read the interactions of `userId`.
    public func requireInteractions(of userId: UserID, for caller: Caller) throws(CommandError) {
        guard caller.mayAccess(userId.text) else { throw CommandError(.forbidden, "you may only read your own interactions", field: "userId") }
    }

    /// Checks that `caller` may list the watch sessions of `userId`.
    public func requireWatchSessions(of userId: UserID, for caller: Caller) throws(CommandError) {
        guard caller.mayAccess(userId.text) else { throw CommandError(.forbidden, "you may only list your own watch sessions", field: "userId") }
    }

    /// Checks that `caller` may read a party's log: its ticket holders (`holdsTicket`) and
    /// administrators.
    public func requirePartyLog(holdsTicket: Bool, for caller: Caller) throws(CommandError) {
        guard holdsTicket || caller.isAdmin else {
            throw CommandError(.forbidden, "a watch party's log is for its ticket holders and administrators")
        }
    }

    /// Which watch sessions `caller` lists when they name none: everyone's for an
    /// administrator, else their own.
    public func watchSessionList(for caller: Caller) -> WatchSessionList { caller.isAdmin ? .all : .user(caller.userId) }

    /// Checks that `caller` may see the user session `id`, whose owner is `owner` (nil when
    /// there is no such session): a session that is not theirs is not found.
    public func requireUserSession(_ id: UUID, ownedBy owner: String?, for caller: Caller) throws(CommandError) {
        guard let owner, caller.mayAccess(owner) else { throw CommandError(.notFound, "no user session \(id.uuidString.lowercased())") }
    }

    /// Checks that `caller` may see the watch session `id`, whose owner is `owner` (nil when
    /// there is no such session): a session that is not theirs is not found.
    public func requireWatchSession(_ id: UUID, ownedBy owner: String?, for caller: Caller) throws(CommandError) {
        guard let owner, caller.mayAccess(owner) else { throw CommandError(.notFound, "no watch session \(id.uuidString.lowercased())") }
    }
}
