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
    }

    private struct State {
        var members: [String: Member] = [:]
        /// Usernames by user, as their joins gave them.
        var usernames: [String: String] = [:]
    }

    private let state = Mutex(State())
    private let subscription: FeedSubscription
    private let queries: WatchPartyQueries

    init(partyId: UUID, subscription: FeedSubscription, queries: WatchPartyQueries) {
        self.partyId = partyId
        self.subscription = subscription
        self.queries = queries
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
        let (members, ownSocket, username): ([Member], String?, String?) = state.withLock { state in
            var own: String?
            if entry.eventType == .join {
                if let username = entry.username { state.usernames[entry.userId] = username }
                // The first joining socket of this user: its own join (a user's joins are
                // appended one at a time per socket, in order).
                if let (id, _) = state.members.first(where: { $0.value.joining && $0.value.userId == entry.userId }) {
                    state.members[id]?.joining = false
                    own = id
                }
            }
            // A socket still waiting for its own join hears nothing committed before it (that
            // is history, and its join may yet be refused); from its join on it hears everything.
            return (state.members.values.filter { !$0.joining }, own, state.usernames[entry.userId])
        }
        let payload = PartyGateway.body(of: entry, username: username)
        switch entry.eventType {
        case .join:
            let list = participantList()
            for member in members {
                if member.socket.id != ownSocket { member.socket.emit("user_joined", [payload]) }
                member.socket.emit("participant_list", [list])
            }
        case .leave:
            let list = participantList()
            for member in members {
                member.socket.emit("user_left", [payload])
                member.socket.emit("participant_list", [list])
            }
        case .message:
            for member in members { member.socket.emit("new_message", [payload]) }
        case .play, .pause, .seek:
            // A seek keeps the film playing or paused as it was.
            let playing =
                entry.eventType == .seek
                ? ((try? queries.party(partyId)?.playerState(at: entry.realTime).playing) ?? false) : entry.eventType == .play
            let sync = PartyGateway.syncPlayer(after: entry, playing: playing)
            for member in members { member.socket.emit("sync_player", [sync]) }
        }
    }
}
