import EventLog
import Foundation
import WatchDomain

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
        ]
        // A domain event shows its JSON form; anything else (or a payload that no longer
        // decodes) its bytes in base64.
        if let json = try? EventCatalog.json(type: event.type, payload: event.payload),
            let payload = try? JSONSerialization.jsonObject(with: json)
        {
            object["payload"] = payload
        } else {
            object["payloadBase64"] = Data(event.payload).base64EncodedString()
        }
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
        guard let type = try string("type"), let stream = try string("stream"), let eventID = try uuid("eventId"),
            let recordedAt = try timestamp("recordedAt")
        else { throw fail("", "is incomplete") }
        let payload: [UInt8]
        if let json = object["payload"] {
            guard JSONSerialization.isValidJSONObject(json), let data = try? JSONSerialization.data(withJSONObject: json) else {
                throw fail("payload", "must be a JSON object")
            }
            do {
                guard let encoded = try EventCatalog.payload(type: type, json: data) else {
                    throw fail("payload", "is only for domain event types; \(type) needs payloadBase64")
                }
                payload = encoded
            } catch let error as EventLineError {
                throw error
            } catch {
                throw fail("payload", "does not match \(type): \(error)")
            }
        } else {
            guard let payloadText = try string("payloadBase64"), let bytes = Data(base64Encoded: payloadText) else {
                throw fail("payloadBase64", "is not base64")
            }
            payload = Array(bytes)
        }
        do {
            try EventCatalog.check(type: type, stream: stream, payload: payload)
        } catch {
            throw fail(object["payload"] == nil ? "payloadBase64" : "payload", "is not a valid \(type) event: \(error)")
        }
        return ProposedEvent(
            type: type,
            stream: stream,
            payload: payload,
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
