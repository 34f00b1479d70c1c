import Foundation
import PlayheadCore
import Testing
import Views
import WatchDomain

@testable import EventLog
@testable import EventText
@testable import LMDBLog

/// The line format as Foundation writes and reads it: `JSONSerialization` with sorted keys
/// around each payload's `Codable` form. This is how `tail`, `export` and `import` did it
/// before the hand-written codec; the hand-written one must agree with it byte for byte.
enum ReferenceLine {
    static func encode(_ event: RecordedEvent) -> Data {
        var object: [String: Any] = [
            "position": event.position,
            "type": event.type,
            "stream": event.stream,
            "streamVersion": event.streamVersion,
            "recordedAt": ISO8601Micros.format(event.recordedAt),
            "eventId": event.eventID.uuidString.lowercased(),
        ]
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

    struct Failure: Error {
        var reason = ""
    }

    static func decode(_ line: Data) throws -> ProposedEvent {
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else { throw Failure(reason: "not an object") }
        func string(_ key: String, required: Bool = true) throws -> String? {
            switch object[key] {
            case let value as String: return value
            case nil where !required: return nil
            default: throw Failure(reason: "\(key) must be a string")
            }
        }
        func uuid(_ key: String, required: Bool = true) throws -> UUID? {
            guard let text = try string(key, required: required) else { return nil }
            guard let value = UUID(uuidString: text) else { throw Failure(reason: "\(key) is not a UUID") }
            return value
        }
        func timestamp(_ key: String, required: Bool = true) throws -> Timestamp? {
            guard let text = try string(key, required: required) else { return nil }
            guard let value = ISO8601Micros.parse(text) else { throw Failure(reason: "\(key) is not a time") }
            return value
        }
        for key in ["position", "streamVersion"] {
            guard let number = object[key] as? NSNumber, let whole = Int64(exactly: number.doubleValue), whole >= 1 else {
                throw Failure(reason: "\(key) is not a whole number")
            }
        }
        guard let type = try string("type"), let stream = try string("stream"), let eventID = try uuid("eventId"),
            let recordedAt = try timestamp("recordedAt")
        else { throw Failure(reason: "incomplete") }
        let payload: [UInt8]
        if let json = object["payload"] {
            guard JSONSerialization.isValidJSONObject(json), let data = try? JSONSerialization.data(withJSONObject: json),
                let encoded = try EventCatalog.payload(type: type, json: data)
            else { throw Failure(reason: "payload") }
            payload = encoded
        } else {
            guard let text = try string("payloadBase64"), let bytes = Data(base64Encoded: text) else { throw Failure(reason: "payloadBase64") }
            payload = Array(bytes)
        }
        try EventCatalog.check(type: type, stream: stream, payload: payload)
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

/// Strings that need escaping, non-ASCII text and every control character.
let awkwardStrings: [String] = [
    "alice",
    "",
    "with \"quotes\", a \\ backslash and a / slash",
    "tab\tnew line\ncarriage return\rbackspace\u{8}form feed\u{C}",
    String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}",
    "café 漢字 🎬 e\u{301} \u{2028}\u{2029} \u{FEFF} \u{10FFFF}",
    String(repeating: "ü", count: 100),
]

/// Sample events of every domain type, with awkward strings and boundary numbers.
func sampleDomainEvents() -> [any DomainEvent] {
    let id = UUID(uuidString: "8D6FDB28-37F5-42A3-8A5E-667812EFBA59")!
    let other = UUID(uuidString: "6a1f0c3e-2b7d-4c9a-8e51-0d4b7f2a9c13")!
    let times = [0, 1, -1, 1_672_531_200_123_456, 253_402_300_799_999_999, -62_135_596_800_000_000].map {
        Timestamp(microsecondsSince1970: $0)
    }
    let doubles: [Double] = [0, 100, 85, 33.333333333333336, 0.1, 1e-7, 99.99999999999999, .leastNonzeroMagnitude, 0.9, 1, 1e-10, 12_345.678]
    var events: [any DomainEvent] = []
    for (index, text) in awkwardStrings.enumerated() {
        let time = times[index % times.count]
        events += [
            UserSessionStarted(sessionId: id, userId: text, userAgent: index % 2 == 0 ? text : nil),
            UserSessionRenewed(sessionId: id, userId: text, previousSessionId: other),
            UserSessionHeartbeat(sessionId: other),
            UserSessionEngagementChanged(sessionId: id, engaged: index % 2 == 0),
            UserSessionEnded(sessionId: id),
            UserSessionExpired(sessionId: id, lastActiveAt: time, renewedBy: index % 2 == 0 ? other : nil),
            WatchSessionStarted(
                sessionId: other,
                userId: text,
                userSessionId: index % 2 == 0 ? id : nil,
                isGuest: index % 2 == 1,
                videoId: text,
                startTime: time,
                endTime: index % 3 == 0 ? nil : time,
                actualTimeWatchedMillis: index % 2 == 0 ? 0 : .max,
                percentageWatched: doubles[index % doubles.count],
                userMetadata: ClientMetadata(
                    userAgent: text,
                    ipAddress: index % 2 == 0 ? nil : "::1",
                    device: text,
                    browser: nil,
                    os: "Linux",
                    deviceType: index % 2 == 0 ? text : nil
                )
            ),
            WatchSessionUpdated(
                sessionId: other,
                endTime: index % 2 == 0 ? time : nil,
                actualTimeWatchedMillis: index % 3 == 0 ? nil : UInt64(index),
                percentageWatched: index % 4 == 0 ? nil : doubles[(index + 3) % doubles.count]
            ),
            WatchSessionDeleted(sessionId: other),
            VideoRegistered(
                videoId: text,
                durationMillis: UInt64(index) * 1_000,
                title: index % 2 == 0 ? text : nil,
                completionThreshold: doubles[(index + 5) % doubles.count]
            ),
            ProgressDeleted(userId: text, videoId: text),
        ]
        for kind in PlayerEventKind.allCases {
            events.append(PlayerEventRecorded(sessionId: id, event: PlayerEvent(event: kind, eventTime: time, videoTimeMillis: UInt64(index))))
        }
        for source in [ProgressSource.update, .sync, .realtime] {
            events.append(
                ProgressRecorded(
                    userId: text,
                    videoId: "video",
                    watchedDuration: index % 2 == 0 ? .max : 0,
                    lastWatched: time,
                    videoDurationMillis: index % 2 == 0 ? nil : 600_000,
                    source: source
                )
            )
        }
        for type in InteractionType.allCases {
            events.append(
                InteractionTracked(
                    interactionId: id,
                    userId: text,
                    contentId: "content",
                    interactionType: type,
                    details: InteractionDetails(
                        interactionValue: index % 2 == 0 ? Int64.min : 5,
                        moodAtInteraction: text,
                        moodIntensityAtInteraction: index % 3 == 0 ? nil : Int64.max,
                        interactionDurationSeconds: -1,
                        context: text,
                        notes: index % 2 == 0 ? nil : text,
                        contentType: text
                    )
                )
            )
        }
        let price = Price(hundredths: index % 2 == 0 ? 0 : Int64.max, currency: text)
        let ticket = TicketDefinition(name: text, price: price, description: index % 2 == 0 ? nil : text, isVoucher: index % 2 == 0)
        let schedule = PartySchedule(
            movieId: text,
            movieDurationMillis: index % 2 == 0 ? 1 : .max,
            startTime: time,
            endTime: times[(index + 1) % times.count],
            isFeatured: index % 3 == 0,
            maxParticipants: UInt64(index)
        )
        events += [
            TicketCreated(ticketId: id, ticket: ticket),
            TicketChanged(ticketId: other, ticket: ticket),
            WatchPartyScheduled(partyId: id, schedule: schedule),
            WatchPartyChanged(partyId: other, schedule: schedule),
            WatchPartyCancelled(partyId: id),
            WatchPartyStarted(partyId: id, startTime: time),
            WatchPartyFinished(partyId: other, endTime: time),
            TicketPurchased(purchaseId: id, partyId: other, ticketId: id, userId: text, idempotencyKey: index % 2 == 0 ? nil : text),
        ]
        for type in PartyLogEventType.allCases {
            events.append(
                PartyLogged(
                    entryId: other,
                    partyId: id,
                    userId: text,
                    eventType: type,
                    username: index % 2 == 0 ? text : nil,
                    message: index % 3 == 0 ? nil : text,
                    videoTimeMillis: index % 2 == 1 ? nil : UInt64(index) * 1_000
                )
            )
        }
    }
    // Metadata with nothing in it, and numbers JSON can't show (written as payloadBase64).
    for percentage in [50, Double.nan, .infinity] {
        events.append(
            WatchSessionStarted(
                sessionId: id,
                userId: "u",
                userSessionId: nil,
                isGuest: true,
                videoId: "v",
                startTime: times[2],
                endTime: nil,
                actualTimeWatchedMillis: 1,
                percentageWatched: percentage,
                userMetadata: ClientMetadata()
            )
        )
        events.append(VideoRegistered(videoId: "v", durationMillis: 1, title: nil, completionThreshold: percentage))
    }
    return events
}

/// Stored events for every sample: each domain event, undecodable and newer-schema domain
/// payloads, and other types, with and without the optional header fields.
func sampleRecordedEvents() -> [RecordedEvent] {
    var random = SplitMix64(seed: 12)
    var events: [RecordedEvent] = []
    func add(type: String, stream: String, payload: [UInt8], actor: String = "") {
        let flags = events.count
        let time = Timestamp(microsecondsSince1970: Int64(bitPattern: random.next() % 400_000_000_000_000_000) - 100_000_000_000_000_000)
        events.append(
            RecordedEvent(
                position: UInt64(events.count + 1) * (flags % 5 == 0 ? 1_000_000_007 : 1),
                type: type,
                stream: stream,
                streamVersion: flags % 7 == 0 ? .max : UInt64(flags + 1),
                recordedAt: time,
                occurredAt: flags % 2 == 0 ? time : nil,
                eventID: UUID(),
                correlationID: flags % 3 == 0 ? UUID() : nil,
                causationID: flags % 4 == 0 ? UUID() : nil,
                actor: actor,
                payload: payload
            )
        )
    }
    for (index, event) in sampleDomainEvents().enumerated() {
        let type = Swift.type(of: event).eventType
        add(type: type, stream: event.stream, payload: event.encoded(), actor: awkwardStrings[index % awkwardStrings.count])
    }
    for text in awkwardStrings {
        let bytes = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        add(type: "demo." + text, stream: "demo/" + text, payload: bytes, actor: text)
        add(type: UserSessionStarted.eventType, stream: "user-session/x", payload: bytes)  // does not decode
    }
    for length in 0..<5 { add(type: "bench.event", stream: "stream-000001", payload: Array(repeating: 0xFF, count: length)) }
    var newer = UserSessionHeartbeat(sessionId: UUID()).encoded()
    newer[0] = 9
    add(type: UserSessionHeartbeat.eventType, stream: "user-session/y", payload: newer)
    return events
}

@Suite("The hand-written line codec agrees with the Codable form")
struct EventLineTests {
    @Test("every sample line is byte for byte what JSONSerialization and Codable write")
    func encodeAgrees() throws {
        let events = sampleRecordedEvents()
        #expect(events.count > 200)
        var domainTypes: Set<String> = []
        for event in events {
            let fast = EventLine.encode(event)
            let reference = ReferenceLine.encode(event)
            #expect(String(decoding: fast, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
            if String(decoding: fast, as: UTF8.self).contains("\"payload\":{") { domainTypes.insert(event.type) }
        }
        #expect(domainTypes == Set(EventCatalog.types.map { $0.eventType }))
    }

    @Test("every domain event type has a hand-written writer, and it writes what the Codable form writes")
    func handWrittenWriters() throws {
        for type in EventCatalog.types {
            #expect(PayloadJSON.isHandWritten(type.eventType), "\(type.eventType)")
        }
        for event in sampleRecordedEvents() where EventCatalog.knows(event.type) {
            var handWritten: [UInt8] = []
            var encoded: [UInt8] = []
            let typeBytes = Array(event.type.utf8)
            let written = typeBytes.withUnsafeBytes { type in
                event.payload.withUnsafeBytes { PayloadJSON.append(type: type, payload: $0, to: &handWritten) }
            }
            let viaEncoder = event.payload.withUnsafeBytes { PayloadJSON.appendEncoded(type: event.type, payload: $0, to: &encoded) }
            #expect(written == viaEncoder)
            #expect(String(decoding: handWritten, as: UTF8.self) == String(decoding: encoded, as: UTF8.self))
            if written {
                let reference = try #require(try EventCatalog.json(type: event.type, payload: event.payload))
                #expect(String(decoding: handWritten, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
            }
        }
    }

    @Test("every sample line reads back to the same event as Foundation reads it, and writes again to the same bytes")
    func decodeAgrees() throws {
        var imported = 0
        for event in sampleRecordedEvents() {
            let line = EventLine.encode(event)
            let reference = try? ReferenceLine.decode(Data(line))
            let fast = try? line.withUnsafeBytes { try EventLine.decode(UnsafeRawBufferPointer(rebasing: $0.dropLast()), lineNumber: 1) }
            #expect(fast == reference, "\(String(decoding: line, as: UTF8.self))")
            guard let fast else { continue }
            imported += 1
            let again = RecordedEvent(
                position: event.position,
                type: fast.type,
                stream: fast.stream,
                streamVersion: event.streamVersion,
                recordedAt: try #require(fast.recordedAt),
                occurredAt: fast.occurredAt,
                eventID: try #require(fast.eventID),
                correlationID: fast.correlationID,
                causationID: fast.causationID,
                actor: fast.actor,
                payload: fast.payload
            )
            #expect(EventLine.encode(again) == line)
        }
        #expect(imported > 50)
    }

    @Test("JSON's other spellings of the same line read as Foundation reads them")
    func otherSpellings() throws {
        let line =
            #"{"actor":"alice","eventId":"01A20CBC-EA99-775A-B2A9-DE791F0C9CDD","payload":{"sessionId":"8d6fdb28-37f5-42a3-8a5e-667812efba59","userId":"al\u0069ce\/x \ud83c\udfac"},"position":1,"recordedAt":"2026-11-24T08:47:17.1Z","stream":"user-session/8d6fdb28-37f5-42a3-8a5e-667812efba59","streamVersion":1,"type":"user-session.started"}"#
        let variants = [
            line,
            " \t" + line.replacingOccurrences(of: ",\"", with: " ,\n \"").replacingOccurrences(of: "\":", with: "\" : ") + " \r",
            line.replacingOccurrences(of: #""position":1"#, with: #""position":1.0"#),
            line.replacingOccurrences(of: #""position":1"#, with: #""position":1e0"#),
            line.replacingOccurrences(of: #""type":"user-session.started""#, with: #""type":"user-session.st\u0061rted""#),
            String(line.replacingOccurrences(of: #"{"actor":"alice","#, with: "{").dropLast()) + #","actor":"alice"}"#,
            line.replacingOccurrences(of: #""recordedAt":"2026-11-24T08:47:17.1Z""#, with: #""recordedAt":"2026-11-24T08:47:17Z""#),
            line.replacingOccurrences(of: #""recordedAt":"2026-11-24T08:47:17.1Z""#, with: #""recordedAt":"2026-02-31T23:59:60.999999Z""#),
        ]
        for variant in variants {
            let reference = try ReferenceLine.decode(Data(variant.utf8))
            var bytes = Array(variant.utf8)
            let fast = try bytes.withUnsafeMutableBytes { try EventLine.decode(UnsafeRawBufferPointer($0), lineNumber: 3) }
            #expect(fast == reference, "\(variant)")
        }
    }

    @Test("a bad line is refused with its number and what is wrong", arguments: badLines)
    func badLine(_ bad: (line: String, message: String)) {
        var bytes = Array(bad.line.utf8)
        #expect {
            try bytes.withUnsafeMutableBytes { _ = try EventLine.decode(UnsafeRawBufferPointer($0), lineNumber: 7) }
        } throws: { error in
            "\(error)".hasPrefix("line 7: ") && "\(error)".contains(bad.message)
        }
    }

    @Test("times are written and read as ISO8601Micros writes and reads them")
    func times() {
        var random = SplitMix64(seed: 7)
        var samples: [Int64] = [0, -1, 1, 999_999, -999_999, -1_000_000, 253_402_300_799_999_999, -62_167_219_200_000_000]
        for _ in 0..<20_000 { samples.append(Int64(bitPattern: random.next() % 600_000_000_000_000_000) - 300_000_000_000_000_000) }
        for micros in samples {
            let timestamp = Timestamp(microsecondsSince1970: micros)
            var out: [UInt8] = []
            JSONBytes.appendQuotedTime(timestamp, to: &out)
            let expected = ISO8601Micros.format(timestamp)
            #expect(String(decoding: out, as: UTF8.self) == "\"\(expected)\"")
            let parsed = Array(expected.utf8).withUnsafeBytes { JSONParse.time($0) }
            #expect(parsed == ISO8601Micros.parse(expected))
        }
        for text in [
            "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.1234567Z",
            "2026-01-01T00:00:00.Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "0000-03-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
            "2024-02-29T12:00:00.5Z", "20260101T000000Z", "x026-01-01T00:00:00Z",
        ] {
            #expect(Array(text.utf8).withUnsafeBytes { JSONParse.time($0) } == ISO8601Micros.parse(text), "\(text)")
        }
    }

    @Test("bytes are written and read as Foundation's base64")
    func base64() {
        var random = SplitMix64(seed: 9)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var out: [UInt8] = []
            bytes.withUnsafeBytes { JSONBytes.appendQuotedBase64($0, to: &out) }
            let expected = Data(bytes).base64EncodedString()
            #expect(String(decoding: out, as: UTF8.self) == "\"\(expected)\"")
            #expect(Array(expected.utf8).withUnsafeBytes { JSONParse.base64($0) } == bytes)
        }
        for bad in ["A", "AB", "ABC", "AB=C", "A===", "====", "AB\nC", "ABC*", "AB==AB=="] {
            #expect(Array(bad.utf8).withUnsafeBytes { JSONParse.base64($0) } == nil, "\(bad)")
        }
    }
}

let goodLine =
    #"{"eventId":"019aa2a5-53c4-7d0e-9a31-0c4f0b3e52a1","payloadBase64":"eyJ1c2VySWQiOiI0MiJ9","position":3,"recordedAt":"2026-11-24T08:48:25.302114Z","stream":"demo/42","streamVersion":1,"type":"demo.thing"}"#

let badLines: [(line: String, message: String)] = [
    ("", "not a JSON object"),
    ("not json", "not a JSON object"),
    ("[1,2]", "not a JSON object"),
    ("\"text\"", "not a JSON object"),
    (goodLine + "x", "not a JSON object"),
    (goodLine + "{}", "not a JSON object"),
    (String(goodLine.dropLast()), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "demo/42", with: "demo\u{1}42"), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "demo/42", with: #"demo\q42"#), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "demo/42", with: #"demo\ud800"#), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "demo/42", with: #"demo\udc00x"#), "not a JSON object"),
    (goodLine.replacingOccurrences(of: ",\"position\"", with: ",,\"position\""), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":03"), "not a JSON object"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":3,\"position\":4"), "position appears twice"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":3,\"positon\":4"), "unknown field \"positon\""),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":0"), "position must be a whole number of at least 1"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":1.5"), "position must be a whole number"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":\"3\""), "position must be a whole number"),
    (goodLine.replacingOccurrences(of: "\"position\":3", with: "\"position\":99999999999999999999"), "position must be a whole number"),
    (goodLine.replacingOccurrences(of: "\"streamVersion\":1,", with: ""), "streamVersion must be a whole number"),
    (goodLine.replacingOccurrences(of: "\"type\":\"demo.thing\"", with: "\"type\":7"), "type must be a string"),
    (goodLine.replacingOccurrences(of: ",\"type\":\"demo.thing\"", with: ""), "type is missing"),
    (goodLine.replacingOccurrences(of: "demo.thing", with: ""), "type must be 1 to 255 bytes"),
    (goodLine.replacingOccurrences(of: "demo.thing", with: String(repeating: "t", count: 256)), "type must be 1 to 255 bytes"),
    (goodLine.replacingOccurrences(of: "demo/42", with: String(repeating: "s", count: 401)), "stream must be 1 to 400 bytes"),
    (goodLine.replacingOccurrences(of: "{", with: "{\"actor\":\"" + String(repeating: "a", count: 1025) + "\","), "actor must be at most 1024 bytes"),
    (goodLine.replacingOccurrences(of: "019aa2a5", with: "019aa2a"), "eventId is not a UUID"),
    (goodLine.replacingOccurrences(of: "019aa2a5-", with: "019aa2a5_"), "eventId is not a UUID"),
    (goodLine.replacingOccurrences(of: "2026-11-24T08", with: "2026-11-24 08"), "recordedAt is not an ISO 8601"),
    (goodLine.replacingOccurrences(of: "{", with: "{\"occurredAt\":\"yesterday\","), "occurredAt is not an ISO 8601"),
    (goodLine.replacingOccurrences(of: "{", with: "{\"correlationId\":\"x\","), "correlationId is not a UUID"),
    (goodLine.replacingOccurrences(of: "{", with: "{\"causationId\":null,"), "causationId must be a string"),
    (goodLine.replacingOccurrences(of: "eyJ1c2VySWQiOiI0MiJ9", with: "eyJ1c2VySWQiOiI0MiJ"), "payloadBase64 is not base64"),
    (goodLine.replacingOccurrences(of: "\"payloadBase64\":\"eyJ1c2VySWQiOiI0MiJ9\",", with: ""), "payloadBase64 is missing"),
    (
        goodLine.replacingOccurrences(of: "\"payloadBase64\"", with: "\"payload\":{},\"payloadBase64\""),
        "payload and payloadBase64 can't both be given"
    ),
    (
        goodLine.replacingOccurrences(of: "\"payloadBase64\":\"eyJ1c2VySWQiOiI0MiJ9\"", with: "\"payload\":{\"a\":1}"),
        "payload is only for domain event types; demo.thing needs payloadBase64"
    ),
    (
        goodLine.replacingOccurrences(of: "\"payloadBase64\":\"eyJ1c2VySWQiOiI0MiJ9\"", with: "\"payload\":[1]")
            .replacingOccurrences(of: "demo.thing", with: "user-session.heartbeat"),
        "payload must be a JSON object"
    ),
    (
        goodLine.replacingOccurrences(of: "\"payloadBase64\":\"eyJ1c2VySWQiOiI0MiJ9\"", with: "\"payload\":{\"sessionId\":7}")
            .replacingOccurrences(of: "demo.thing", with: "user-session.heartbeat"),
        "payload does not match user-session.heartbeat"
    ),
    (
        goodLine.replacingOccurrences(of: "demo.thing", with: "user-session.heartbeat"),
        "payloadBase64 is not a valid user-session.heartbeat event"
    ),
    (
        goodLine.replacingOccurrences(
            of: "\"payloadBase64\":\"eyJ1c2VySWQiOiI0MiJ9\"",
            with: "\"payload\":{\"sessionId\":\"8D6FDB28-37F5-42A3-8A5E-667812EFBA59\"}"
        ).replacingOccurrences(of: "demo.thing", with: "user-session.heartbeat"),
        "payload is not a valid user-session.heartbeat event: a user-session.heartbeat event of user-session/8d6fdb28"
    ),
]

@Suite("The in-place payload decoder agrees with JSONDecoder")
struct ScannedJSONDecoderTests {
    /// `ScannedJSONDecoder`'s result for `text` as `type`, nil when it leaves the text to `JSONDecoder`.
    func scanned<Event: DomainEvent>(_ type: Event.Type, _ text: String) -> Event? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { try? ScannedJSONDecoder.decode(type, from: UnsafeRawBufferPointer($0)) }
    }

    func check<Event: DomainEvent>(_ event: Event) throws {
        // An event JSON can't show (NaN) has no text to read.
        guard let json = try? EventCatalog.json(type: Event.eventType, payload: event.encoded()) else { return }
        let text = String(decoding: json, as: UTF8.self)
        // The form export writes is read in place, to what JSONDecoder reads.
        let fast = try #require(scanned(Event.self, text), "\(text)")
        #expect(fast == (try JSONDecoder().decode(Event.self, from: Data(text.utf8))))
        #expect(fast.encoded() == event.encoded())
        // Other spellings: read in place to the same value, or left to JSONDecoder.
        func replacing(_ pairs: [(String, String)]) -> String {
            var result = text
            for (old, new) in pairs { result = result.replacingOccurrences(of: old, with: new) }
            return result
        }
        let variants: [String] = [
            replacing([(":", " : "), (",\"", " , \"")]),
            replacing([("{\"", "{\"unknown\":[1,{\"a\":null}],\"")]),
            replacing([("{\"", "{\"\\u0061bc\":1,\"")]),
            replacing([("}", ",\"unknown\":null}")]),
            replacing([(":0,", ":0.0,"), (":5,", ":5e0,")]),
            replacing([(":1,", ":-1,"), (":560,", ":-560,")]),
            replacing([("\"userId\":", "\"us\\u0065rId\":")]),
            replacing([("{\"", "{\"userId\":\"x\",\"")]),
            text + " ",
            replacing([("true", "1"), ("false", "\"false\"")]),
            replacing([("\"like\"", "{\"like\":{}}"), ("\"play\"", "{\"play\":{}}")]),
            replacing([("9", "99999999999999999999999")]),
        ]
        for variant in variants {
            let reference = try? JSONDecoder().decode(Event.self, from: Data(variant.utf8))
            if let fast = scanned(Event.self, variant) {
                #expect(fast == reference, "\(variant)")
            }
        }
    }

    @Test("every sample event of every type")
    func everyType() throws {
        for event in sampleDomainEvents() {
            try check(event)
        }
    }
}
