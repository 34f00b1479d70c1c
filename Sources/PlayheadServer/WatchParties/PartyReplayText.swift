import EventLog
import Foundation
public import WatchDomain

/// A replayed entry as text: the item of `GET /watch-parties/{id}/replay` as one JSON line
/// (the route and `playhead replay` both write it), or a line a person reads on a terminal.
public struct PartyReplayText {
    /// A writer of replay lines.
    public init() {}

    /// `text` as a JSON string, escaped as the lines are.
    func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        Self.appendString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The entry as one JSON line (without its line break): the REST replay's item
    /// (``PartyReplayItemBody``), keys sorted. Written by hand, byte for byte what
    /// `JSONEncoder` with sorted keys and unescaped slashes writes of the item (a test holds
    /// the two equal), at several times its speed: a replay is mostly this.
    public func ndjsonLine(_ told: PartyRoomState.Told) throws -> String {
        let entry = told.entry
        var out: [UInt8] = []
        out.reserveCapacity(320 + (entry.message?.utf8.count ?? 0))
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        let isAction = entry.eventType.isPlayerAction
        out.append(contentsOf: "{\"content\":{".utf8)
        var firstContent = true
        if isAction {
            key("action", first: true)
            Self.appendString(entry.eventType.name, to: &out)
            firstContent = false
        }
        if let message = entry.message {
            key("message", first: firstContent)
            Self.appendString(message, to: &out)
            firstContent = false
        }
        if let username = entry.username {
            key("username", first: firstContent)
            Self.appendString(username, to: &out)
            firstContent = false
        }
        if isAction {
            key("video_time", first: firstContent)
            Self.appendSeconds(millis: Int64(entry.videoTimeMillis), to: &out)
        }
        out.append(UInt8(ascii: "}"))
        key("event_time")
        Self.appendSeconds(millis: entry.eventTimeMillis, to: &out)
        key("event_type")
        Self.appendString(entry.eventType.name, to: &out)
        key("id")
        Self.appendString(entry.entryId.uuidString.lowercased(), to: &out)
        if let participants = told.participants {
            key("participants_online")
            out.append(contentsOf: String(participants.count).utf8)
        }
        key("playing")
        out.append(contentsOf: (entry.playing ? "true" : "false").utf8)
        key("real_time")
        Self.appendString(ISO8601Micros.format(entry.realTime), to: &out)
        key("user_id")
        Self.appendString(entry.userId, to: &out)
        key("username")
        Self.appendString(told.username, to: &out)
        key("video_time")
        Self.appendSeconds(millis: Int64(entry.videoTimeMillis), to: &out)
        key("watch_party_id")
        Self.appendString(entry.partyId.uuidString.lowercased(), to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Milliseconds as a JSON number of seconds, as `JSONEncoder` writes the Double
    /// `millis / 1000`: whole numbers without a fraction, others with their shortest digits.
    static func appendSeconds(millis: Int64, to out: inout [UInt8]) {
        if millis % 1_000 == 0 {
            out.append(contentsOf: String(millis / 1_000).utf8)
        } else {
            out.append(contentsOf: (Double(millis) / 1_000).description.utf8)
        }
    }

    /// `text` as a JSON string: `"` and the backslash escaped, control characters as `\b`,
    /// `\f`, `\n`, `\r`, `\t` or `\u00XX`, everything else (slashes and non-ASCII included)
    /// as it is.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x08: out.append(contentsOf: "\\b".utf8)
            case 0x0C: out.append(contentsOf: "\\f".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The entry as a person reads it: its event time (from the start, `-` in the lobby) and
    /// the film's time, then what happened, e.g.
    /// `+00:12:30  film 00:09:30  Alice: Here it comes!` or
    /// `+00:10:00  film 00:10:00  bob paused`.
    public static func line(_ told: PartyRoomState.Told) -> String {
        let entry = told.entry
        let when = (entry.eventTimeMillis < 0 ? "-" : "+") + clock(entry.eventTimeMillis.magnitude)
        let film = "film " + clock(entry.videoTimeMillis)
        let what: String
        switch entry.eventType {
        case .join: what = "\(told.username) joined (\(told.participants?.count ?? 0) online)"
        case .leave: what = "\(told.username) left (\(told.participants?.count ?? 0) online)"
        case .message: what = "\(told.username): \(entry.message ?? "")"
        case .play: what = "\(told.username) played"
        case .pause: what = "\(told.username) paused"
        case .seek: what = "\(told.username) sought to \(clock(entry.videoTimeMillis))"
        }
        return "\(when)  \(film)  \(what)"
    }

    /// `HH:MM:SS` of a number of milliseconds (hours grow past 99).
    public static func clock(_ millis: UInt64) -> String {
        let seconds = millis / 1_000
        let hours = seconds / 3_600
        let minutes = seconds / 60 % 60
        return (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes):" + (seconds % 60 < 10 ? "0" : "")
            + "\(seconds % 60)"
    }
}
