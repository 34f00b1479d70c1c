import EventLog
import Foundation

/// The NDJSON line of one stored event, as `tail` and `export` print it and `import` reads
/// it (see Docs/events.md).
enum EventLine {
    /// The line for `event`, keys sorted, ending in a newline.
    static func encode(_ event: RecordedEvent) -> Data {
        var object: [String: Any] = [
            "position": event.position,
            "type": event.type,
            "stream": event.stream,
            "streamVersion": event.streamVersion,
            "recordedAt": ISO8601Micros.format(event.recordedAt),
            "eventId": event.eventID.uuidString.lowercased(),
            "payloadBase64": Data(event.payload).base64EncodedString(),
        ]
        if let occurredAt = event.occurredAt { object["occurredAt"] = ISO8601Micros.format(occurredAt) }
        if let correlation = event.correlationID { object["correlationId"] = correlation.uuidString.lowercased() }
        if let causation = event.causationID { object["causationId"] = causation.uuidString.lowercased() }
        if !event.actor.isEmpty { object["actor"] = event.actor }
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(0x0A)
        return data
    }

    /// The event a line describes, to append again with its id and recorded-at time. Its
    /// `position` and `streamVersion` are checked for form only: the log assigns its own.
    static func decode(_ line: Data, lineNumber: Int) throws -> ProposedEvent {
        func fail(_ field: String, _ reason: String) -> EventLineError {
            EventLineError(line: lineNumber, field: field, reason: reason)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
            throw fail("", "not a JSON object")
        }
        func string(_ key: String, required: Bool = true) throws -> String? {
            switch object[key] {
            case let value as String: return value
            case nil where !required: return nil
            case nil: throw fail(key, "is missing")
            default: throw fail(key, "must be a string")
            }
        }
        func uuid(_ key: String, required: Bool = true) throws -> UUID? {
            guard let text = try string(key, required: required) else { return nil }
            guard let value = UUID(uuidString: text) else { throw fail(key, "is not a UUID") }
            return value
        }
        func timestamp(_ key: String, required: Bool = true) throws -> Timestamp? {
            guard let text = try string(key, required: required) else { return nil }
            guard let value = ISO8601Micros.parse(text) else { throw fail(key, "is not an ISO 8601 UTC time like 2026-01-31T12:00:00.000000Z") }
            return value
        }
        for key in ["position", "streamVersion"] {
            guard let number = object[key] as? NSNumber, let whole = Int64(exactly: number.doubleValue), whole >= 1 else {
                throw fail(key, "must be a whole number of at least 1")
            }
        }
        guard let payloadText = try string("payloadBase64"), let payload = Data(base64Encoded: payloadText) else {
            throw fail("payloadBase64", "is not base64")
        }
        guard let type = try string("type"), let stream = try string("stream"), let eventID = try uuid("eventId"),
            let recordedAt = try timestamp("recordedAt")
        else { throw fail("", "is incomplete") }
        return ProposedEvent(
            type: type,
            stream: stream,
            payload: Array(payload),
            eventID: eventID,
            occurredAt: try timestamp("occurredAt", required: false),
            correlationID: try uuid("correlationId", required: false),
            causationID: try uuid("causationId", required: false),
            actor: try string("actor", required: false) ?? "",
            recordedAt: recordedAt
        )
    }
}

extension EventLine {
    /// Writes the events from `first` through `last` (at most `limit` of them) to `handle`,
    /// 4,096 lines per write, and returns how many it wrote.
    @discardableResult
    static func write(
        from log: LMDBEventLog,
        first: LogPosition,
        last: LogPosition = .max,
        limit: Int = .max,
        to handle: FileHandle
    ) throws -> Int {
        var next = max(first, 1)
        var written = 0
        while written < limit && next <= last {
            let events = try log.read(from: next, limit: Int(min(4096, UInt64(limit - written), last - next + 1)))
            guard let final = events.last else { break }
            var chunk = Data()
            for event in events { chunk.append(encode(event)) }
            try handle.write(contentsOf: chunk)
            written += events.count
            next = final.position + 1
        }
        return written
    }
}

/// A line of an NDJSON file that cannot be imported.
struct EventLineError: Error, CustomStringConvertible {
    var line: Int
    var field: String
    var reason: String

    var description: String { "line \(line): " + (field.isEmpty ? reason : "\(field) \(reason)") }
}

/// ISO 8601 in UTC with exactly six fractional digits, so that no microsecond is lost.
enum ISO8601Micros {
    static func format(_ timestamp: Timestamp) -> String {
        let micros = timestamp.microsecondsSince1970
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            Int(fraction)
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f…]Z` (up to six fractional digits); nil otherwise.
    static func parse(_ text: String) -> Timestamp? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard bytes[index] >= 48 && bytes[index] <= 57 else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            return value
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == UInt8(ascii: $0.1.unicodeScalars.first ?? "?") }),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros = 0
        if bytes.count > 20 {
            let digits = bytes.count - 21
            guard bytes[19] == UInt8(ascii: "."), (1...6).contains(digits), let fraction = number(20..<(20 + digits)) else { return nil }
            micros = fraction * [100_000, 10_000, 1_000, 100, 10, 1][digits - 1]
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = Int64(timegm(&parts))
        return Timestamp(microsecondsSince1970: seconds * 1_000_000 + Int64(micros))
    }
}

/// Reads a file line by line without loading it whole.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0

    init(path: String) throws {
        guard let file = fopen(path, "r") else {
            throw EventLineError(line: 0, field: "", reason: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// The next line without its newline, nil at the end of the file.
    func next() -> Data? {
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return nil }
        var count = length
        if count > 0 && buffer[count - 1] == 0x0A { count -= 1 }
        return Data(bytes: buffer, count: count)
    }
}
