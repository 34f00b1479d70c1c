import EventLog
import Foundation
import SocketIO
import WatchDomain

/// The payloads of the `/watch-party` namespace's server events, built from stored entries
/// alone, so that the live room, a reconnect's catch-up and a replay send the same bytes
/// for the same entry (api.md, "The live room").
enum PartyEvents {
    /// The server events one entry was to the room's members, in order: `user_joined` or
    /// `user_left` and then `participant_list`, `new_message`, or `sync_player`. With
    /// `replayed`, each object payload carries `"replayed": true`.
    static func events(for told: PartyRoomState.Told, replayed: Bool = false) -> [(name: String, payload: JSONValue)] {
        let entry = told.entry
        var events: [(name: String, payload: JSONValue)]
        switch entry.eventType {
        case .join: events = [("user_joined", body(of: entry, username: told.username))]
        case .leave: events = [("user_left", body(of: entry, username: told.username))]
        case .message: events = [("new_message", body(of: entry, username: told.username))]
        case .play, .pause, .seek: events = [("sync_player", syncPlayer(after: entry))]
        }
        if let participants = told.participants {
            events.append(("participant_list", participantList(partyId: entry.partyId, participants)))
        }
        return replayed ? events.map { ($0.name, marked($0.payload)) } : events
    }

    /// `payload` with `"replayed": true` added.
    static func marked(_ payload: JSONValue) -> JSONValue {
        guard case .object(let members) = payload else { return payload }
        return .object(members + [("replayed", .bool(true))])
    }

    /// `participant_list`: the party, and the users online sorted by id, each with the name
    /// they last joined under: `{"partyId": …, "participants": [{"userId", "username"}]}`.
    static func participantList(partyId: UUID, _ participants: [PartyRoomState.Participant]) -> JSONValue {
        .object([
            ("partyId", .string(partyId.uuidString.lowercased())),
            ("participants", .array(participants.map { .object([("userId", .string($0.userId)), ("username", .string($0.username))]) })),
        ])
    }

    /// An entry as members receive it: the spec's WatchPartyLog fields, snake_case as the
    /// REST answers, plus the event's own names (`userId`, `username`, `message`).
    static func body(of entry: PartyLogEntry, username: String) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(entry.entryId.uuidString.lowercased())),
            ("partyId", .string(entry.partyId.uuidString.lowercased())),
            ("userId", .string(entry.userId)),
            ("username", .string(username)),
            ("event_type", .string(entry.eventType.name)),
        ]
        if let message = entry.message { members.append(("message", .string(message))) }
        members += [
            ("real_time", .string(ISO8601Micros.format(entry.realTime))),
            ("event_time", .number(Double(entry.eventTimeMillis) / 1_000)),
            ("video_time", .number(Double(entry.videoTimeMillis) / 1_000)),
        ]
        return .object(members)
    }

    /// `sync_player` after a player action: the action, where the film is, whether it
    /// plays, the server time, who acted, and the entry's `id` (what `join_party`'s
    /// `lastEntryId` names).
    static func syncPlayer(after entry: PartyLogEntry) -> JSONValue {
        .object([
            ("id", .string(entry.entryId.uuidString.lowercased())),
            ("partyId", .string(entry.partyId.uuidString.lowercased())),
            ("action", .string(entry.eventType.name)),
            ("videoTime", .number(Double(entry.videoTimeMillis) / 1_000)),
            ("playing", .bool(entry.playing)),
            ("serverTime", .string(ISO8601Micros.format(entry.realTime))),
            ("userId", .string(entry.userId)),
        ])
    }

    /// The answer to `time_sync`: the server's clock, as text and as milliseconds since 1970,
    /// and the client's own `clientTime` echoed, so that a client can estimate its offset
    /// as SyncPlay's ping does: offset ≈ serverTime − (sent + received) / 2.
    static func timeSync(_ argument: JSONValue, now: Timestamp) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("serverTime", .string(ISO8601Micros.format(now))),
            ("serverTimeMillis", .integer(now.microsecondsSince1970 / 1_000)),
        ]
        if let clientTime = argument["clientTime"], clientTime != .null { members.append(("clientTime", clientTime)) }
        return .object(members)
    }

    /// `sync_player` for a joiner: the film's `state` (as the join left it) extrapolated to
    /// `now`, never past the film's `length` (milliseconds).
    static func syncPlayer(state: PlayerState, partyId: UUID, at now: Timestamp, length: UInt64) -> JSONValue {
        .object([
            ("partyId", .string(partyId.uuidString.lowercased())),
            ("action", .string(state.playing ? "play" : "pause")),
            ("videoTime", .number(Double(state.position(at: now, length: length)) / 1_000)),
            ("playing", .bool(state.playing)),
            ("serverTime", .string(ISO8601Micros.format(now))),
        ])
    }

    /// `sync_hint`: the correction (`none`, `adjust_rate`, `seek` or `wait`), the drift in
    /// seconds (positive: the client is ahead), the party's position, and for `adjust_rate`
    /// the rate and for how many seconds.
    static func syncHint(_ hint: SyncHint, partyId: UUID, at now: Timestamp) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("partyId", .string(partyId.uuidString.lowercased())),
            ("action", .string(hint.action.rawValue)),
            ("drift", .number(Double(hint.driftMillis) / 1_000)),
            ("videoTime", .number(Double(hint.videoTimeMillis) / 1_000)),
            ("serverTime", .string(ISO8601Micros.format(now))),
        ]
        if hint.action == .adjustRate {
            members += [("playbackRate", .number(hint.playbackRate)), ("duration", .number(Double(hint.durationMillis) / 1_000))]
        }
        return .object(members)
    }
}
