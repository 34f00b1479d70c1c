import EventLog
import Foundation
import LMDBLog
import WatchDomain

/// The JSON form of domain payloads inside a line: the `Codable` form of the event type the
/// catalog names (Docs/events.md), keys sorted.
enum PayloadJSON {
    private static let byName: [String: any DomainEvent.Type] = Dictionary(
        uniqueKeysWithValues: EventCatalog.types.map { ($0.eventType, $0) }
    )

    /// How each domain event type's payload is written: by its hand-written writer
    /// (``PayloadWriters``), else through ``SortedJSONEncoder``.
    private static let writers: [String: @Sendable (UnsafeRawBufferPointer, inout [UInt8]) -> Bool] = {
        var writers = PayloadWriters.byName
        for type in EventCatalog.types where writers[type.eventType] == nil {
            writers[type.eventType] = { payload, out in append(type, payload: payload, to: &out) }
        }
        return writers
    }()

    /// Whether `type` has a hand-written writer.
    static func isHandWritten(_ type: String) -> Bool { PayloadWriters.byName[type] != nil }

    /// Appends the JSON form of a stored payload of `type` (UTF-8 bytes) and returns true;
    /// returns false, leaving `out` as it was, when `type` is not a domain event or the
    /// payload does not decode as one (a damaged payload, or one of a newer schema).
    static func append(type: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        guard let write = writers[String(decoding: type, as: UTF8.self)] else { return false }
        return write(payload, &out)
    }

    /// Appends the payload through ``SortedJSONEncoder``, the way for a type without a
    /// hand-written writer (and what the tests compare the writers with).
    static func appendEncoded(type: String, payload: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        guard let eventType = byName[type] else { return false }
        return append(eventType, payload: payload, to: &out)
    }

    private static func append<Event: DomainEvent>(_ type: Event.Type, payload: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        guard let event = try? Event.decode(payload) else { return false }
        do {
            try SortedJSONEncoder.append(event, to: &out)
            return true
        } catch is SortedJSONEncoder.Unsupported {
            // A value the fast encoder leaves to Foundation (none of today's events has one).
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(event) else { return false }
            out.append(contentsOf: data)
            return true
        } catch {
            return false
        }
    }

    /// The stored payload (current schema) of the JSON form `json` of an event of `type`;
    /// nil when `type` is not a domain event.
    ///
    /// - Throws: the `DecodingError` of a payload that does not fit the type.
    static func payload(type: String, json: UnsafeRawBufferPointer) throws -> [UInt8]? {
        guard let eventType = byName[type] else { return nil }
        return try payload(eventType, json: json)
    }

    /// Read in place by ``ScannedJSONDecoder``; whatever it leaves, by `JSONDecoder`.
    static func payload<Event: DomainEvent>(_ type: Event.Type, json: UnsafeRawBufferPointer) throws -> [UInt8] {
        if let event = try? ScannedJSONDecoder.decode(Event.self, from: json) { return event.encoded() }
        return try JSONDecoder().decode(Event.self, from: Data(json)).encoded()
    }
}
