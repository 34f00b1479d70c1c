public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A fact of the domain, stored in the log as an event of type ``eventType`` whose payload
/// is the compact binary form, and shown in exports as JSON (its `Codable` form).
///
/// The binary form is one schema-version byte followed by the fields in a fixed order
/// (see ``BinaryWriter``). A type that gains a field bumps ``schemaVersion`` and appends
/// the field; its decoder reads the field only from payloads of that version on, so every
/// payload ever stored still decodes. Docs/events.md keeps the history of each type.
public protocol DomainEvent: Sendable, Hashable, Codable {
    /// The stable type name stored with the event, e.g. `user-session.started`.
    static var eventType: String { get }
    /// The schema version this build writes.
    static var schemaVersion: UInt8 { get }
    /// The stream the event belongs to.
    var stream: String { get }
    /// Writes the fields after the version byte.
    func encodeFields(to writer: inout BinaryWriter)
    /// Reads the fields of a payload written with schema `version` (1 through ``schemaVersion``).
    init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError)
    /// Checks what the codec can't: lengths and ranges of the fields. Events a command
    /// handler decides pass by construction; an import checks every event it reads.
    func validate() throws(DomainCodecError)
}

extension DomainEvent {
    /// No constraint beyond the codec's.
    public func validate() throws(DomainCodecError) {}

    /// The stored payload: the schema version, then the fields.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.schemaVersion)
        encodeFields(to: &writer)
        return writer.bytes
    }

    /// Decodes a stored payload of any schema version up to this build's.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(DomainCodecError) -> Self {
        var reader = BinaryReader(payload)
        let version = try reader.readByte()
        guard (1...schemaVersion).contains(version) else {
            throw DomainCodecError("\(eventType) schema version \(version) is not one this build reads (1 to \(schemaVersion))")
        }
        return try Self(fieldsFrom: &reader, version: version)
    }

    /// Decodes a stored payload held in an array.
    public static func decode(_ payload: [UInt8]) throws(DomainCodecError) -> Self {
        do {
            return try payload.withUnsafeBytes { try decode($0) }
        } catch let error as DomainCodecError {
            throw error
        } catch {
            throw DomainCodecError("\(error)")
        }
    }

    /// The event as the log appends it.
    public func proposed(actor: String, correlationID: UUID? = nil) -> ProposedEvent {
        ProposedEvent(type: Self.eventType, stream: stream, payload: encoded(), correlationID: correlationID, actor: actor)
    }
}

/// Every domain event type by name: the JSON form of a stored payload for exports and
/// tails, and the stored payload of a JSON form for imports.
public enum EventCatalog {
    /// The event types this build knows.
    public static let types: [any DomainEvent.Type] =
        UserSessionEvents.all + WatchSessionEvents.all + VideoProgressEvents.all + InteractionEvents.all + WatchPartyEvents.all

    private static let byName: [String: any DomainEvent.Type] = Dictionary(
        uniqueKeysWithValues: types.map { ($0.eventType, $0) }
    )

    /// Whether `type` names a domain event.
    public static func knows(_ type: String) -> Bool { byName[type] != nil }

    /// The JSON form (keys sorted) of a stored payload, nil when `type` is not a domain event.
    public static func json(type: String, payload: [UInt8]) throws -> Data? {
        guard let eventType = byName[type] else { return nil }
        return try json(of: eventType, payload: payload)
    }

    /// Checks a stored domain event from outside (an import): its payload decodes as `type`,
    /// its fields are valid and it belongs to `stream`. Types the catalog does not know pass.
    public static func check(type: String, stream: String, payload: [UInt8]) throws(DomainCodecError) {
        guard let eventType = byName[type] else { return }
        try check(eventType, stream: stream, payload: payload)
    }

    private static func check<Event: DomainEvent>(_ type: Event.Type, stream: String, payload: [UInt8]) throws(DomainCodecError) {
        let event = try Event.decode(payload)
        try event.validate()
        // Bytes, not `String` equality: `progress/zoe\u{308}` is another stream than `progress/zo\u{EB}`.
        guard event.stream.utf8.elementsEqual(stream.utf8) else {
            throw DomainCodecError("a \(Event.eventType) event of \(event.stream) can't be stored in \(stream)")
        }
    }

    /// The stored payload of a JSON form, nil when `type` is not a domain event.
    public static func payload(type: String, json: Data) throws -> [UInt8]? {
        guard let eventType = byName[type] else { return nil }
        return try JSONDecoder().decode(eventType, from: json).encoded()
    }

    private static func json<Event: DomainEvent>(of type: Event.Type, payload: [UInt8]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Event.decode(payload))
    }
}
