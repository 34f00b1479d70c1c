import EventLog
public import Projections
public import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
public import Foundation
#endif

/// Which part of a party a replay shows: a window of event time (milliseconds from the
/// party's start), of video time (milliseconds into the film), or both. Bounds are
/// inclusive below and exclusive above; a missing bound is open.
///
/// A video-time window keeps the entries made while the film was at those points, pauses and
/// seeks of the live party included: what someone watching the film later at that point
/// should see in the chat (issue 16).
public struct ReplayWindow: Sendable, Hashable {
    /// Only entries at or after this event time.
    public var fromMillis: Int64?
    /// Only entries before this event time.
    public var toMillis: Int64?
    /// Only entries made at or after this point of the film.
    public var videoFromMillis: UInt64?
    /// Only entries made before this point of the film.
    public var videoToMillis: UInt64?

    /// A window; all bounds open by default (the whole party).
    public init(fromMillis: Int64? = nil, toMillis: Int64? = nil, videoFromMillis: UInt64? = nil, videoToMillis: UInt64? = nil) {
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.videoFromMillis = videoFromMillis
        self.videoToMillis = videoToMillis
    }

    /// Whether `entry` is in the window.
    public func contains(_ entry: PartyLogEntry) -> Bool {
        if let fromMillis, entry.eventTimeMillis < fromMillis { return false }
        if let toMillis, entry.eventTimeMillis >= toMillis { return false }
        if let videoFromMillis, entry.videoTimeMillis < videoFromMillis { return false }
        if let videoToMillis, entry.videoTimeMillis >= videoToMillis { return false }
        return true
    }
}

/// A party's log read back in order, each entry told as the room told it live
/// (``PartyRoomState``), a page at a time: memory stays flat however long the party.
///
/// The fold starts at the party's first entry whatever the window, since names and the
/// participants online depend on everything before; entries outside the window are folded
/// and not returned.
public struct PartyReplay: Sendable {
    /// The party.
    public let party: WatchParty
    /// The part shown.
    public let window: ReplayWindow
    private let queries: WatchPartyQueries
    private var room = PartyRoomState()
    private var cursor: PartyLogCursor?
    private var finished = false

    /// Entries read from the read model per page.
    public static let pageSize = 1_000

    /// A replay of `party` read from `queries`.
    public init(party: WatchParty, window: ReplayWindow, queries: WatchPartyQueries) {
        self.party = party
        self.window = window
        self.queries = queries
    }

    /// The next page's entries in the window, in log order (possibly none when a page held
    /// only entries outside it); nil once the log is read to its end.
    public mutating func next() throws -> [PartyRoomState.Told]? {
        guard !finished else { return nil }
        var filter = PartyLogFilter()
        // Entries past the window's end need not be read: nothing after them is shown.
        filter.toMillis = window.toMillis
        let page = try queries.log(party: party.partyId, filter: filter, after: cursor, limit: Self.pageSize)
        var told: [PartyRoomState.Told] = []
        for entry in page.entries {
            let item = room.apply(entry)
            if window.contains(entry) { told.append(item) }
        }
        cursor = page.next
        finished = page.next == nil
        return told
    }

    /// Every entry in the window, read to the end (for tests and small parties; a stream reads
    /// ``next()`` a page at a time).
    public mutating func all() throws -> [PartyRoomState.Told] {
        var all: [PartyRoomState.Told] = []
        while let page = try next() { all += page }
        return all
    }
}
