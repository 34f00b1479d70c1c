import EventLog
import Foundation
import Hummingbird
import Logging
import PlayheadCore
import Projections
import SocketIO
import Synchronization
import Views
import WatchDomain

/// The `/watch-party` namespace of the Socket.IO gateway (../shared/spec/watch-party.md,
/// "WebSocket Events"): who may connect, and the party rooms.
///
/// Every connection authenticates with the REST API's bearer tokens: the CONNECT packet's
/// auth payload `{"token": "…"}` (what `io(url, {auth: {token}})` sends), or else the
/// handshake's `Authorization: Bearer …` header. No token, a bad one or an expired one is a
/// CONNECT_ERROR whose message says which.
///
/// The client events (`join_party`, `leave_party`, `send_message`, `player_action`) are
/// commands: each appends a party-log entry (``WatchPartyCommands/log(_:in:caller:correlation:)``)
/// and is acknowledged only after it is durable, with the stored entry or the error. What
/// members receive (`user_joined`, `user_left`, `participant_list`, `new_message`,
/// `sync_player`) comes from the live feed (``PartyRoom``), in log order.
final class PartyGateway: SocketIONamespace {
    /// The namespace's name.
    static let namespace = "/watch-party"
    /// The most chat messages a user may send in ``rateWindow``.
    static let messagesPerWindow = 5
    /// The most player actions a user may make in ``rateWindow``.
    static let playerActionsPerWindow = 10
    /// The most entries a rejoining member is sent from the log (`lastEntryId`).
    static let maxCatchUp = 1_000
    /// The window of the rate limits.
    static let rateWindow: Duration = .seconds(2)

    let authority: TokenAuthority
    let commands: WatchPartyCommands
    let feed: LiveFeed
    let logger: Logger
    /// The caller of each connected socket, by socket id.
    private let callers = Mutex<[String: Caller]>([:])
    /// The rooms with members on this server, by party: a socket is in the parties whose
    /// room holds it.
    private let rooms = Mutex<[UUID: PartyRoom]>([:])
    /// The replay each socket is watching, if any (one at a time).
    private let replays = Mutex<[String: (replayer: PartyReplayer, task: Task<Void, Never>)]>([:])
    /// Each user's recent messages and player actions (keyed by kind and user), for the rate
    /// limits.
    private let recent = Mutex<[UTF8Key: [ContinuousClock.Instant]]>([:])

    /// How many entries a room may have unread before the feed drops it.
    let feedCapacity: Int

    init(authority: TokenAuthority, commands: WatchPartyCommands, feed: LiveFeed, feedCapacity: Int = TopicHub.defaultCapacity, logger: Logger) {
        self.feedCapacity = feedCapacity
        self.authority = authority
        self.commands = commands
        self.feed = feed
        self.logger = logger
    }

    func connect(_ socket: SocketIOSocket, auth: JSONValue?) async throws {
        let token: String
        if let auth, let member = auth["token"] {
            guard let text = member.stringValue, !text.isEmpty else {
                throw SocketIOConnectRefusal("auth.token must be a bearer token (a string)")
            }
            token = text
        } else if let header = socket.handshake.headers[.authorization] {
            guard let bearer = BearerAuthMiddleware.bearerToken(header) else {
                throw SocketIOConnectRefusal("the Authorization header must be 'Bearer <token>'")
            }
            token = bearer
        } else {
            throw SocketIOConnectRefusal("a bearer token is required: connect with auth {\"token\": \"<token>\"} or an Authorization header")
        }
        do {
            let caller = try await authority.caller(fromToken: token)
            callers.withLock { $0[socket.id] = caller }
        } catch let problem as Problem {
            throw SocketIOConnectRefusal(problem.detail)
        }
    }

    func receive(_ event: SocketIOEvent, from socket: SocketIOSocket) async {
        guard let caller = callers.withLock({ $0[socket.id] }) else { return }
        let argument = event.arguments.first ?? .null
        do {
            let answer: JSONValue
            // Starts a replay once its acknowledgement is out, so that the ack comes first.
            var then: (@Sendable () -> Void)?
            switch event.name {
            case "join_party": answer = try await join(argument, socket: socket, caller: caller)
            case "leave_party": answer = try await leave(argument, socket: socket, caller: caller)
            case "send_message": answer = try await message(argument, socket: socket, caller: caller)
            case "player_action": answer = try await playerAction(argument, socket: socket, caller: caller)
            case "player_status": answer = try playerStatus(argument, socket: socket)
            case "time_sync": answer = PartyEvents.timeSync(argument, now: commands.clock())
            case "replay_party": (answer, then) = try replayParty(argument, socket: socket, caller: caller)
            case "replay_control": answer = try replayControl(argument, socket: socket)
            default: throw CommandError(.invalid, "unknown event \(event.name)", field: "event")
            }
            if event.ackId != nil { socket.acknowledge(event, [answer]) }
            then?()
        } catch {
            let refusal = Self.refusal(error, event: event.name)
            if event.ackId != nil {
                socket.acknowledge(event, [refusal])
            } else {
                socket.emit("error", [refusal])
            }
            if !(error is CommandError || error is Problem) {
                logger.error("a watch-party event failed", metadata: ["event": "\(event.name)", "error": "\(error)"])
            }
        }
    }

    func disconnected(_ socket: SocketIOSocket, reason: String) async {
        replays.withLock { $0.removeValue(forKey: socket.id) }?.task.cancel()
        let caller = callers.withLock { $0.removeValue(forKey: socket.id) }
        guard let caller else { return }
        let parties = rooms.withLock { rooms in rooms.values.filter { $0.member(socket).map { !$0.leaving } ?? false }.map(\.partyId) }
        for party in parties { await leaveRoom(party, socket: socket, caller: caller) }
    }

    // MARK: Events

    private func join(_ argument: JSONValue, socket: SocketIOSocket, caller: Caller) async throws -> JSONValue {
        let partyId = try Self.partyId(argument)
        let userId = try UserID(try Self.optionalString(argument["userId"], field: "userId") ?? caller.userId)
        let username = try Self.optionalString(argument["username"], field: "username") ?? userId.text
        var resumeAfter: UUID?
        if let value = argument["lastEntryId"], value != .null {
            guard let text = value.stringValue, let id = UUID(hexadecimal: text) else {
                throw CommandError(.invalid, "lastEntryId must be the id of a party-log entry (a UUID)", field: "lastEntryId")
            }
            let queries = WatchPartyQueries(.committed(commands.runner.views))
            guard let missed = try queries.entries(party: partyId, after: id, before: .max, limit: Self.maxCatchUp + 1) else {
                throw CommandError(.notFound, "lastEntryId is no entry of this watch party's log", field: "lastEntryId")
            }
            guard missed.count <= Self.maxCatchUp else {
                throw CommandError(
                    .conflict,
                    "more than \(Self.maxCatchUp) entries came after lastEntryId: read them with GET /watch-parties/{id}/logs, then join without it",
                    field: "lastEntryId"
                )
            }
            resumeAfter = id
        }
        guard rooms.withLock({ $0[partyId] })?.member(socket) == nil else {
            throw CommandError(.conflict, "this connection is in the watch party already")
        }
        // The room follows the feed, and the joiner is in it, before the join is appended:
        // nothing committed after the join is missed. The room sends the joiner what it
        // missed, the participant list and the film's state when the join comes through
        // the feed, before anything after it.
        let room = try await room(for: partyId)
        let joinEntryId = UUID()
        room.add(PartyRoom.Member(socket: socket, userId: userId.text, username: username, joinEntryId: joinEntryId, resumeAfter: resumeAfter))
        do {
            let entry = try await commands.log(
                .init(userId: userId, eventType: .join, username: username),
                in: partyId,
                caller: caller,
                correlation: UUID(),
                entryId: joinEntryId
            )
            return .object([("ok", .bool(true)), ("entry", PartyEvents.body(of: entry, username: username))])
        } catch {
            if room.remove(socket) { releaseIfEmpty(room) }
            throw error
        }
    }

    private func leave(_ argument: JSONValue, socket: SocketIOSocket, caller: Caller) async throws -> JSONValue {
        let partyId = try Self.partyId(argument)
        guard let member = rooms.withLock({ $0[partyId] })?.member(socket), !member.leaving else {
            throw CommandError(.conflict, "this connection is not in the watch party")
        }
        await leaveRoom(partyId, socket: socket, caller: caller)
        return .object([("ok", .bool(true))])
    }

    private func message(_ argument: JSONValue, socket: SocketIOSocket, caller: Caller) async throws -> JSONValue {
        let (partyId, member) = try memberOf(argument, socket: socket)
        guard let text = argument["message"]?.stringValue else { throw CommandError(.invalid, "message must be a string", field: "message") }
        let rate = RateKey(kind: "message", userId: member.userId, limit: Self.messagesPerWindow, noun: "messages", field: "message")
        try checkRate(rate)
        let entry = try await commands.log(
            .init(userId: try UserID(member.userId), eventType: .message, message: text),
            in: partyId,
            caller: caller,
            correlation: UUID()
        )
        // Only what was logged counts against the rate: a refused message costs nothing.
        countRate(rate)
        return .object([("ok", .bool(true)), ("message", PartyEvents.body(of: entry, username: member.username))])
    }

    private func playerAction(_ argument: JSONValue, socket: SocketIOSocket, caller: Caller) async throws -> JSONValue {
        let (partyId, member) = try memberOf(argument, socket: socket)
        let action: PartyLogEventType
        switch argument["action"]?.stringValue {
        case "play": action = .play
        case "pause": action = .pause
        case "seek": action = .seek
        default: throw CommandError(.invalid, "action must be play, pause or seek", field: "action")
        }
        var videoTime: UInt64?
        if let value = argument["videoTime"], value != .null {
            guard let seconds = value.doubleValue, seconds.isFinite, seconds >= 0, seconds <= 36_000_000 else {
                throw CommandError(.invalid, "videoTime must be a number of seconds from 0", field: "videoTime")
            }
            videoTime = UInt64((seconds * 1_000).rounded())
        }
        let rate = RateKey(kind: "player", userId: member.userId, limit: Self.playerActionsPerWindow, noun: "player actions", field: "action")
        try checkRate(rate)
        let entry = try await commands.log(
            .init(userId: try UserID(member.userId), eventType: action, videoTimeMillis: videoTime),
            in: partyId,
            caller: caller,
            correlation: UUID()
        )
        countRate(rate)
        return .object([("ok", .bool(true)), ("sync", PartyEvents.syncPlayer(after: entry))])
    }

    /// `player_status {partyId, videoTime, buffering}`: where the member's player is; answered
    /// with `sync_hint` (``SyncHint``) to that socket alone, and in the ack. Nothing is logged.
    private func playerStatus(_ argument: JSONValue, socket: SocketIOSocket) throws -> JSONValue {
        let (partyId, _) = try memberOf(argument, socket: socket)
        guard let seconds = argument["videoTime"]?.doubleValue, seconds.isFinite, seconds >= 0, seconds <= 36_000_000 else {
            throw CommandError(.invalid, "videoTime must be a number of seconds from 0", field: "videoTime")
        }
        var buffering = false
        if let value = argument["buffering"], value != .null {
            guard case .bool(let flag) = value else { throw CommandError(.invalid, "buffering must be true or false", field: "buffering") }
            buffering = flag
        }
        let party = try commands.party(partyId)
        let now = commands.clock()
        let hint = SyncHint(
            reportedMillis: UInt64((seconds * 1_000).rounded()),
            buffering: buffering,
            state: party.playerState(at: now),
            at: now,
            length: party.schedule.movieDurationMillis
        )
        let payload = PartyEvents.syncHint(hint, partyId: partyId, at: now)
        socket.emit("sync_hint", [payload])
        return payload
    }

    // MARK: Replay

    /// `replay_party {partyId, speed, from}`: checks the caller may replay the party (its
    /// ticket holders once it finished, administrators any time), then re-emits its events to
    /// this socket alone (``PartyReplayer``); a replay already running on the socket stops.
    private func replayParty(_ argument: JSONValue, socket: SocketIOSocket, caller: Caller) throws -> (JSONValue, @Sendable () -> Void) {
        let partyId = try Self.partyId(argument)
        var speed = 1.0
        if let value = argument["speed"], value != .null {
            guard let number = value.doubleValue, PartyReplayer.speeds.contains(number) else {
                throw CommandError(
                    .invalid,
                    "speed must be a number from \(PartyReplayer.speeds.lowerBound) to \(Int(PartyReplayer.speeds.upperBound))",
                    field: "speed"
                )
            }
            speed = number
        }
        let from = try Self.eventTime(argument["from"], field: "from")
        let commands = commands
        // Opened here, so that a refusal is the ack's.
        let first = try commands.replay(of: partyId, window: ReplayWindow(fromMillis: from), caller: caller)
        let replayer = PartyReplayer(first, socket: socket, speed: speed) { from in
            try commands.replay(of: partyId, window: ReplayWindow(fromMillis: from), caller: caller)
        }
        var members: [(String, JSONValue)] = [("ok", .bool(true)), ("partyId", .string(partyId.uuidString.lowercased())), ("speed", .number(speed))]
        if let from { members.append(("from", .number(Double(from) / 1_000))) }
        let start: @Sendable () -> Void = { [self] in
            let task = Task {
                await replayer.run()
                self.endReplay(replayer, of: socket)
            }
            replays.withLock { $0.updateValue((replayer, task), forKey: socket.id) }?.task.cancel()
        }
        return (.object(members), start)
    }

    private func endReplay(_ replayer: PartyReplayer, of socket: SocketIOSocket) {
        replays.withLock { if $0[socket.id]?.replayer === replayer { $0.removeValue(forKey: socket.id) } }
    }

    /// `replay_control {action: pause | resume | seek | speed, to, speed}` for this socket's replay.
    private func replayControl(_ argument: JSONValue, socket: SocketIOSocket) throws -> JSONValue {
        guard let replayer = replays.withLock({ $0[socket.id]?.replayer }) else {
            throw CommandError(.conflict, "no replay is running on this connection: start one with replay_party")
        }
        guard let action = argument["action"]?.stringValue else {
            throw CommandError(.invalid, "action must be pause, resume, seek or speed", field: "action")
        }
        var speed: Double?
        if action == "speed" {
            guard let number = argument["speed"]?.doubleValue, PartyReplayer.speeds.contains(number) else {
                throw CommandError(
                    .invalid,
                    "speed must be a number from \(PartyReplayer.speeds.lowerBound) to \(Int(PartyReplayer.speeds.upperBound))",
                    field: "speed"
                )
            }
            speed = number
        }
        try replayer.control(action, to: try Self.eventTime(argument["to"], field: "to"), speed: speed)
        return .object([("ok", .bool(true)), ("action", .string(action))])
    }

    /// An event time given in seconds from the party's start (negative in the lobby), in
    /// milliseconds; nil when absent.
    static func eventTime(_ value: JSONValue?, field: String) throws -> Int64? {
        guard let value, value != .null else { return nil }
        // A party lasts at most 7 days, and its lobby opens 15 minutes before it.
        guard let seconds = value.doubleValue, seconds.isFinite, (-86_400...700_000).contains(seconds) else {
            throw CommandError(.invalid, "\(field) must be a number of seconds from the party's start", field: field)
        }
        return Int64((seconds * 1_000).rounded())
    }

    // MARK: Rooms

    /// The party's room on this server, started (subscribed to the feed, then the log folded
    /// as it stands) when it has none.
    private func room(for partyId: UUID) async throws -> PartyRoom {
        if let room = rooms.withLock({ $0[partyId] }) { return room }
        let subscription = await feed.subscribe(.party(partyId), capacity: feedCapacity)
        let queries = WatchPartyQueries(.committed(commands.runner.views))
        let start: PartyRoom.Start
        do {
            start = try PartyRoom.fold(partyId, queries)
        } catch {
            subscription.finish()
            throw error
        }
        let (room, created) = rooms.withLock { rooms -> (PartyRoom, Bool) in
            if let existing = rooms[partyId] { return (existing, false) }
            let room = PartyRoom(
                partyId: partyId,
                subscription: subscription,
                start: start,
                queries: queries,
                clock: commands.clock
            ) { [feed, feedCapacity] in await feed.subscribe(.party(partyId), capacity: feedCapacity) }
            rooms[partyId] = room
            return (room, true)
        }
        if created {
            Task { await room.run() }
        } else {
            subscription.finish()
        }
        return room
    }

    private func releaseIfEmpty(_ room: PartyRoom) {
        rooms.withLock { rooms in
            guard room.members().isEmpty, rooms[room.partyId] === room else { return }
            rooms.removeValue(forKey: room.partyId)
            room.close()
        }
    }

    private func leaveRoom(_ partyId: UUID, socket: SocketIOSocket, caller: Caller) async {
        guard let room = rooms.withLock({ $0[partyId] }), let member = room.member(socket) else { return }
        room.markLeaving(socket)
        do {
            _ = try await commands.log(.init(userId: try UserID(member.userId), eventType: .leave), in: partyId, caller: caller, correlation: UUID())
        } catch {
            logger.notice("a leave was not logged", metadata: ["party": "\(partyId)", "error": "\(error)"])
        }
        // After the leave is appended, so that the room's feed still tells the others; when
        // this socket was the last, nobody is left to tell and the room stops at once.
        if room.remove(socket) { releaseIfEmpty(room) }
    }

    private func memberOf(_ argument: JSONValue, socket: SocketIOSocket) throws -> (UUID, PartyRoom.Member) {
        let partyId = try Self.partyId(argument)
        guard let member = rooms.withLock({ $0[partyId] })?.member(socket) else {
            throw CommandError(.conflict, "join the watch party first")
        }
        return (partyId, member)
    }

    /// A rate limit as one user's events of one kind meet it.
    struct RateKey {
        var kind: String
        var userId: String
        var limit: Int
        var noun: String
        var field: String
        var key: UTF8Key { UTF8Key(kind + "/" + userId) }
    }

    /// Refuses an event when `rate.limit` of its kind were logged for its user in the last
    /// ``rateWindow``. (Two devices of one user sending at the same moment may pass one
    /// event over the limit: it is checked before the append and counted after it.)
    private func checkRate(_ rate: RateKey) throws {
        let now = ContinuousClock.now
        let allowed = recent.withLock { recent -> Bool in
            // Users who went quiet are forgotten now and then, so the table stays small.
            if recent.count > 10_000 { recent = recent.filter { now - ($0.value.last ?? now) < Self.rateWindow } }
            let times = (recent[rate.key] ?? []).filter { now - $0 < Self.rateWindow }
            recent[rate.key] = times
            return times.count < rate.limit
        }
        guard allowed else {
            throw CommandError(
                .conflict,
                "too many \(rate.noun): at most \(rate.limit) every \(Self.rateWindow.components.seconds) seconds",
                field: rate.field
            )
        }
    }

    /// Counts a logged event against its rate.
    private func countRate(_ rate: RateKey) {
        let now = ContinuousClock.now
        recent.withLock { $0[rate.key, default: []].append(now) }
    }

    // MARK: Payloads

    /// A member that may be absent (or null), else must be a string.
    static func optionalString(_ value: JSONValue?, field: String) throws -> String? {
        guard let value, value != .null else { return nil }
        guard let text = value.stringValue else { throw CommandError(.invalid, "\(field) must be a string", field: field) }
        return text
    }

    static func partyId(_ argument: JSONValue) throws -> UUID {
        guard let text = argument["partyId"]?.stringValue, let id = UUID(hexadecimal: text) else {
            throw CommandError(.invalid, "partyId must be a UUID", field: "partyId")
        }
        return id
    }

    /// The refusal a client gets: `{"error": message, "code": …, "field": …}`.
    static func refusal(_ error: any Error, event: String) -> JSONValue {
        var members: [(String, JSONValue)]
        switch error {
        case let error as CommandError:
            members = [("error", .string(error.message)), ("code", .string("\(error.code)"))]
            if let field = error.field { members.append(("field", .string(field))) }
        case let problem as Problem:
            members = [("error", .string(problem.detail))]
        default:
            members = [("error", .string("the server could not complete \(event)"))]
        }
        return .object(members)
    }
}
