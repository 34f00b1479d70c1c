public import EventLog
public import Foundation
public import Projections

/// The time zone a query's `tz` names: an IANA zone (`Europe/Paris`), `UTC`, or a fixed
/// offset (`+05:30`, `-03:00`; at most ±14:00). The interactions' patterns and the video
/// analytics take it; both answer with `name` as the client gave it.
public struct QueryTimeZone: Sendable {
    public let zone: TimeZone
    /// The name to answer with.
    public let name: String

    /// UTC, the default.
    public static let utc = QueryTimeZone(zone: TimeZone(secondsFromGMT: 0) ?? .current, name: "UTC")

    private init(zone: TimeZone, name: String) {
        self.zone = zone
        self.name = name
    }

    /// The zone `text` names, or nil when it names none. IANA names and offsets are letters,
    /// digits, `/`, `_`, `-`, `+` and `:` (Foundation reads a name only up to a NUL, so
    /// anything else could name one zone and echo another).
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 64,
            text.utf8.allSatisfy({ byte in
                (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || "/_-+:".utf8.contains(byte)
            })
        else { return nil }
        if let zone = TimeZone(identifier: text) {
            self.init(zone: zone, name: text)
            return
        }
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard bytes[range].allSatisfy({ (48...57).contains($0) }) else { return nil }
            return Int(String(decoding: bytes[range], as: UTF8.self))
        }
        guard bytes.count == 6, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-"), bytes[3] == UInt8(ascii: ":"),
            let hours = digits(1..<3), let minutes = digits(4..<6), hours <= 14, minutes < 60,
            let zone = TimeZone(secondsFromGMT: (hours * 3_600 + minutes * 60) * (bytes[0] == UInt8(ascii: "-") ? -1 : 1))
        else { return nil }
        self.init(zone: zone, name: text)
    }

    /// What a bad `tz` is told.
    public static let expected = "tz must be an IANA time zone such as Europe/Paris, or an offset such as +05:30"

    /// Whether its days are UTC days at every date: UTC itself, or a fixed offset of 0 (a
    /// zone on UTC today, such as Africa/Monrovia, may not have been).
    var isUTC: Bool { ["UTC", "GMT", "+00:00", "-00:00"].contains(name) }

    /// The offset from UTC at `time`, in microseconds.
    func offsetMicros(at micros: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(micros) / 1_000_000))) * 1_000_000
    }

    /// The local day (since 1970-01-01 in the zone's calendar) `time` falls on.
    public func day(of time: Timestamp) -> Int64 {
        let local = time.microsecondsSince1970 + offsetMicros(at: time.microsecondsSince1970)
        let day: Int64 = 86_400_000_000
        return local >= 0 ? local / day : -((-local + day - 1) / day)
    }

    /// The minute after local midnight `time` is at (0 to 1,439), for the interactions' time of day.
    public func minuteOfDay(_ time: Timestamp) -> Int {
        let local = time.microsecondsSince1970 / 1_000_000 + offsetMicros(at: time.microsecondsSince1970) / 1_000_000
        return Int((local % 86_400 + 86_400) % 86_400 / 60)
    }

    /// Where local day `day` begins: its first instant, local midnight, or the instant a clock
    /// change that skips midnight lands on (Havana's spring), or the next day's start for a day
    /// the zone skipped (Apia's 2011-12-30).
    public func startOfDay(_ day: Int64) -> Timestamp {
        let hour: Int64 = 3_600_000_000
        let midnight = day * 86_400_000_000
        func localDay(_ micros: Int64) -> Int64 { self.day(of: Timestamp(microsecondsSince1970: micros)) }
        func isStart(_ micros: Int64) -> Bool { localDay(micros) >= day && localDay(micros - 1) < day }
        // Midnight under the offset of the day before and of the day after: the start is one
        // of them unless a change skips midnight.
        let candidates = [midnight - offsetMicros(at: midnight - 24 * hour), midnight - offsetMicros(at: midnight + 24 * hour)].sorted()
        if let start = candidates.first(where: isStart) { return Timestamp(microsecondsSince1970: start) }
        // Midnight skipped: the first instant of the day is the change itself, between the two
        // (whole seconds: changes fall on them).
        var low = candidates[0] / 1_000_000 - 1
        var high = candidates[1] / 1_000_000 + 1
        while high - low > 1 {
            let middle = (low + high) / 2
            if localDay(middle * 1_000_000) >= day { high = middle } else { low = middle }
        }
        return Timestamp(microsecondsSince1970: high * 1_000_000)
    }

    /// The days a query's `startDate` and `endDate` name, in this zone: a date is that day; a
    /// time is the day it falls on here (`endDate`: the day of the instant just before it,
    /// as the range ends there). `start` and `end` are the instants ``QueryTime/parse(_:endOfDay:)``
    /// made of the same texts. Throws ``DayRange/Failure`` for a range that is reversed, too
    /// long, or whose days do not start on a quarter-hour.
    public func days(startText: String, start: Timestamp, endText: String, end: Timestamp) throws(DayRange.Failure) -> DayRange {
        let first = startText.utf8.count == 10 ? QueryTimeZone.utcDay(of: start) : day(of: start)
        let endDay = endText.utf8.count == 10 ? QueryTimeZone.utcDay(of: end) : day(of: end)
        // A date's end is the next midnight; a time's is itself: the last day is the one before it ends.
        let last = endText.utf8.count == 10 ? endDay - 1 : day(of: Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 1))
        if isUTC { return try DayRange(first: first, last: last, timeZone: name) { Timestamp(microsecondsSince1970: $0 * 86_400_000_000) } }
        return try DayRange(first: first, last: last, timeZone: name) { startOfDay($0) }
    }

    private static func utcDay(of time: Timestamp) -> Int64 { DayRange.day(of: time) }
}
