public import EventLog
import Foundation
public import LMDBLog
import WatchDomain

/// The fields of one stored event that its line shows, viewed without copying: the bytes
/// are valid only as long as the record or event they come from.
struct EventFields {
    var position: LogPosition
    var streamVersion: UInt64
    var recordedAt: Timestamp
    var occurredAt: Timestamp?
    var eventID: UUID
    var correlationID: UUID?
    var causationID: UUID?
    /// The type name's UTF-8 bytes.
    var type: UnsafeRawBufferPointer
    /// The stream id's UTF-8 bytes.
    var stream: UnsafeRawBufferPointer
    /// The actor's UTF-8 bytes (empty: no actor).
    var actor: UnsafeRawBufferPointer
    /// The stored payload.
    var payload: UnsafeRawBufferPointer
}

/// The NDJSON line of one stored event, as `tail` and `export` print it and `import` reads
/// it (Docs/events.md, "NDJSON form").
///
/// The line is written and read by hand, byte by byte: Foundation's `JSONSerialization`
/// with sorted keys, which wrote it before, managed about 12,000 events/s. What it writes is
/// the same text, byte for byte: the keys sorted, absent optional fields left out, a
/// domain event's payload as its `Codable` form with sorted keys, anything else as
/// `payloadBase64`. `Tests/EventTextTests/EventLineTests.swift` compares the two on every
/// event type, with strings that need escaping, non-ASCII text and control characters.
public enum EventLine {
    /// Appends the line of `record`, ending in a newline, to `out`.
    public static func append(_ record: EventRecord, to out: inout [UInt8]) {
        append(
            EventFields(
                position: record.position,
                streamVersion: record.streamVersion,
                recordedAt: record.recordedAt,
                occurredAt: record.occurredAt,
                eventID: record.eventID,
                correlationID: record.correlationID,
                causationID: record.causationID,
                type: record.typeBytes,
                stream: record.streamBytes,
                actor: record.actorBytes,
                payload: record.payload
            ),
            to: &out
        )
    }

    /// The line of `event`, ending in a newline.
    public static func encode(_ event: RecordedEvent) -> [UInt8] {
        var type = event.type
        var stream = event.stream
        var actor = event.actor
        var out: [UInt8] = []
        out.reserveCapacity(256 + event.payload.count * 2)
        type.withUTF8 { type in
            stream.withUTF8 { stream in
                actor.withUTF8 { actor in
                    event.payload.withUnsafeBytes { payload in
                        append(
                            EventFields(
                                position: event.position,
                                streamVersion: event.streamVersion,
                                recordedAt: event.recordedAt,
                                occurredAt: event.occurredAt,
                                eventID: event.eventID,
                                correlationID: event.correlationID,
                                causationID: event.causationID,
                                type: UnsafeRawBufferPointer(type),
                                stream: UnsafeRawBufferPointer(stream),
                                actor: UnsafeRawBufferPointer(actor),
                                payload: payload
                            ),
                            to: &out
                        )
                    }
                }
            }
        }
        return out
    }

    /// Appends the line of `event`, ending in a newline, to `out`: its keys in sorted order
    /// (`actor`, `causationId`, `correlationId`, `eventId`, `occurredAt`, `payload` or
    /// `payloadBase64`, `position`, `recordedAt`, `stream`, `streamVersion`, `type`).
    static func append(_ event: EventFields, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        if !event.actor.isEmpty {
            key("actor", to: &out)
            JSONBytes.appendQuoted(event.actor, to: &out)
            out.append(UInt8(ascii: ","))
        }
        if let causation = event.causationID {
            key("causationId", to: &out)
            JSONBytes.appendQuotedUUID(causation, to: &out)
            out.append(UInt8(ascii: ","))
        }
        if let correlation = event.correlationID {
            key("correlationId", to: &out)
            JSONBytes.appendQuotedUUID(correlation, to: &out)
            out.append(UInt8(ascii: ","))
        }
        key("eventId", to: &out)
        JSONBytes.appendQuotedUUID(event.eventID, to: &out)
        out.append(UInt8(ascii: ","))
        if let occurredAt = event.occurredAt {
            key("occurredAt", to: &out)
            JSONBytes.appendQuotedTime(occurredAt, to: &out)
            out.append(UInt8(ascii: ","))
        }
        // A domain event shows its JSON form; anything else (or a payload that no longer
        // decodes, one of a newer schema, say) its bytes in base64.
        let payloadKeyStart = out.count
        key("payload", to: &out)
        if !PayloadJSON.append(type: event.type, payload: event.payload, to: &out) {
            out.removeSubrange(payloadKeyStart...)
            key("payloadBase64", to: &out)
            JSONBytes.appendQuotedBase64(event.payload, to: &out)
        }
        out.append(UInt8(ascii: ","))
        key("position", to: &out)
        JSONBytes.appendDecimal(event.position, to: &out)
        out.append(UInt8(ascii: ","))
        key("recordedAt", to: &out)
        JSONBytes.appendQuotedTime(event.recordedAt, to: &out)
        out.append(UInt8(ascii: ","))
        key("stream", to: &out)
        JSONBytes.appendQuoted(event.stream, to: &out)
        out.append(UInt8(ascii: ","))
        key("streamVersion", to: &out)
        JSONBytes.appendDecimal(event.streamVersion, to: &out)
        out.append(UInt8(ascii: ","))
        key("type", to: &out)
        JSONBytes.appendQuoted(event.type, to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
    }

    /// `"name":`
    private static func key(_ name: StaticString, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }
}

// MARK: - Reading a line

extension EventLine {
    /// The event a line describes; see ``LineDecoder/decode(_:lineNumber:)``.
    public static func decode(_ line: UnsafeRawBufferPointer, lineNumber: Int) throws(EventLineError) -> ProposedEvent {
        var decoder = LineDecoder()
        return try decoder.decode(line, lineNumber: lineNumber)
    }
}

/// Reads lines of the NDJSON format. One decoder per thread: it remembers the last event
/// type it saw, as the lines of an export mostly repeat a few.
public struct LineDecoder {
    /// The keys of the line format.
    private enum Key: Int, CaseIterable {
        case actor, causationId, correlationId, eventId, occurredAt, payload, payloadBase64, position, recordedAt, stream,
            streamVersion, type

        var name: String {
            switch self {
            case .actor: "actor"
            case .causationId: "causationId"
            case .correlationId: "correlationId"
            case .eventId: "eventId"
            case .occurredAt: "occurredAt"
            case .payload: "payload"
            case .payloadBase64: "payloadBase64"
            case .position: "position"
            case .recordedAt: "recordedAt"
            case .stream: "stream"
            case .streamVersion: "streamVersion"
            case .type: "type"
            }
        }

        private static let names: [[UInt8]] = allCases.map { Array($0.name.utf8) }

        /// The key spelled by `bytes`, nil for none of the format's.
        static func match(_ bytes: UnsafeRawBufferPointer) -> Key? {
            guard let first = bytes.first else { return nil }
            let candidate: Key?
            switch (bytes.count, first) {
            case (4, _): candidate = .type
            case (5, _): candidate = .actor
            case (6, _): candidate = .stream
            case (7, UInt8(ascii: "e")): candidate = .eventId
            case (7, _): candidate = .payload
            case (8, _): candidate = .position
            case (10, UInt8(ascii: "o")): candidate = .occurredAt
            case (10, _): candidate = .recordedAt
            case (11, _): candidate = .causationId
            case (13, UInt8(ascii: "c")): candidate = .correlationId
            case (13, UInt8(ascii: "p")): candidate = .payloadBase64
            case (13, _): candidate = .streamVersion
            default: candidate = nil
            }
            guard let candidate else { return nil }
            let matches = names[candidate.rawValue].withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
            return matches ? candidate : nil
        }
    }

    /// Where a key's value is in the line.
    private struct Value {
        var range: Range<Int>
        /// The string's token, when the value is a string.
        var string: JSONScanner.StringToken?
    }

    /// The last type seen: its bytes, its name and whether it is a domain event.
    private var lastType: (bytes: [UInt8], name: String, domain: Bool)?

    public init() {}

    /// The event a line describes, to append again with its id and recorded-at time.
    ///
    /// The line is checked whole: it must be one JSON object of the line format's keys (no
    /// key twice, none unknown), every field of its type and form, and the event what the
    /// log and, for a domain event, the server would have stored (see Docs/events.md). Its
    /// `position` and `streamVersion` are checked for form only: the log assigns its own.
    ///
    /// - Throws: ``EventLineError`` naming `lineNumber`, the field and what is wrong.
    public mutating func decode(_ line: UnsafeRawBufferPointer, lineNumber: Int) throws(EventLineError) -> ProposedEvent {
        func fail(_ field: String, _ reason: String) -> EventLineError {
            EventLineError(line: lineNumber, field: field, reason: reason)
        }
        // First the syntax of the whole line, noting where each value is.
        var values: (Value?, Value?, Value?, Value?, Value?, Value?, Value?, Value?, Value?, Value?, Value?, Value?) =
            (nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil)
        var scanner = JSONScanner(line)
        do {
            guard scanner.peek() == UInt8(ascii: "{") else {
                _ = try scanner.skipValue()
                guard scanner.atEnd else { throw scanner.error("the end of the line") }
                throw EventLineError(line: lineNumber, field: "", reason: "not a JSON object")
            }
            scanner.index += 1
            if !scanner.take(UInt8(ascii: "}")) {
                repeat {
                    let name = try scanner.scanString()
                    guard let key = scanner.withText(name, Key.match) else {
                        let text = scanner.text(name)
                        throw EventLineError(
                            line: lineNumber,
                            field: "",
                            reason: "has the unknown field \"\(text.prefix(64))\" (the fields are listed in Docs/events.md)"
                        )
                    }
                    try scanner.expect(UInt8(ascii: ":"), "':'")
                    let value: Value
                    if scanner.peek() == UInt8(ascii: "\"") {
                        let start = scanner.index
                        let token = try scanner.scanString()
                        value = Value(range: start..<scanner.index, string: token)
                    } else {
                        value = Value(range: try scanner.skipValue(), string: nil)
                    }
                    let duplicate = withUnsafeMutablePointer(to: &values) { tuple in
                        tuple.withMemoryRebound(to: Value?.self, capacity: Key.allCases.count) { slots in
                            defer { slots[key.rawValue] = value }
                            return slots[key.rawValue] != nil
                        }
                    }
                    if duplicate { throw EventLineError(line: lineNumber, field: key.name, reason: "appears twice") }
                } while scanner.take(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "}"), "',' or '}'")
            }
            guard scanner.atEnd else { throw scanner.error("the end of the line") }
        } catch let error as EventLineError {
            throw error
        } catch {
            throw fail("", "not a JSON object (\(error))")
        }
        let scanned = scanner
        func found(_ key: Key) -> Value? {
            withUnsafeMutablePointer(to: &values) { tuple in
                tuple.withMemoryRebound(to: Value?.self, capacity: Key.allCases.count) { $0[key.rawValue] }
            }
        }

        func string(_ key: Key, required: Bool = true) throws(EventLineError) -> JSONScanner.StringToken? {
            guard let value = found(key) else {
                if required { throw fail(key.name, "is missing") }
                return nil
            }
            guard let token = value.string else { throw fail(key.name, "must be a string") }
            return token
        }
        func text(_ key: Key, required: Bool = true) throws(EventLineError) -> String? {
            try string(key, required: required).map { scanned.text($0) }
        }
        func uuid(_ key: Key, required: Bool = true) throws(EventLineError) -> UUID? {
            guard let token = try string(key, required: required) else { return nil }
            guard let value = scanned.withText(token, JSONParse.uuid) else { throw fail(key.name, "is not a UUID") }
            return value
        }
        func time(_ key: Key, required: Bool = true) throws(EventLineError) -> Timestamp? {
            guard let token = try string(key, required: required) else { return nil }
            guard let value = scanned.withText(token, JSONParse.time) else {
                throw fail(key.name, "is not an ISO 8601 UTC time like 2026-01-31T12:00:00.000000Z")
            }
            return value
        }

        // Then each field, in a fixed order, so that a line with several faults always names the same one.
        func checkWholeNumber(_ key: Key) throws(EventLineError) {
            guard let value = found(key), Self.wholeNumber(UnsafeRawBufferPointer(rebasing: line[value.range])) != nil else {
                throw fail(key.name, "must be a whole number of at least 1")
            }
        }
        try checkWholeNumber(.position)
        try checkWholeNumber(.streamVersion)
        guard let typeToken = try string(.type) else { throw fail("type", "is missing") }
        let (type, domain) = typeName(scanned, typeToken)
        guard let stream = try text(.stream), let eventID = try uuid(.eventId), let recordedAt = try time(.recordedAt) else {
            throw fail("", "is incomplete")
        }
        guard (1...EventLogLimits.maxTypeBytes).contains(type.utf8.count) else {
            throw fail("type", "must be 1 to \(EventLogLimits.maxTypeBytes) bytes")
        }
        guard (1...EventLogLimits.maxStreamBytes).contains(stream.utf8.count) else {
            throw fail("stream", "must be 1 to \(EventLogLimits.maxStreamBytes) bytes")
        }
        let payload: [UInt8]
        let payloadKey: Key
        if let json = found(.payload) {
            guard found(.payloadBase64) == nil else { throw fail("payload", "and payloadBase64 can't both be given") }
            payloadKey = .payload
            guard line[json.range.lowerBound] == UInt8(ascii: "{") else { throw fail("payload", "must be a JSON object") }
            do {
                guard let encoded = try PayloadJSON.payload(type: type, json: UnsafeRawBufferPointer(rebasing: line[json.range])) else {
                    throw fail("payload", "is only for domain event types; \(type) needs payloadBase64")
                }
                payload = encoded
            } catch let error as EventLineError {
                throw error
            } catch {
                throw fail("payload", "does not match \(type): \(error)")
            }
        } else {
            payloadKey = .payloadBase64
            guard let token = try string(.payloadBase64) else { throw fail("payloadBase64", "is missing") }
            guard let bytes = scanned.withText(token, JSONParse.base64) else { throw fail("payloadBase64", "is not base64") }
            payload = bytes
        }
        guard payload.count <= EventLogLimits.maxPayloadBytes else {
            throw fail(payloadKey.name, "must be at most \(EventLogLimits.maxPayloadBytes) bytes")
        }
        if domain {
            do {
                try EventCatalog.check(type: type, stream: stream, payload: payload)
            } catch {
                throw fail(payloadKey.name, "is not a valid \(type) event: \(error)")
            }
        }
        let occurredAt = try time(.occurredAt, required: false)
        let correlationID = try uuid(.correlationId, required: false)
        let causationID = try uuid(.causationId, required: false)
        let actor = try text(.actor, required: false) ?? ""
        guard actor.utf8.count <= EventLogLimits.maxActorBytes else {
            throw fail("actor", "must be at most \(EventLogLimits.maxActorBytes) bytes")
        }
        return ProposedEvent(
            type: type,
            stream: stream,
            payload: payload,
            eventID: eventID,
            occurredAt: occurredAt,
            correlationID: correlationID,
            causationID: causationID,
            actor: actor,
            recordedAt: recordedAt
        )
    }

    /// The type's name and whether the catalog knows it, from the last line when it had the same.
    private mutating func typeName(_ scanner: JSONScanner, _ token: JSONScanner.StringToken) -> (String, Bool) {
        if !token.escaped, let last = lastType, last.bytes.count == token.range.count,
            last.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, scanner.raw(token).baseAddress!, token.range.count) == 0 })
        {
            return (last.name, last.domain)
        }
        let name = scanner.text(token)
        let domain = EventCatalog.knows(name)
        lastType = (Array(name.utf8), name, domain)
        return (name, domain)
    }

    /// A JSON number that is a whole number from 1 to `Int64.max` (`7`, `7.0`, `7e0`); nil
    /// for anything else.
    private static func wholeNumber(_ raw: UnsafeRawBufferPointer) -> Int64? {
        if !raw.isEmpty && raw.count <= 18 && raw.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            var value: Int64 = 0
            for digit in raw { value = value * 10 + Int64(digit - UInt8(ascii: "0")) }
            return value >= 1 && raw[0] != UInt8(ascii: "0") ? value : nil
        }
        var scanner = JSONScanner(raw)
        guard let number = try? scanner.number(), scanner.atEnd else { return nil }
        if number.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            guard number.count <= 19 else { return nil }
            var value: Int64 = 0
            for digit in number {
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowAgain) = times.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
                guard !overflow && !overflowAgain else { return nil }
                value = sum
            }
            return value >= 1 ? value : nil
        }
        guard let double = Double(String(decoding: number, as: UTF8.self)), double >= 1, double < 0x1p63,
            let whole = Int64(exactly: double)
        else { return nil }
        return whole
    }
}

/// A line of an NDJSON file that cannot be imported.
public struct EventLineError: Error, CustomStringConvertible {
    /// The line's number, from 1.
    public var line: Int
    /// The field at fault; empty for the line as a whole.
    public var field: String
    /// What is wrong.
    public var reason: String

    public var description: String { "line \(line): " + (field.isEmpty ? reason : "\(field) \(reason)") }
}

// MARK: - Writing the log

extension EventLine {
    /// Events per read transaction: each chunk is read in its own short transaction and
    /// written after it ends, so that a slow reader of the output never holds a snapshot open.
    static let chunkEvents = 4096

    /// Writes the lines of the events from `first` through `last` (at most `limit` of them)
    /// to `output`, calling `progress` with the count of each chunk written, and returns how
    /// many it wrote.
    @discardableResult
    public static func write(
        from log: LMDBEventLog,
        first: LogPosition,
        last: LogPosition = .max,
        limit: Int = .max,
        to output: OutputFile,
        progress: (Int) -> Void = { _ in }
    ) throws -> Int {
        var next = max(first, 1)
        var written = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(2 << 20)
        while written < limit && next <= last {
            buffer.removeAll(keepingCapacity: true)
            let wanted = Int(min(UInt64(chunkEvents), UInt64(limit - written), last - next + 1))
            var count = 0
            var final: LogPosition = 0
            try log.withReader { reader in
                try readRecords(reader, from: next, limit: wanted) { record in
                    guard record.position <= last else { return false }
                    append(record, to: &buffer)
                    count += 1
                    final = record.position
                    return true
                }
            }
            guard count > 0 else { break }
            try output.write(buffer)
            written += count
            progress(count)
            next = final + 1
        }
        return written
    }

    /// The one place `tail` and `export` read records: visits up to `limit` records from
    /// `position` on in `reader`, until `visit` returns false. A check of each record read
    /// (its checksum) belongs here.
    static func readRecords(
        _ reader: LogReader,
        from position: LogPosition,
        limit: Int,
        _ visit: (EventRecord) throws -> Bool
    ) throws {
        try reader.visit(from: position, limit: limit, visit)
    }
}
