import EventLog
import Foundation
import Testing
import WatchDomain

/// Docs/events.md, read from the repository this test file is in.
let eventsDocument: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return (try? String(contentsOf: root.appendingPathComponent("Docs/events.md"), encoding: .utf8)) ?? ""
}()

/// The `(raw value, name)` pairs Docs/events.md lists for the byte field `field` of a
/// table: "0 `play`, 1 `pause`, …".
func documentedValues(of field: String) throws -> [(raw: UInt8, name: String)] {
    let row = try #require(eventsDocument.split(separator: "\n").first { $0.hasPrefix("| `\(field)` | byte |") })
    let pattern = try Regex(#"(\d+) `([a-z]+)`"#)
    return row.matches(of: pattern).compactMap { match in
        guard let raw = UInt8(String(row[match.output[1].range!])) else { return nil }
        return (raw, String(row[match.output[2].range!]))
    }
}

/// The text of `value` as the payloads' JSON form writes it (`EventCatalog`'s encoder).
func jsonText<Value: Encodable>(_ value: Value) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Every line of the ```json blocks of Docs/events.md.
func documentedLines() -> [String] {
    var lines: [String] = []
    var inBlock = false
    for line in eventsDocument.split(separator: "\n", omittingEmptySubsequences: false) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("```") {
            inBlock = trimmed == "```json"
            continue
        }
        if inBlock && trimmed.hasPrefix("{") { lines.append(trimmed) }
    }
    return lines
}

/// The text of the value of `"key":` in a JSON object's text, found by matching brackets.
func rawValue(of key: String, in line: String) -> String? {
    let utf8 = Array(line.utf8)
    let marker = Array("\"\(key)\":".utf8)
    guard let start = (0...(utf8.count - marker.count)).first(where: { utf8[$0..<($0 + marker.count)].elementsEqual(marker) }) else {
        return nil
    }
    var index = start + marker.count
    let valueStart = index
    var depth = 0
    var inString = false
    while index < utf8.count {
        let byte = utf8[index]
        if inString {
            if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            depth += 1
        } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
            if depth == 0 { break }
            depth -= 1
            if depth == 0 {
                index += 1
                break
            }
        } else if byte == UInt8(ascii: ",") && depth == 0 {
            break
        }
        index += 1
    }
    return String(decoding: utf8[valueStart..<index], as: UTF8.self)
}

/// One sample of each domain event type, with the JSON text Docs/events.md documents for it.
let documentedPayloads: [(event: any DomainEvent, json: String)] = {
    let session = UUID(uuidString: "8D6FDB28-37F5-42A3-8A5E-667812EFBA59")!
    let other = UUID(uuidString: "6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13")!
    let time = Timestamp(microsecondsSince1970: 1_672_531_200_000_000)  // 2023-01-01T00:00:00Z
    return [
        (
            UserSessionStarted(sessionId: session, userId: "alice", userAgent: "curl/7.88.1"),
            #"{"sessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","userAgent":"curl/7.88.1","userId":"alice"}"#
        ),
        (
            UserSessionRenewed(sessionId: other, userId: "alice", previousSessionId: session),
            #"{"previousSessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","userId":"alice"}"#
        ),
        (UserSessionHeartbeat(sessionId: session), #"{"sessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#),
        (
            UserSessionEngagementChanged(sessionId: session, engaged: true),
            #"{"engaged":true,"sessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#
        ),
        (UserSessionEnded(sessionId: session), #"{"sessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#),
        (
            UserSessionExpired(sessionId: session, lastActiveAt: time, renewedBy: other),
            #"{"lastActiveAt":"2023-01-01T00:00:00.000000Z","renewedBy":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","sessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#
        ),
        (
            WatchSessionStarted(
                sessionId: other,
                userId: "alice",
                userSessionId: session,
                isGuest: false,
                videoId: "video-1",
                startTime: time,
                endTime: Timestamp(microsecondsSince1970: 1_672_531_800_000_000),
                actualTimeWatchedMillis: 510_000,
                percentageWatched: 85,
                userMetadata: ClientMetadata(browser: "Chrome", os: "Windows")
            ),
            #"{"actualTimeWatchedMillis":510000,"endTime":"2023-01-01T00:10:00.000000Z","isGuest":false,"percentageWatched":85,"sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","startTime":"2023-01-01T00:00:00.000000Z","userId":"alice","userMetadata":{"browser":"Chrome","os":"Windows"},"userSessionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","videoId":"video-1"}"#
        ),
        (
            WatchSessionUpdated(sessionId: other, endTime: nil, actualTimeWatchedMillis: 1_000, percentageWatched: 95.5),
            #"{"actualTimeWatchedMillis":1000,"percentageWatched":95.5,"sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#
        ),
        (
            PlayerEventRecorded(sessionId: other, event: PlayerEvent(event: .rateChange, eventTime: time, videoTimeMillis: 1_500)),
            #"{"event":{"event":"ratechange","eventTime":"2023-01-01T00:00:00.000000Z","videoTimeMillis":1500},"sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#
        ),
        (WatchSessionDeleted(sessionId: other), #"{"sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#),
        (
            VideoRegistered(videoId: "video-1", durationMillis: 600_000, title: "Introduction", completionThreshold: 0.9),
            #"{"completionThreshold":0.9,"durationMillis":600000,"title":"Introduction","videoId":"video-1"}"#
        ),
        (
            ProgressRecorded(userId: "alice", videoId: "video-1", watchedDuration: 560, lastWatched: time, videoDurationMillis: nil, source: .sync),
            #"{"lastWatched":"2023-01-01T00:00:00.000000Z","source":1,"userId":"alice","videoId":"video-1","watchedDuration":560}"#
        ),
        (ProgressDeleted(userId: "alice", videoId: "video-1"), #"{"userId":"alice","videoId":"video-1"}"#),
        (
            InteractionTracked(
                interactionId: session,
                userId: "1",
                contentId: "123",
                interactionType: .dislike,
                details: InteractionDetails(interactionValue: 5, moodAtInteraction: "happy", contentType: "movies")
            ),
            #"{"contentId":"123","details":{"contentType":"movies","interactionValue":5,"moodAtInteraction":"happy"},"interactionId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","interactionType":"dislike","userId":"1"}"#
        ),
        (
            TicketCreated(
                ticketId: session,
                ticket: TicketDefinition(
                    name: "Standard",
                    price: Price(hundredths: 1_250, currency: "EUR"),
                    description: "One seat",
                    isVoucher: false
                )
            ),
            #"{"ticket":{"description":"One seat","isVoucher":false,"name":"Standard","price":{"currency":"EUR","hundredths":1250}},"ticketId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#
        ),
        (
            TicketChanged(
                ticketId: session,
                ticket: TicketDefinition(name: "Gift", price: Price(hundredths: 0, currency: "EUR"), description: nil, isVoucher: true)
            ),
            #"{"ticket":{"isVoucher":true,"name":"Gift","price":{"currency":"EUR","hundredths":0}},"ticketId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59"}"#
        ),
        (
            WatchPartyScheduled(
                partyId: other,
                schedule: PartySchedule(
                    movieId: "film",
                    movieDurationMillis: 5_400_000,
                    startTime: time,
                    endTime: Timestamp(microsecondsSince1970: time.microsecondsSince1970 + 9_000_000_000),
                    isFeatured: true,
                    maxParticipants: 100
                )
            ),
            #"{"partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","schedule":{"endTime":"2023-01-01T02:30:00.000000Z","isFeatured":true,"maxParticipants":100,"movieDurationMillis":5400000,"movieId":"film","startTime":"2023-01-01T00:00:00.000000Z"}}"#
        ),
        (
            WatchPartyChanged(
                partyId: other,
                schedule: PartySchedule(
                    movieId: "film",
                    movieDurationMillis: 5_400_000,
                    startTime: time,
                    endTime: Timestamp(microsecondsSince1970: time.microsecondsSince1970 + 9_000_000_000),
                    isFeatured: false,
                    maxParticipants: 50
                )
            ),
            #"{"partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","schedule":{"endTime":"2023-01-01T02:30:00.000000Z","isFeatured":false,"maxParticipants":50,"movieDurationMillis":5400000,"movieId":"film","startTime":"2023-01-01T00:00:00.000000Z"}}"#
        ),
        (WatchPartyCancelled(partyId: other), #"{"partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#),
        (
            WatchPartyStarted(partyId: other, startTime: time),
            #"{"partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","startTime":"2023-01-01T00:00:00.000000Z"}"#
        ),
        (
            WatchPartyFinished(partyId: other, endTime: time),
            #"{"endTime":"2023-01-01T00:00:00.000000Z","partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#
        ),
        (
            TicketPurchased(purchaseId: session, partyId: other, ticketId: session, userId: "alice", idempotencyKey: "retry-1"),
            #"{"idempotencyKey":"retry-1","partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","purchaseId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","ticketId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","userId":"alice"}"#
        ),
        (
            PartyLogged(entryId: session, partyId: other, userId: "alice", eventType: .seek, videoTimeMillis: 754_250),
            #"{"entryId":"8D6FDB28-37F5-42A3-8A5E-667812EFBA59","eventType":"seek","partyId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13","userId":"alice","videoTimeMillis":754250}"#
        ),
    ]
}()

@Suite("The text form of domain events (Docs/events.md)")
struct TextFormTests {
    @Test("every player-event kind is written and read by its documented name")
    func playerEventKinds() throws {
        let documented = try documentedValues(of: "event")
        #expect(documented.count == PlayerEventKind.allCases.count)
        for (raw, name) in documented {
            let kind = try #require(PlayerEventKind(rawValue: raw))
            #expect(kind.name == name)
            #expect(try jsonText(kind) == "\"\(name)\"")
            #expect(try JSONDecoder().decode(PlayerEventKind.self, from: Data("\"\(name)\"".utf8)) == kind)
            let event = PlayerEvent(event: kind, eventTime: Timestamp(microsecondsSince1970: 0), videoTimeMillis: 7)
            #expect(try jsonText(event) == #"{"event":""# + name + #"","eventTime":"1970-01-01T00:00:00.000000Z","videoTimeMillis":7}"#)
        }
    }

    @Test("every interaction type is written and read by its documented name")
    func interactionTypes() throws {
        let documented = try documentedValues(of: "interactionType")
        #expect(documented.count == InteractionType.allCases.count)
        for (raw, name) in documented {
            let type = try #require(InteractionType(rawValue: raw))
            #expect(type.name == name)
            #expect(try jsonText(type) == "\"\(name)\"")
            #expect(try JSONDecoder().decode(InteractionType.self, from: Data("\"\(name)\"".utf8)) == type)
            let event = InteractionTracked(interactionId: UUID(), userId: "u", contentId: "c", interactionType: type, details: .init())
            #expect(try jsonText(event).contains(#""interactionType":""# + name + #"""#))
        }
    }

    @Test("every party-log event type and party status is written and read by its documented name")
    func partyNames() throws {
        let documented = try documentedValues(of: "eventType")
        #expect(documented.count == PartyLogEventType.allCases.count)
        for (raw, name) in documented {
            let type = try #require(PartyLogEventType(rawValue: raw))
            #expect(type.name == name)
            #expect(try jsonText(type) == "\"\(name)\"")
            #expect(try JSONDecoder().decode(PartyLogEventType.self, from: Data("\"\(name)\"".utf8)) == type)
        }
        #expect(PartyStatus.allNames == "upcoming, ongoing, finished, cancelled")
        #expect(try JSONDecoder().decode(PartyStatus.self, from: Data(#""ongoing""#.utf8)) == .ongoing)
    }

    @Test("every progress source is written and read as its documented number")
    func progressSources() throws {
        let documented = try documentedValues(of: "source")
        #expect(documented.count == 3)
        for (raw, name) in documented {
            let source = try #require(ProgressSource(rawValue: raw))
            #expect("\(source)" == name)
            #expect(try jsonText(source) == "\(raw)")
            #expect(try JSONDecoder().decode(ProgressSource.self, from: Data("\(raw)".utf8)) == source)
        }
    }

    @Test("the keyed form older exports wrote ({\"like\":{}}) is still read, and nothing else is")
    func olderKeyedForm() throws {
        let kinds: [(String, PlayerEventKind)] = [
            ("play", .play), ("pause", .pause), ("seek", .seek), ("ended", .ended), ("buffering", .buffering),
            ("rateChange", .rateChange), ("volumeChange", .volumeChange),
        ]
        #expect(kinds.count == PlayerEventKind.allCases.count)
        for (key, kind) in kinds {
            #expect(try JSONDecoder().decode(PlayerEventKind.self, from: Data("{\"\(key)\":{}}".utf8)) == kind)
        }
        for type in InteractionType.allCases {
            #expect(try JSONDecoder().decode(InteractionType.self, from: Data("{\"\(type.name)\":{}}".utf8)) == type)
        }
        let older =
            #"{"event":{"event":{"play":{}},"eventTime":"2023-01-01T00:00:00.000000Z","videoTimeMillis":0},"sessionId":"6A1F0C3E-2B7D-4C9A-8E51-0D4B7F2A9C13"}"#
        let payload = try #require(try EventCatalog.payload(type: PlayerEventRecorded.eventType, json: Data(older.utf8)))
        #expect(try PlayerEventRecorded.decode(payload).event.event == .play)
        for bad in [#"{"like":{"x":1}}"#, #"{"nope":{}}"#, #"{"like":{},"save":{}}"#, "7", "\"nope\"", "{}", #"{"ratechange":{}}"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSONDecoder().decode(InteractionType.self, from: Data(bad.utf8)) }
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PlayerEventKind.self, from: Data(#"{"ratechange":{}}"#.utf8)) }
    }

    @Test("every domain event type has its documented text form, and reads back from it")
    func everyEventType() throws {
        #expect(Set(documentedPayloads.map { type(of: $0.event).eventType }) == Set(EventCatalog.types.map { $0.eventType }))
        for (event, json) in documentedPayloads {
            let type = Swift.type(of: event).eventType
            let stored = event.encoded()
            let written = try #require(try EventCatalog.json(type: type, payload: stored))
            #expect(String(decoding: written, as: UTF8.self) == json, "\(type)")
            #expect(try EventCatalog.payload(type: type, json: Data(json.utf8)) == stored, "\(type)")
        }
    }

    @Test("the payload of every example line in Docs/events.md reads and writes back to the same text")
    func documentedExamples() throws {
        let lines = documentedLines()
        #expect(lines.count >= 11)
        var types: Set<String> = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let type = try #require(object["type"] as? String)
            guard EventCatalog.knows(type) else {
                #expect(object["payloadBase64"] != nil)
                continue
            }
            types.insert(type)
            let payload = try #require(rawValue(of: "payload", in: line))
            let stored = try #require(try EventCatalog.payload(type: type, json: Data(payload.utf8)), "\(type)")
            try EventCatalog.check(type: type, stream: try #require(object["stream"] as? String), payload: stored)
            let written = try #require(try EventCatalog.json(type: type, payload: stored))
            #expect(String(decoding: written, as: UTF8.self) == payload, "\(type)")
        }
        #expect(types.contains(InteractionTracked.eventType) && types.contains(PlayerEventRecorded.eventType))
    }
}
