public import EventLog
public import Views
public import WatchDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
public import Foundation
#endif

/// Folds tracked interactions into the read models of the content-interactions module:
///
/// | database | key | value |
/// |---|---|---|
/// | `rows` | interaction id (16) | ``Interaction``: the latest details, the count, created and updated times |
/// | `by_triple` | user (length-prefixed), content (length-prefixed), type (1) | interaction id: the spec's unique (user, content, type) |
/// | `by_time` | user, created-at newest first (8), log position newest first (8) | interaction id: history, newest first |
/// | `by_type_time` | user, type (1), created-at newest first, position newest first | interaction id: history of one type |
/// | `counts` | user, `0xFF` or a type (1) | interactions (8 BE): totals without a date filter |
/// | `daily` | user, `0xFF` or a type, UTC day (8 BE, sign flipped) | interactions created that day: totals with a date filter |
/// | `activity` | user, UTC day | tracking events that day (re-trackings included): frequency trends |
///
/// An interaction is created by its first tracking and never moves in the history (its
/// created-at is fixed); later trackings update its row and the day's activity.
public struct InteractionsProjector: Projector {
    public let name = "interactions"
    public let version: UInt32 = 1
    public let databases = ["rows", "by_triple", "by_time", "by_type_time", "counts", "daily", "activity"]
    public let eventTypePrefixes = ["interaction."]

    /// Creates the projector.
    public init() {}

    static let tracked = Array(InteractionTracked.eventType.utf8)
    /// The `counts` and `daily` kind of every type together.
    static let allTypes: UInt8 = 0xFF
    static let dayMicros: Int64 = 86_400_000_000

    public func apply(_ record: EventView, to views: ViewTransaction) throws {
        guard ViewKey.matches(record.typeBytes, Self.tracked) else { return }
        let event = try InteractionTracked.decode(record.payload)
        let at = record.recordedAt
        let user = ViewKey.string(event.userId)
        let triple = Self.tripleKey(event.userId, event.contentId, event.interactionType)
        // The triple decides the interaction, whatever id an imported event carries; an id
        // that another triple already has (a doctored import) gets one made from the
        // event's position, so that rebuilds agree.
        var id = try views.get("by_triple", triple).map(ViewKey.uuid(suffixOf:)) ?? event.interactionId
        if let other = try Self.row(id, in: views), Self.tripleKey(other.userId, other.contentId, other.interactionType) != triple {
            id = Self.derivedID(record.position)
        }
        if let row = try Self.row(id, in: views) {
            try views.put("rows", ViewKey.uuid(id), Self.tracked(row, event, at: at).encoded())
        } else {
            var row = Interaction(event, at: at, position: record.position)
            row.interactionId = id
            let idBytes = ViewKey.uuid(id)
            let order = ViewKey.newestFirst(at) + ViewKey.bigEndian(~record.position)
            try views.put("rows", idBytes, row.encoded())
            try views.put("by_triple", triple, idBytes)
            try views.put("by_time", user + order, idBytes)
            try views.put("by_type_time", user + [event.interactionType.rawValue] + order, idBytes)
            let day = Self.dayKey(at)
            for kind in [Self.allTypes, event.interactionType.rawValue] {
                try views.addToCounter("counts", user + [kind], 1)
                try views.addToCounter("daily", user + [kind] + day, 1)
            }
        }
        try views.addToCounter("activity", user + Self.dayKey(at), 1)
    }

    /// `row` tracked again by `event` at `at`: the latest details, one more in the count.
    public static func tracked(_ row: Interaction, _ event: InteractionTracked, at: Timestamp) -> Interaction {
        var row = row
        row.details = event.details
        row.count += 1
        row.updatedAt = at
        return row
    }

    /// An interaction id made from a log position.
    static func derivedID(_ position: UInt64) -> UUID {
        let bytes = ViewKey.bigEndian(position)
        return UUID(
            uuid: (0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7])
        )
    }

    static func tripleKey(_ user: String, _ content: String, _ type: InteractionType) -> [UInt8] {
        ViewKey.string(user) + ViewKey.string(content) + [type.rawValue]
    }

    /// The UTC day of `time` (days since 1970, floored).
    static func day(_ time: Timestamp) -> Int64 {
        let micros = time.microsecondsSince1970
        return micros >= 0 ? micros / dayMicros : (micros - dayMicros + 1) / dayMicros
    }

    static func dayKey(_ time: Timestamp) -> [UInt8] { dayKey(day: day(time)) }

    static func dayKey(day: Int64) -> [UInt8] { ViewKey.bigEndian(UInt64(bitPattern: day) ^ (1 << 63)) }

    static func day(fromKey bytes: some Collection<UInt8>) -> Int64 { Int64(bitPattern: ViewKey.integer(bytes) ^ (1 << 63)) }

    static func row(_ id: UUID, in views: ViewTransaction) throws -> Interaction? {
        try views.withValue("rows", ViewKey.uuid(id)) { bytes in try bytes.map { try Interaction(decoding: $0) } }
    }
}

/// What a history or export reads: one user's interactions, newest first, optionally of one
/// type and created in `[start, end)`.
public struct InteractionFilter: Sendable, Hashable {
    /// Whose.
    public var userId: String
    /// Only this type, when set.
    public var type: InteractionType?
    /// Created at or after this, when set.
    public var start: Timestamp?
    /// Created before this, when set.
    public var end: Timestamp?

    /// Creates a filter.
    public init(userId: String, type: InteractionType? = nil, start: Timestamp? = nil, end: Timestamp? = nil) {
        self.userId = userId
        self.type = type
        self.start = start
        self.end = end
    }

    var database: String { type == nil ? "by_time" : "by_type_time" }
    var prefix: [UInt8] { ViewKey.string(userId) + (type.map { [$0.rawValue] } ?? []) }
    var kind: [UInt8] { ViewKey.string(userId) + [type?.rawValue ?? InteractionsProjector.allTypes] }
}

/// A page of interactions.
public struct InteractionPage: Sendable, Hashable {
    /// How many interactions match the filter.
    public var total: Int
    /// The page, newest first.
    public var interactions: [Interaction]
}

/// A user's interaction patterns (Docs/api.md defines each figure).
public struct InteractionPatterns: Sendable, Hashable {
    /// A part of the day, by the local time an interaction was created.
    public enum TimeOfDay: String, Sendable, Hashable, CaseIterable {
        /// 05:00 to 11:59.
        case morning
        /// 12:00 to 16:59.
        case afternoon
        /// 17:00 to 21:59.
        case evening
        /// 22:00 to 04:59.
        case night

        /// The part of the day of `minute` (0 to 1439 after midnight).
        public init(minuteOfDay minute: Int) {
            switch minute / 60 {
            case 5..<12: self = .morning
            case 12..<17: self = .afternoon
            case 17..<22: self = .evening
            default: self = .night
            }
        }
    }

    /// How the number of trackings moved: the last 30 days against the 30 before.
    public enum FrequencyTrend: String, Sendable, Hashable {
        case increasing, decreasing, stable
    }

    /// The sign of the mood correlation.
    public enum MoodTrend: String, Sendable, Hashable {
        case positive, negative, neutral
    }

    /// Interactions (distinct user, content and type).
    public var totalInteractions = 0
    /// When the first of them was created.
    public var firstCreatedAt: Timestamp?
    /// When the last of them was last tracked.
    public var lastUpdatedAt: Timestamp?
    /// The type with the most interactions (ties: the earlier in ``InteractionType``'s order).
    public var mostCommonType: InteractionType?
    /// The mean duration in seconds over the interactions that have one; 0 when none does.
    public var averageDuration: Double = 0
    /// Pearson's correlation of mood intensity and interaction value, over the interactions
    /// with both; nil for fewer than two or when either does not vary.
    public var moodCorrelation: Double?
    /// The part of the day with the most interactions created (ties: morning first).
    public var timeOfDay: TimeOfDay?
    /// The content type with the most interactions (ties: the first in byte order).
    public var contentTypePreference: String?
    /// Trackings in the last 30 UTC days (today included).
    public var recentTrackings: UInt64 = 0
    /// Trackings in the 30 days before those.
    public var previousTrackings: UInt64 = 0
    /// Increasing when the recent trackings exceed the previous ones by more than 10%,
    /// decreasing when they fall short by more than 10%, stable otherwise.
    public var frequencyTrend: FrequencyTrend = .stable
    /// Positive at a correlation of 0.3 or more, negative at −0.3 or less, neutral otherwise.
    public var moodTrend: MoodTrend = .neutral

    /// No interactions.
    public init() {}
}

extension InteractionQueries {
    /// The patterns of `user`'s interactions at `now`. `minuteOfDay` turns a time into the
    /// minute after local midnight in the caller's time zone. Reads each of the user's
    /// interactions once (in chunks) and 60 days of activity counters.
    public func patterns(user: String, now: Timestamp, minuteOfDay: (Timestamp) -> Int) throws -> InteractionPatterns {
        var patterns = InteractionPatterns()
        var types: [InteractionType: Int] = [:]
        var parts: [InteractionPatterns.TimeOfDay: Int] = [:]
        var contentTypes: [UTF8Key: Int] = [:]
        var durationSum = 0.0
        var durations = 0
        var pairs: [(x: Int64, y: Int64)] = []
        try forEach(user: user) { row in
            patterns.totalInteractions += 1
            patterns.firstCreatedAt = min(patterns.firstCreatedAt ?? row.createdAt, row.createdAt)
            patterns.lastUpdatedAt = max(patterns.lastUpdatedAt ?? row.updatedAt, row.updatedAt)
            types[row.interactionType, default: 0] += 1
            parts[InteractionPatterns.TimeOfDay(minuteOfDay: minuteOfDay(row.createdAt)), default: 0] += 1
            if let contentType = row.details.contentType { contentTypes[UTF8Key(contentType), default: 0] += 1 }
            if let duration = row.details.interactionDurationSeconds {
                durationSum += Double(duration)
                durations += 1
            }
            if let intensity = row.details.moodIntensityAtInteraction, let value = row.details.interactionValue {
                pairs.append((intensity, value))
            }
        }
        patterns.mostCommonType = Self.first(of: InteractionType.allCases, by: types)
        patterns.timeOfDay = Self.first(of: InteractionPatterns.TimeOfDay.allCases, by: parts)
        patterns.contentTypePreference = Self.first(of: contentTypes.keys.sorted(), by: contentTypes)?.string
        patterns.averageDuration = durations == 0 ? 0 : durationSum / Double(durations)
        let correlation = Self.correlation(pairs)
        patterns.moodCorrelation = correlation?.value

        let today = InteractionsProjector.day(now)
        let activity = try activity(user: user, firstDay: today - 59, lastDay: today)
        for (day, count) in activity {
            if day > today - 30 { patterns.recentTrackings += count } else { patterns.previousTrackings += count }
        }
        // The 10% bounds in whole numbers: in floating point, 10 × 1.1 is 11.000000000000002.
        let recent = Int128(patterns.recentTrackings)
        let previous = Int128(patterns.previousTrackings)
        patterns.frequencyTrend = recent * 10 > previous * 11 ? .increasing : recent * 10 < previous * 9 ? .decreasing : .stable
        if let correlation {
            patterns.moodTrend = correlation.atLeast(3) ? .positive : correlation.atMost(-3) ? .negative : .neutral
        }
        return patterns
    }

    /// The first of `candidates` with the highest count, nil when none is counted.
    private static func first<Key: Hashable>(of candidates: [Key], by counts: [Key: Int]) -> Key? {
        var best: (key: Key, count: Int)?
        for key in candidates {
            guard let count = counts[key], count > (best?.count ?? 0) else { continue }
            best = (key, count)
        }
        return best?.key
    }

    /// Pearson's correlation coefficient of whole-number pairs; nil for fewer than two pairs
    /// or no variance.
    static func correlation(_ pairs: [(x: Int64, y: Int64)]) -> Correlation? {
        guard pairs.count >= 2 else { return nil }
        let n = Int128(pairs.count)
        var sumX: Int128 = 0
        var sumY: Int128 = 0
        var sumXY: Int128 = 0
        var sumXX: Int128 = 0
        var sumYY: Int128 = 0
        for (x, y) in pairs {
            let (x, y) = (Int128(x), Int128(y))
            sumX += x
            sumY += y
            sumXY += x * y
            sumXX += x * x
            sumYY += y * y
        }
        // n² times the covariance and the variances: whole numbers, so r's sign and its
        // comparison with a bound are exact.
        let covariance = n * sumXY - sumX * sumY
        let varianceX = n * sumXX - sumX * sumX
        let varianceY = n * sumYY - sumY * sumY
        guard varianceX > 0, varianceY > 0 else { return nil }
        return Correlation(covariance: covariance, varianceX: varianceX, varianceY: varianceY)
    }

    /// r = covariance / √(varianceX × varianceY), kept as its whole-number parts (the pairs
    /// hold ratings and intensities of 1 to 10, so the parts stay far inside `Int128`).
    struct Correlation {
        let covariance: Int128
        let varianceX: Int128
        let varianceY: Int128

        /// r as a `Double`, for display.
        var value: Double { Double(covariance) / (Double(varianceX) * Double(varianceY)).squareRoot() }

        /// Whether r ≥ tenths / 10 (tenths ≥ 0), exactly: r ≥ b ⇔ cov ≥ 0 and cov² ≥ b²·vx·vy.
        func atLeast(_ tenths: Int128) -> Bool { covariance >= 0 && squareExceeds(tenths) }

        /// Whether r ≤ tenths / 10 (tenths ≤ 0), exactly.
        func atMost(_ tenths: Int128) -> Bool { covariance <= 0 && squareExceeds(tenths) }

        /// 100·cov² ≥ tenths²·vx·vy, falling back to `Double` past `Int128` (over 10⁷ pairs).
        private func squareExceeds(_ tenths: Int128) -> Bool {
            let left = covariance.multipliedReportingOverflow(by: covariance)
            let right = varianceX.multipliedReportingOverflow(by: varianceY)
            guard !left.overflow, !right.overflow,
                case let (l, false) = left.partialValue.multipliedReportingOverflow(by: 100),
                case let (r, false) = right.partialValue.multipliedReportingOverflow(by: tenths * tenths)
            else { return abs(value) >= Double(abs(tenths)) / 10 }
            return l >= r
        }
    }
}
