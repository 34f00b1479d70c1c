public import EventLog
import Foundation
import Hummingbird
import LMDBLog
import PlayheadCore
import Views
import WatchDomain

/// Reading path parameters, query parameters and JSON bodies, with a ``Problem`` naming
/// the field for anything that is missing or malformed.
extension Request {
    /// Decodes the JSON body (at most `limit` bytes) as `T` with ``StrictJSONDecoder``.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int = 1 << 16) async throws -> T {
        try Self.decode(T.self, from: try await jsonBody(limit: limit))
    }

    /// Decodes the JSON body (at most `limit` bytes) as `T`: through ``FlatJSONObject`` when
    /// the body has the flat shape and `T` takes its members, else with ``StrictJSONDecoder``.
    func decodeJSON<T: FlatDecodable>(_ type: T.Type, limit: Int = 1 << 16) async throws -> T {
        let buffer = try await jsonBody(limit: limit)
        if let value = buffer.withUnsafeReadableBytes({ FlatJSONObject($0).flatMap(T.init(flat:)) }) { return value }
        return try Self.decode(T.self, from: buffer)
    }

    /// The whole body, at most `limit` bytes; a 400 when there is none.
    private func jsonBody(limit: Int) async throws -> ByteBuffer {
        let buffer = try await body.collect(upTo: limit)
        guard buffer.readableBytes > 0 else { throw Problem.badField("body", "the request needs a JSON body") }
        return buffer
    }

    private static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        do {
            return try StrictJSONDecoder().decode(T.self, from: buffer.readableBytesView)
        } catch let error as DecodingError {
            throw problem(error)
        }
    }

    private static func problem(_ error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .badField(field, "\(field) is required")
        case .typeMismatch(_, let context) where context.codingPath.isEmpty, .valueNotFound(_, let context) where context.codingPath.isEmpty:
            return .badField("body", "the body must be a JSON object")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .badField(field, "\(field) must be \(describe(type))")
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            let field = path(context.codingPath)
            return .badField(field, "\(field) is not valid: \(context.debugDescription)")
        default:
            return .badField("body", "the body is not valid JSON")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: "a whole number"
        case is Double.Type: "a number"
        case is FlexibleID.Type: "a string or a whole number"
        case is [String: Any].Type: "an object"
        case is any Collection.Type: "an array"
        default: "of type \(type)"
        }
    }
}

extension PlayheadRequestContext {
    /// The path parameter `name`, percent-decoded (`zo%C3%AB` is `zoë`); a 400 when it is
    /// missing or not valid UTF-8 once decoded.
    func pathParameter(_ name: String) throws -> String {
        guard let raw = parameters.get(name) else { throw Problem.badField(name, "\(name) is required") }
        // Most ids need no escaping; Foundation's decoder is slow enough to show in a profile.
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        guard let text = raw.removingPercentEncoding else {
            throw Problem.badField(name, "\(name) must be a percent-encoded UTF-8 path segment")
        }
        return text
    }

    /// The path parameter `name` as a UUID (400 when it is not one).
    func uuidParameter(_ name: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(hexadecimal: text) else {
            throw Problem.badField(name, "\(name) must be a UUID")
        }
        return id
    }
}

/// The range of a metrics query: `startDate` and `endDate` as ISO 8601 dates
/// (`2026-01-31`, the whole day) or times (`2026-01-31T12:00:00Z`, offsets allowed).
struct DateRange {
    /// The first instant in the range.
    var start: Timestamp
    /// The first instant after it.
    var end: Timestamp

    /// 9999-12-31T00:00:00Z: later ends would need five-digit years to answer with.
    static let lastDay: Int64 = 253_402_214_400_000_000
    /// 0001-01-01T00:00:00Z: earlier times would need years before 1 to answer with.
    static let firstDay: Int64 = -62_135_596_800_000_000

    /// The range a request's query names; a missing, malformed or reversed range is a 400.
    init(query request: Request, maxDays: Int64) throws {
        let query = request.uri.queryParameters
        func parse(_ name: String, endOfDay: Bool) throws -> Timestamp {
            guard let text = query.get(name), !text.isEmpty else { throw Problem.badField(name, "\(name) is required") }
            guard let time = QueryTime.parse(text, endOfDay: endOfDay) else {
                throw Problem.badField(name, "\(name) must be an ISO 8601 date (2026-01-31) or time (2026-01-31T12:00:00Z)")
            }
            return time
        }
        start = try parse("startDate", endOfDay: false)
        end = try parse("endDate", endOfDay: true)
        guard start < end else { throw Problem.badField("endDate", "endDate must be after startDate") }
        guard start.microsecondsSince1970 >= Self.firstDay else {
            throw Problem.badField("startDate", "startDate must be on or after 0001-01-01")
        }
        guard end.microsecondsSince1970 < Self.lastDay else { throw Problem.badField("endDate", "endDate must be before 9999-12-31") }
        guard end.microsecondsSince1970 - start.microsecondsSince1970 <= maxDays * 86_400_000_000 else {
            throw Problem.badField("endDate", "the range may span at most \(maxDays) days")
        }
    }
}

/// Parses the ISO 8601 forms a query accepts.
public enum QueryTime {
    /// `YYYY-MM-DD` (its midnight, or the next midnight when `endOfDay`), or
    /// `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or `±HH:MM`.
    public static func parse(_ text: String, endOfDay: Bool) -> Timestamp? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for index in range {
                guard (48...57).contains(bytes[index]) else { return nil }
                value = value * 10 + Int64(bytes[index] - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            (1...12).contains(month), (1...daysIn(month, year)).contains(day)
        else { return nil }
        let midnight = daysFromEpoch(year, month, day) * 86_400_000_000
        if bytes.count == 10 { return Timestamp(microsecondsSince1970: midnight + (endOfDay ? 86_400_000_000 : 0)) }
        guard bytes.count >= 17, bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "), bytes[13] == UInt8(ascii: ":"),
            let hour = number(11..<13), let minute = number(14..<16), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second: Int64 = 0
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
            // 60 only for a leap second, which UTC timestamps here do not count: refused.
            guard let value = number(17..<19), value < 60 else { return nil }
            second = value
            index = 19
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                var digits = 0
                while index < bytes.count, (48...57).contains(bytes[index]) {
                    if digits < 6 { micros = micros * 10 + Int64(bytes[index] - 48) }
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
                if digits < 6 { for _ in digits..<6 { micros *= 10 } }
            }
        }
        var offset: Int64 = 0
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "Z") {
            guard index + 1 == bytes.count else { return nil }
        } else {
            guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), bytes.count == index + 6,
                bytes[index + 3] == UInt8(ascii: ":"),
                let offsetHours = number((index + 1)..<(index + 3)), let offsetMinutes = number((index + 4)..<(index + 6)),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offset = (offsetHours * 60 + offsetMinutes) * 60_000_000 * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        }
        let time = midnight + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros - offset
        return Timestamp(microsecondsSince1970: time)
    }

    private static func daysIn(_ month: Int64, _ year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromEpoch(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// Values inside JSON bodies.
enum BodyValue {
    /// An ISO 8601 date and time (`2026-01-31T12:00:00Z`, fractions and offsets allowed).
    static func time(_ text: String, field: String) throws -> Timestamp {
        guard text.utf8.count > 10, let time = QueryTime.parse(text, endOfDay: false) else {
            throw Problem.badField(field, "\(field) must be an ISO 8601 time such as 2026-01-31T12:00:00Z")
        }
        guard (DateRange.firstDay..<DateRange.lastDay).contains(time.microsecondsSince1970) else {
            throw Problem.badField(field, "\(field) must be from 0001-01-01 to before 9999-12-31")
        }
        return time
    }

    /// A `HH:MM:SS` timecode, in milliseconds.
    static func timecode(_ text: String, field: String) throws -> UInt64 {
        guard let millis = Timecode.parse(text) else {
            throw Problem.badField(field, "\(field) must be a duration HH:MM:SS (at most 10000:00:00)")
        }
        return millis
    }

    /// A number of seconds, at least 0 and at most `maximum`, as milliseconds.
    static func secondsAsMillis(_ value: Double, field: String, maximum: Double = 36_000_000) throws -> UInt64 {
        guard value.isFinite, value >= 0, value <= maximum else {
            throw Problem.badField(field, "\(field) must be a number of seconds from 0 to \(Int(maximum))")
        }
        return UInt64((value * 1_000).rounded())
    }
}

/// `limit` and `offset` of a paginated list.
struct Pagination {
    /// The most items a page may have.
    static let maxLimit = 200
    /// The furthest a page may start.
    static let maxOffset = 1_000_000

    var limit: Int
    var offset: Int

    /// Reads the query; `limit` defaults to `defaultLimit`, `offset` to 0.
    init(query request: Request, defaultLimit: Int = 50) throws {
        let query = request.uri.queryParameters
        func number(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
            guard let text = query.get(name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw Problem.badField(name, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        limit = try number("limit", default: defaultLimit, in: 1...Self.maxLimit)
        offset = try number("offset", default: 0, in: 0...Self.maxOffset)
    }
}
