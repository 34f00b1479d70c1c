import EventLog
import Foundation
public import WatchDomain

/// A replayed entry as text: the item of `GET /watch-parties/{id}/replay` as one JSON line
/// (the route and `playhead replay` both write it), or a line a person reads on a terminal.
public struct PartyReplayText {
    private let encoder = JSONEncoder()

    /// A writer of replay lines (one encoder for all of them).
    public init() { encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes] }

    /// `text` as a JSON string, escaped as the lines are.
    func jsonString(_ text: String) throws -> String { String(decoding: try encoder.encode(text), as: UTF8.self) }

    /// The entry as one JSON line (without its line break): the REST replay's item.
    public func ndjsonLine(_ told: PartyRoomState.Told) throws -> String {
        String(decoding: try encoder.encode(PartyReplayItemBody(told)), as: UTF8.self)
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
