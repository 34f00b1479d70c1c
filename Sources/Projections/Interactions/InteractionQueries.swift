import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The queries of the content-interactions module, answered from ``InteractionsProjector``'s rows.
public struct InteractionQueries: Sendable {
    /// The views to read.
    public let views: ViewSource
    private let name = InteractionsProjector().name

    /// Queries reading the last committed state of `views`.
    public init(views: InlineProjections) { self.views = .committed(views) }

    /// Queries reading `source`: a decider passes its batch's views (``ViewSource/batch(_:of:)``).
    public init(_ source: ViewSource) { self.views = source }

    /// The interaction of `user` with `content` of `type`, if tracked.
    public func interaction(user: String, content: String, type: InteractionType) throws -> Interaction? {
        try views.read(name) { tx in
            guard let id = try tx.get("by_triple", InteractionsProjector.tripleKey(user, content, type)) else { return nil }
            return try InteractionsProjector.row(ViewKey.uuid(suffixOf: id), in: tx)
        }
    }

    /// The interaction with `id`.
    public func interaction(id: UUID) throws -> Interaction? {
        try views.read(name) { try InteractionsProjector.row(id, in: $0) }
    }

    /// `limit` interactions matching `filter` after skipping `offset`, with the total:
    /// a range scan of the history index, and counters for the total.
    public func history(_ filter: InteractionFilter, limit: Int, offset: Int) throws -> InteractionPage {
        try views.read(name) { tx in
            let total = try count(filter, tx)
            var skipped = 0
            var rows: [Interaction] = []
            if limit > 0, offset < total {
                _ = try scan(filter, after: nil, tx) { id in
                    if skipped < offset {
                        skipped += 1
                        return true
                    }
                    if let row = try InteractionsProjector.row(id, in: tx) { rows.append(row) }
                    return rows.count < limit
                }
            }
            return InteractionPage(total: total, interactions: rows)
        }
    }

    /// Up to `limit` interactions matching `filter` after the index key `cursor` (from the
    /// newest when nil), and the key to continue after; nil when the range is done. Each
    /// call is one short read transaction, so an export of any size holds none for long.
    public func chunk(_ filter: InteractionFilter, after cursor: [UInt8]?, limit: Int) throws -> (rows: [Interaction], next: [UInt8]?) {
        try views.read(name) { tx in
            var rows: [Interaction] = []
            let last = try scan(filter, after: cursor, tx) { id in
                if let row = try InteractionsProjector.row(id, in: tx) { rows.append(row) }
                return rows.count < limit
            }
            return (rows, rows.count < limit ? nil : last)
        }
    }

    /// Visits every interaction of `user` (newest first).
    public func forEach(user: String, _ body: (Interaction) throws -> Void) throws {
        var cursor: [UInt8]?
        repeat {
            let (rows, next) = try chunk(InteractionFilter(userId: user), after: cursor, limit: 4_096)
            for row in rows { try body(row) }
            cursor = next
        } while cursor != nil
    }

    /// Tracking events of `user` per UTC day, for days in `[firstDay, lastDay]` (days since 1970).
    public func activity(user: String, firstDay: Int64, lastDay: Int64) throws -> [Int64: UInt64] {
        try views.read(name) { tx in
            let prefix = ViewKey.string(user)
            var days: [Int64: UInt64] = [:]
            try tx.forEach("activity", from: prefix + InteractionsProjector.dayKey(day: firstDay)) { key, value in
                guard key.starts(with: prefix) else { return false }
                let day = InteractionsProjector.day(fromKey: key.dropFirst(prefix.count))
                guard day <= lastDay else { return false }
                days[day] = ViewKey.integer(value)
                return true
            }
            return days
        }
    }

    /// Visits the ids of the interactions matching `filter`, newest first, after index key
    /// `cursor`, until `body` returns false; returns the last key visited.
    private func scan(_ filter: InteractionFilter, after cursor: [UInt8]?, _ tx: ViewTransaction, _ body: (UUID) throws -> Bool) throws -> [UInt8]? {
        let prefix = filter.prefix
        var start = prefix
        if let end = filter.end { start += ViewKey.newestFirst(Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1)) }
        if let cursor, cursor.lexicographicallyPrecedes(start) == false { start = cursor + [0] }
        let stop = filter.start.map { ViewKey.newestFirst($0) }
        var last: [UInt8]?
        try tx.forEach(filter.database, from: start) { key, value in
            guard key.starts(with: prefix) else { return false }
            if let stop, stop.lexicographicallyPrecedes(key[prefix.count..<(prefix.count + 8)]) { return false }
            last = key
            return try body(ViewKey.uuid(suffixOf: value))
        }
        return last
    }

    /// How many interactions match `filter`: a counter without dates; with dates, the day
    /// counters before each end of the range plus the keys of the day each end falls in.
    private func count(_ filter: InteractionFilter, _ tx: ViewTransaction) throws -> Int {
        let total = Int(try tx.get("counts", filter.kind).map(ViewKey.integer) ?? 0)
        guard filter.start != nil || filter.end != nil else { return total }
        let end = try filter.end.map { try createdBefore($0, filter, tx) } ?? total
        let start = try filter.start.map { try createdBefore($0, filter, tx) } ?? 0
        return max(end - start, 0)
    }

    /// Interactions matching `filter`'s user and type created before `time`.
    private func createdBefore(_ time: Timestamp, _ filter: InteractionFilter, _ tx: ViewTransaction) throws -> Int {
        let day = InteractionsProjector.day(time)
        var count: UInt64 = 0
        let kind = filter.kind
        try tx.forEach("daily", from: kind) { key, value in
            guard key.starts(with: kind), InteractionsProjector.day(fromKey: key.dropFirst(kind.count)) < day else { return false }
            count += ViewKey.integer(value)
            return true
        }
        // The day `time` falls in: its interactions created before `time`.
        var sameDay = filter
        sameDay.start = Timestamp(microsecondsSince1970: day * InteractionsProjector.dayMicros)
        sameDay.end = time
        _ = try scan(sameDay, after: nil, tx) { _ in
            count += 1
            return true
        }
        return Int(count)
    }
}
