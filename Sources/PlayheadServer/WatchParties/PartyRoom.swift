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
/// every member the same way. What an entry is told as (display names, who is online) comes
/// from folding the party's log (``PartyRoomState``): the room starts from the log as it
/// stood when it subscribed, and folds each entry the feed brings, so that it tells each
/// entry exactly as a replay of the log does.
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
        /// The room as the log has made it, up to the last entry delivered.
        var room: PartyRoomState
    }

    private let state: Mutex<State>
    private let subscription: FeedSubscription
    private let queries: WatchPartyQueries
    private let clock: @Sendable () -> Timestamp

    /// A room following `subscription` (made first) from `initial`, the party's log folded
    /// after the subscription was made: entries the feed brings that `initial` holds already
    /// are skipped.
    init(
        partyId: UUID,
        subscription: FeedSubscription,
        initial: PartyRoomState,
        queries: WatchPartyQueries,
        clock: @escaping @Sendable () -> Timestamp
    ) {
        self.partyId = partyId
        self.subscription = subscription
        self.state = Mutex(State(room: initial))
        self.queries = queries
        self.clock = clock
    }

    /// The party's log folded from its first entry, a page at a time.
    static func fold(_ partyId: UUID, _ queries: WatchPartyQueries) throws -> PartyRoomState {
        var room = PartyRoomState()
        var cursor: PartyLogCursor?
        repeat {
            let page = try queries.log(party: partyId, filter: PartyLogFilter(), after: cursor, limit: 1_000)
            for entry in page.entries { _ = room.apply(entry) }
            cursor = page.next
        } while cursor != nil
        return room
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
        state.withLock { $0.members[member.socket.id] = member }
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

    private func deliver(_ entry: PartyLogEntry) {
        let delivery: (told: PartyRoomState.Told, listeners: [Member], own: Member?, participants: [PartyRoomState.Participant])? =
            state.withLock { state in
                // Already folded in when the room started.
                guard entry.position > state.room.position else { return nil }
                let told = state.room.apply(entry)
                var own: Member?
                // The first joining socket of this user: its own join (a user's joins are
                // appended one at a time per socket, in order).
                if entry.eventType == .join,
                    let (id, member) = state.members.first(where: { $0.value.joining && $0.value.userId == entry.userId })
                {
                    state.members[id]?.joining = false
                    own = member
                }
                // A socket still waiting for its own join hears nothing committed before it (that
                // is history, and its join may yet be refused); from its join on it hears everything.
                let listeners = state.members.values.filter { !$0.joining && !$0.leaving && $0.socket.id != own?.socket.id }
                return (told, listeners, own, state.room.participants)
            }
        guard let delivery else { return }
        if let own = delivery.own { welcome(own, joinedWith: delivery.told.entry, participants: delivery.participants) }
        for (name, payload) in PartyEvents.events(for: delivery.told) {
            for member in delivery.listeners { member.socket.emit(name, [payload]) }
        }
    }

    /// What a socket receives once its own join is in the log, before anything after it: the
    /// entries it missed since `resumeAfter` (from the log, told as they were live), the
    /// participant list, and the film's state extrapolated from the join to now.
    private func welcome(_ member: Member, joinedWith join: PartyLogEntry, participants: [PartyRoomState.Participant]) {
        if let resumeAfter = member.resumeAfter {
            for told in (try? missed(after: resumeAfter, before: join)) ?? [] {
                for (name, payload) in PartyEvents.events(for: told) { member.socket.emit(name, [payload]) }
            }
        }
        member.socket.emit("participant_list", [PartyEvents.participantList(partyId: partyId, participants)])
        let length = (try? queries.party(partyId))?.schedule.movieDurationMillis ?? .max
        member.socket.emit("sync_player", [PartyEvents.syncPlayer(state: join.playerState, partyId: partyId, at: clock(), length: length)])
    }

    /// The entries after `entryId` and before `join`, told as the room told them: the log is
    /// folded up to `entryId` for the names and the participants, then each missed entry.
    private func missed(after entryId: UUID, before join: PartyLogEntry) throws -> [PartyRoomState.Told] {
        guard let missed = try queries.entries(party: partyId, after: entryId, before: join.position), let first = missed.first else { return [] }
        var room = PartyRoomState()
        var cursor: PartyLogCursor?
        folding: repeat {
            let page = try queries.log(party: partyId, filter: PartyLogFilter(), after: cursor, limit: 1_000)
            for entry in page.entries {
                if entry.position >= first.position { break folding }
                _ = room.apply(entry)
            }
            cursor = page.next
        } while cursor != nil
        return missed.map { room.apply($0) }
    }
}
