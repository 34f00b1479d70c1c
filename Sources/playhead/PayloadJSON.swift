import EventLog
import Foundation
import WatchDomain

/// The JSON form of domain payloads inside a line: the `Codable` form of the event type the
/// catalog names (Docs/events.md), keys sorted.
enum PayloadJSON {
    private static let byName: [String: any DomainEvent.Type] = Dictionary(
        uniqueKeysWithValues: EventCatalog.types.map { ($0.eventType, $0) }
    )

    /// Appends the JSON form of a stored payload of `type` (UTF-8 bytes) and returns true;
    /// returns false, leaving `out` as it was, when `type` is not a domain event or the
    /// payload does not decode as one (a damaged payload, or one of a newer schema).
    static func append(type: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        guard let eventType = byName[String(decoding: type, as: UTF8.self)] else { return false }
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

    private static func payload<Event: DomainEvent>(_ type: Event.Type, json: UnsafeRawBufferPointer) throws -> [UInt8] {
        try JSONDecoder().decode(Event.self, from: Data(json)).encoded()
    }
}
