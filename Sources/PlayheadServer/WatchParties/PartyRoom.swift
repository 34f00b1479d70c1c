import EventLog
import Foundation
import Metrics
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
        /// The id its join is appended with: the feed's copy of that entry is its own.
        var joinEntryId: UUID
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
        /// Where the last entry delivered is in the party log: a recovery reads on from there.
        var cursor: PartyLogCursor?
        /// The feed subscription followed now.
        var subscription: FeedSubscription
        var closed = false
    }

    /// The room as a fold of its log, and where that fold stopped.
    struct Start: Sendable {
        var room = PartyRoomState()
        var cursor: PartyLogCursor?
    }

    private let state: Mutex<State>
    private let queries: WatchPartyQueries
    private let clock: @Sendable () -> Timestamp
    private let subscribe: @Sendable () async -> FeedSubscription

    /// A room following `subscription` (made first) from `start`, the party's log folded
    /// after the subscription was made: entries the feed brings that `start` holds already
    /// are skipped. `subscribe` makes a new subscription when the feed drops the room.
    init(
        partyId: UUID,
        subscription: FeedSubscription,
        start: Start,
        queries: WatchPartyQueries,
        clock: @escaping @Sendable () -> Timestamp,
        subscribe: @escaping @Sendable () async -> FeedSubscription
    ) {
        self.partyId = partyId
        self.state = Mutex(State(room: start.room, cursor: start.cursor, subscription: subscription))
        self.queries = queries
        self.clock = clock
        self.subscribe = subscribe
    }

    /// Calls `body` with each entry of the party's log after `cursor` (from the first when
    /// nil), in log order, reading a page of 1,000 at a time, until `body` returns false.
    static func forEachEntry(
        _ partyId: UUID,
        _ queries: WatchPartyQueries,
        after cursor: PartyLogCursor? = nil,
        _ body: (PartyLogEntry) throws -> Bool
    ) throws {
        var cursor = cursor
        repeat {
            let page = try queries.log(party: partyId, filter: PartyLogFilter(), after: cursor, limit: 1_000)
            for entry in page.entries where try !body(entry) { return }
            cursor = page.next
        } while cursor != nil
    }

    /// The party's log folded from its first entry.
    static func fold(_ partyId: UUID, _ queries: WatchPartyQueries) throws -> Start {
        var start = Start()
        try forEachEntry(partyId, queries) { entry in
            _ = start.room.apply(entry)
            start.cursor = PartyLogCursor(eventTimeMillis: entry.eventTimeMillis, position: entry.position)
            return true
        }
        return start
    }

    /// Delivers the feed's entries to the members until the room closes or the feed stops.
    ///
    /// When the feed drops the room (it fell behind a burst, or failed to read), the room
    /// subscribes again and reads what it missed from the party log before going on, so
    /// that members notice nothing but a delay. Three recoveries in a row that bring no new
    /// entry end the room: its members are told to join again.
    func run() async {
        var subscription = state.withLock { $0.subscription }
        var stalls = 0
        while true {
            var progressed = false
            var end: FeedEnd?
            for await message in subscription {
                switch message {
                case .partyEntry(let entry): progressed = deliver(entry) || progressed
                case .ended(let reason): end = reason
                default: break
                }
            }
            guard let end, end.reason != .stopped, !state.withLock({ $0.closed }) else { break }
            // Subscribed before reading the log: nothing committed in between is missed, and
            // what both bring is delivered once (by position).
            PlayheadMetrics.partyRoomRecoveries.increment()
            subscription = await subscribe()
            let current = subscription
            guard
                state.withLock({ state in
                    state.subscription = current
                    return !state.closed
                })
            else {
                current.finish()
                return
            }
            do {
                progressed = try catchUp() || progressed
            } catch {
                break
            }
            stalls = progressed ? 0 : stalls + 1
            guard stalls < 3 else { break }
        }
        if !state.withLock({ $0.closed }) {
            for member in members() { member.socket.emit("error", [.object([("error", .string("the room's feed ended; join again"))])]) }
        }
    }

    /// Delivers the log's entries after the last one delivered; returns whether there were any.
    private func catchUp() throws -> Bool {
        var delivered = false
        try Self.forEachEntry(partyId, queries, after: state.withLock { $0.cursor }) { entry in
            delivered = deliver(entry) || delivered
            return true
        }
        return delivered
    }

    /// Stops following the feed.
    func close() {
        let subscription = state.withLock { state in
            state.closed = true
            return state.subscription
        }
        subscription.finish()
    }

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

    /// Tells the members of `entry`; returns false when it was delivered already.
    @discardableResult
    private func deliver(_ entry: PartyLogEntry) -> Bool {
        let delivery: (told: PartyRoomState.Told, listeners: [Member], own: Member?)? =
            state.withLock { state in
                // Already folded in when the room started.
                guard entry.position > state.room.position else { return nil }
                let told = state.room.apply(entry)
                state.cursor = PartyLogCursor(eventTimeMillis: entry.eventTimeMillis, position: entry.position)
                var own: Member?
                // The socket whose join this is, if it is here.
                if entry.eventType == .join, let (id, member) = state.members.first(where: { $0.value.joinEntryId == entry.entryId }) {
                    state.members[id]?.joining = false
                    own = member
                }
                // A socket still waiting for its own join hears nothing committed before it (that
                // is history, and its join may yet be refused); from its join on it hears everything.
                let listeners = state.members.values.filter { !$0.joining && !$0.leaving && $0.socket.id != own?.socket.id }
                return (told, listeners, own)
            }
        guard let delivery else { return false }
        if let own = delivery.own { welcome(own, joinedWith: delivery.told) }
        for (name, payload) in PartyEvents.events(for: delivery.told) {
            let event = SocketIOEncodedEvent(name, [payload], namespace: PartyGateway.namespace)
            for member in delivery.listeners { member.socket.emit(event) }
        }
        return true
    }

    /// What a socket receives once its own join is in the log, before anything after it: the
    /// entries it missed since `resumeAfter` (from the log, told as they were live), the
    /// participant list, and the film's state extrapolated from the join to now.
    private func welcome(_ member: Member, joinedWith told: PartyRoomState.Told) {
        let join = told.entry
        if let resumeAfter = member.resumeAfter {
            for told in (try? missed(after: resumeAfter, before: join)) ?? [] {
                for (name, payload) in PartyEvents.events(for: told) { member.socket.emit(name, [payload]) }
            }
        }
        // Who is online after the join (a join is always told with its list).
        member.socket.emit("participant_list", [PartyEvents.participantList(partyId: partyId, told.participants ?? [])])
        let length = (try? queries.party(partyId))?.schedule.movieDurationMillis ?? .max
        member.socket.emit("sync_player", [PartyEvents.syncPlayer(state: join.playerState, partyId: partyId, at: clock(), length: length)])
    }

    /// The entries after `entryId` and before `join`, told as the room told them: one pass
    /// over the log from its start, folding every entry (for the names and the participants)
    /// and keeping those after `entryId`.
    private func missed(after entryId: UUID, before join: PartyLogEntry) throws -> [PartyRoomState.Told] {
        var room = PartyRoomState()
        var missed: [PartyRoomState.Told] = []
        var seen = false
        try Self.forEachEntry(partyId, queries) { entry in
            guard entry.position < join.position else { return false }
            let told = room.apply(entry)
            if seen { missed.append(told) }
            seen = seen || entry.entryId == entryId
            return true
        }
        return missed
    }
}
