import EventLog
import Foundation
import Projections
import Testing
import WatchDomain

@testable import PlayheadServer

/// ``QueryTimeZone``: which zones `tz` names, and where their days begin, clock changes and
/// history included (Foundation's time-zone database, Debian's tzdata).
@Suite("Query time zones")
struct QueryTimeZoneTests {
    static func time(_ text: String) throws -> Timestamp { try #require(ISO8601Micros.parse(text)) }

    static func day(_ text: String) throws -> Int64 { DayRange.day(of: try time(text + "T00:00:00Z")) }

    @Test("names: IANA zones, UTC and offsets; nothing with other characters (a NUL would name a zone and echo another)")
    func names() {
        for name in ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "+05:45", "-03:30", "+14:00"] {
            #expect(QueryTimeZone(name)?.name == name, "\(name)")
        }
        for name in [
            "", "America/New_York\u{0}", "UTC\u{0}x", "Europe/Paris ", "Mars/Olympus", "+15:00", "+5:45", "../etc/passwd",
            String(repeating: "A", count: 100),
        ] {
            #expect(QueryTimeZone(name) == nil, "\(name.debugDescription)")
        }
    }

    @Test("days begin at local midnight, or where a clock change that skips it lands; a skipped day is empty")
    func startsOfDays() throws {
        let cases: [(zone: String, date: String, start: String)] = [
            ("America/New_York", "2026-01-15", "2026-01-15T05:00:00Z"),
            ("America/New_York", "2026-07-15", "2026-07-15T04:00:00Z"),
            // Spring forward at midnight, west of UTC: 00:00 EST becomes 01:00 CDT.
            ("America/Havana", "2026-03-08", "2026-03-08T05:00:00Z"),
            ("America/Sao_Paulo", "2018-11-04", "2018-11-04T03:00:00Z"),
            // On UTC today, not then: +01:00 in 2018.
            ("Africa/Sao_Tome", "2018-06-02", "2018-06-01T23:00:00Z"),
            ("Asia/Kathmandu", "2026-12-01", "2026-11-30T18:15:00Z"),
            // Apia skipped 2011-12-30: it begins where the 31st does.
            ("Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00Z"),
            ("Pacific/Apia", "2011-12-31", "2011-12-30T10:00:00Z"),
        ]
        for (name, date, start) in cases {
            let zone = try #require(QueryTimeZone(name))
            let expected = try Self.time(start)
            #expect(zone.startOfDay(try Self.day(date)) == expected, "\(name) \(date)")
        }
    }

    @Test("a range in a zone whose days did not start on a quarter-hour then is refused, whatever its offset today")
    func historicalOffsets() throws {
        let monrovia = try #require(QueryTimeZone("Africa/Monrovia"))
        let start = try Self.time("1971-06-01T00:00:00Z")
        let end = try Self.time("1971-06-02T00:00:00Z")
        #expect(throws: DayRange.Failure.self) { try monrovia.days(startText: "1971-06-01", start: start, endText: "1971-06-01", end: end) }
        let today = try Self.time("2026-06-01T00:00:00Z")
        let range = try monrovia.days(startText: "2026-06-01", start: today, endText: "2026-06-01", end: try Self.time("2026-06-02T00:00:00Z"))
        #expect(range.timeZone == "Africa/Monrovia" && range.start == today)
    }
}
