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

    /// The zone `text` names, or nil when it names none.
    public init?(_ text: String) {
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

    /// Whether its days are UTC days.
    var isUTC: Bool { zone.secondsFromGMT() == 0 && zone.nextDaylightSavingTimeTransition == nil }

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

    /// Where local day `day` begins: local midnight, or the first instant after it when a
    /// clock change skips midnight.
    public func startOfDay(_ day: Int64) -> Timestamp {
        let midnight = day * 86_400_000_000
        // The offset at midnight depends on the instant, which depends on the offset: twice
        // settles it (a change at midnight itself gives the instant the day's clock starts).
        var start = midnight - offsetMicros(at: midnight)
        start = midnight - offsetMicros(at: start)
        return Timestamp(microsecondsSince1970: start)
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
