import EventLog
import Foundation
import PlayheadCore
import Projections
import SocketIO
import Synchronization
import WatchDomain

/// One party's room on this server: the sockets in it, and the live-feed subscription that
/// brings them the room's events, in log order, once each entry is durable.
///
/// Every event a member receives comes from the feed, not from the handler that appended
/// it: a join, a message or a player action appended by any socket (or any node) reaches
/// every member the same way.
final class PartyRoom: Sendable {
    let partyId: UUID

    /// A socket in the room.
    struct Member: Sendable {
        var socket: SocketIOSocket
        var userId: String
        var username: String
        /// Added before its join was appended (so that it misses nothing committed after
        /// it), and waiting for that join: nothing before it reaches the socket, and the
        /// feed's copy of it is not echoed to it as `user_joined`.
        var joining = true
        /// The last entry the socket saw before it reconnected: when its join arrives, it
        /// first receives the entries after that one and before its join, from the log.
        var resumeAfter: UUID?
        /// Its leave is being appended: it hears nothing more, its own leave included.
        var leaving = false
    }

    private struct State {
        var members: [String: Member] = [:]
        /// Usernames by user, as their joins gave them.
        var usernames: [String: String] = [:]
    }

    private let state = Mutex(State())
    private let subscription: FeedSubscription
    private let queries: WatchPartyQueries
    private let clock: @Sendable () -> Timestamp

    init(partyId: UUID, subscription: FeedSubscription, queries: WatchPartyQueries, clock: @escaping @Sendable () -> Timestamp) {
        self.partyId = partyId
        self.subscription = subscription
        self.queries = queries
        self.clock = clock
    }

    /// Delivers the feed's entries to the members until the subscription ends.
    func run() async {
        for await message in subscription {
            switch message {
            case .partyEntry(let entry): deliver(entry)
            case .ended:
                // The feed dropped the room (it fell behind, or the server stops): its members
                // are told, and join again.
                for member in members() { member.socket.emit("error", [.object([("error", .string("the room's feed ended; join again"))])]) }
                return
            default: break
            }
        }
    }

    /// Stops following the feed.
    func close() { subscription.finish() }

    /// Adds a socket whose join is about to be appended.
    func add(_ member: Member) {
        state.withLock { state in
            state.members[member.socket.id] = member
            state.usernames[member.userId] = member.username
        }
    }

    /// Marks a socket whose leave is about to be appended: it is going, logged or not.
    func markLeaving(_ socket: SocketIOSocket) {
        state.withLock { $0.members[socket.id]?.leaving = true }
    }

    /// Removes a socket; returns whether the room is empty now.
    func remove(_ socket: SocketIOSocket) -> Bool {
        state.withLock { state in
            state.members.removeValue(forKey: socket.id)
            return state.members.isEmpty
        }
    }

    func member(_ socket: SocketIOSocket) -> Member? { state.withLock { $0.members[socket.id] } }

    func members() -> [Member] { state.withLock { Array($0.members.values) } }

    /// The users online in the party (from its read model), with their usernames.
    func participantList() -> JSONValue {
        let online = (try? queries.online(party: partyId)) ?? []
        let names = state.withLock { $0.usernames }
        return .array(online.sorted().map { user in .object([("userId", .string(user)), ("username", .string(names[user] ?? user))]) })
    }

    private func deliver(_ entry: PartyLogEntry) {
        let (members, own, username): ([Member], Member?, String?) = state.withLock { state in
            var own: Member?
            if entry.eventType == .join {
                if let username = entry.username { state.usernames[entry.userId] = username }
                // The first joining socket of this user: its own join (a user's joins are
                // appended one at a time per socket, in order).
                if let (id, member) = state.members.first(where: { $0.value.joining && $0.value.userId == entry.userId }) {
                    state.members[id]?.joining = false
                    own = member
                }
            }
            // A socket still waiting for its own join hears nothing committed before it (that
            // is history, and its join may yet be refused); from its join on it hears everything.
            let listeners = state.members.values.filter { !$0.joining && !$0.leaving && $0.socket.id != own?.socket.id }
            return (listeners, own, state.usernames[entry.userId])
        }
        if let own { welcome(own, joinedWith: entry) }
        let (event, payload) = Self.event(for: entry, username: username)
        for member in members { member.socket.emit(event, [payload]) }
        if entry.eventType == .join || entry.eventType == .leave {
            let list = participantList()
            for member in members { member.socket.emit("participant_list", [list]) }
        }
    }

    /// What a socket receives once its own join is in the log, before anything after it: the
    /// entries it missed since `resumeAfter` (from the log, as they were sent live), the
    /// participant list, and the film's state extrapolated from the join to now.
    private func welcome(_ member: Member, joinedWith join: PartyLogEntry) {
        if let resumeAfter = member.resumeAfter {
            let missed = (try? queries.entries(party: partyId, after: resumeAfter, before: join.position)) ?? []
            let names = state.withLock { $0.usernames }
            for entry in missed {
                let (event, payload) = Self.event(for: entry, username: entry.username ?? names[entry.userId])
                member.socket.emit(event, [payload])
            }
        }
        member.socket.emit("participant_list", [participantList()])
        let length = (try? queries.party(partyId))?.schedule.movieDurationMillis ?? .max
        member.socket.emit("sync_player", [PartyGateway.syncPlayer(state: join.playerState, partyId: partyId, at: clock(), length: length)])
    }

    /// The server event an entry is to the members, and its payload.
    static func event(for entry: PartyLogEntry, username: String?) -> (String, JSONValue) {
        switch entry.eventType {
        case .join: ("user_joined", PartyGateway.body(of: entry, username: username))
        case .leave: ("user_left", PartyGateway.body(of: entry, username: username))
        case .message: ("new_message", PartyGateway.body(of: entry, username: username))
        case .play, .pause, .seek: ("sync_player", PartyGateway.syncPlayer(after: entry))
        }
    }
}
