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
/// Names and the participants online depend on everything before an entry, so the fold
/// starts at the party's first entry whatever the window: a window that starts later in
/// event time first folds only the joins and leaves before it (read from the
/// `log_by_type` index: the rest changes nothing), then reads the entries from its start;
/// entries outside a video-time window are folded and not returned.
public struct PartyReplay: Sendable {
    /// The party.
    public let party: WatchParty
    /// The part shown.
    public let window: ReplayWindow
    private let queries: WatchPartyQueries
    private var room = PartyRoomState()
    private var cursor: PartyLogCursor?
    private var finished = false
    private var started = false

    /// Entries read from the read model per page.
    public static let pageSize = 1_000
    /// Entries in the first page: small, so that the first entry comes soon.
    public static let firstPageSize = 64

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
        if !started {
            started = true
            if let from = window.fromMillis { try foldJoinsAndLeaves(before: from) }
        }
        var filter = PartyLogFilter()
        filter.fromMillis = window.fromMillis
        // Entries past the window's end need not be read: nothing after them is shown.
        filter.toMillis = window.toMillis
        let page = try queries.log(party: party.partyId, filter: filter, after: cursor, limit: cursor == nil ? Self.firstPageSize : Self.pageSize)
        var told: [PartyRoomState.Told] = []
        for entry in page.entries {
            let item = room.apply(entry)
            if window.contains(entry) { told.append(item) }
        }
        cursor = page.next
        finished = page.next == nil
        return told
    }

    /// Folds the joins and leaves before `millis` into the room, in log order: the two types'
    /// pages merged by event time and log position, as the party log orders its entries.
    private mutating func foldJoinsAndLeaves(before millis: Int64) throws {
        var joins = TypePages(type: .join, before: millis)
        var leaves = TypePages(type: .leave, before: millis)
        while true {
            let join = try joins.peek(party.partyId, queries)
            let leave = try leaves.peek(party.partyId, queries)
            if let join, leave.map({ (join.eventTimeMillis, join.position) < ($0.eventTimeMillis, $0.position) }) ?? true {
                room.fold(join)
                joins.advance()
            } else if let leave {
                room.fold(leave)
                leaves.advance()
            } else {
                return
            }
        }
    }

    /// One type's entries of a party log before a time, a page at a time.
    private struct TypePages {
        let filter: PartyLogFilter
        var entries: [PartyLogEntry] = []
        var index = 0
        var cursor: PartyLogCursor?
        var exhausted = false

        init(type: PartyLogEventType, before millis: Int64) { filter = PartyLogFilter(eventType: type, toMillis: millis) }

        /// The next entry, reading a page when the last one is used up; nil at the end.
        mutating func peek(_ party: UUID, _ queries: WatchPartyQueries) throws -> PartyLogEntry? {
            if index == entries.count, !exhausted {
                let page = try queries.log(party: party, filter: filter, after: cursor, limit: PartyReplay.pageSize)
                entries = page.entries
                index = 0
                cursor = page.next
                exhausted = page.next == nil
            }
            return index < entries.count ? entries[index] : nil
        }

        mutating func advance() { index += 1 }
    }

    /// Every entry in the window, read to the end (for tests and small parties; a stream reads
    /// ``next()`` a page at a time).
    public mutating func all() throws -> [PartyRoomState.Told] {
        var all: [PartyRoomState.Told] = []
        while let page = try next() { all += page }
        return all
    }
}
