import EventLog
import Foundation
import Testing
import WatchDomain

@Suite("Binary codec")
struct CodecTests {
    @Test("varints, zig-zag integers, strings, UUIDs and optionals round-trip", arguments: [0, 1, 127, 128, 300, Int64.max, -1, Int64.min])
    func roundTrip(value: Int64) throws {
        var writer = BinaryWriter()
        writer.write(value)
        writer.write(UInt64(bitPattern: value))
        writer.write("héllo, wörld")
        let id = UUID()
        writer.write(id)
        writer.writeOptional(nil as String?) { $0.write($1) }
        writer.writeOptional(Timestamp(microsecondsSince1970: value)) { $0.write($1) }
        writer.write(Double(value) / 3)
        let bytes = writer.bytes
        try bytes.withUnsafeBytes { buffer in
            var reader = BinaryReader(buffer)
            #expect(try reader.readInt() == value)
            #expect(try reader.readUInt() == UInt64(bitPattern: value))
            #expect(try reader.readString() == "héllo, wörld")
            #expect(try reader.readUUID() == id)
            let absent = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
            #expect(absent == nil)
            let present = try reader.readOptional { reader throws(DomainCodecError) in try reader.readTimestamp() }
            #expect(present == Timestamp(microsecondsSince1970: value))
            #expect(try reader.readDouble() == Double(value) / 3)
            #expect(reader.isAtEnd)
        }
    }

    @Test("small values stay small: a heartbeat payload is 17 bytes")
    func compact() {
        #expect(UserSessionHeartbeat(sessionId: UUID()).encoded().count == 17)
    }

    @Test("truncated or lying bytes are an error, never a read past the end")
    func truncated() throws {
        let full = UserSessionStarted(sessionId: UUID(), userId: "alice", userAgent: "curl").encoded()
        for length in 0..<full.count {
            #expect(throws: DomainCodecError.self) { try UserSessionStarted.decode(Array(full.prefix(length))) }
        }
        // A string length far beyond the bytes there are.
        var lying = Array(full.prefix(17))
        lying += [0xFF, 0xFF, 0xFF, 0x0F]
        #expect(throws: DomainCodecError.self) { try UserSessionStarted.decode(lying) }
    }

    @Test("a payload from a newer schema is refused with a clear reason")
    func newerSchema() {
        var bytes = UserSessionHeartbeat(sessionId: UUID()).encoded()
        bytes[0] = 9
        #expect(throws: DomainCodecError.self) { try UserSessionHeartbeat.decode(bytes) }
    }
}

@Suite("Event schemas")
struct EventSchemaTests {
    /// `user-session.started` as schema 1 stored it (before `userAgent`): version byte 1,
    /// the session id's 16 bytes, then "alice" with its length.
    static let startedSchema1: [UInt8] =
        [0x01] + [0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0] + [0x05] + Array("alice".utf8)

    @Test("a schema-1 started event still decodes, without a user agent")
    func oldStartedDecodes() throws {
        let event = try UserSessionStarted.decode(Self.startedSchema1)
        #expect(event.sessionId == UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"))
        #expect(event.userId == "alice")
        #expect(event.userAgent == nil)
    }

    @Test("every event type round-trips through its binary and JSON forms")
    func roundTrips() throws {
        let id = UUID()
        let events: [any DomainEvent] = [
            UserSessionStarted(sessionId: id, userId: "u1", userAgent: "agent"),
            UserSessionStarted(sessionId: id, userId: "u1"),
            UserSessionRenewed(sessionId: UUID(), userId: "u1", previousSessionId: id),
            UserSessionHeartbeat(sessionId: id),
            UserSessionEngagementChanged(sessionId: id, engaged: true),
            UserSessionEnded(sessionId: id),
            UserSessionExpired(sessionId: id, lastActiveAt: Timestamp(microsecondsSince1970: 1_700_000_000_123_456), renewedBy: UUID()),
            UserSessionExpired(sessionId: id, lastActiveAt: Timestamp(microsecondsSince1970: 5), renewedBy: nil),
        ]
        for event in events {
            try check(event)
        }
        #expect(Set(events.map { type(of: $0).eventType }).count == UserSessionEvents.all.count)
    }

    @Test("the watch-session and progress events round-trip through their binary and JSON forms")
    func newModulesRoundTrip() throws {
        let id = UUID()
        let time = Timestamp(microsecondsSince1970: 1_700_000_000_123_456)
        let events: [any DomainEvent] = [
            WatchSessionStarted(
                sessionId: id,
                userId: "u1",
                userSessionId: UUID(),
                isGuest: false,
                videoId: "v1",
                startTime: time,
                endTime: nil,
                actualTimeWatchedMillis: 510_000,
                percentageWatched: 85.5,
                userMetadata: ClientMetadata(userAgent: "agent", os: "Linux")
            ),
            WatchSessionUpdated(sessionId: id, endTime: time, actualTimeWatchedMillis: nil, percentageWatched: 90),
            PlayerEventRecorded(sessionId: id, event: PlayerEvent(event: .rateChange, eventTime: time, videoTimeMillis: 1_250)),
            WatchSessionDeleted(sessionId: id),
            VideoRegistered(videoId: "v1", durationMillis: 600_000, title: "Intro", completionThreshold: 0.9),
            ProgressRecorded(userId: "u1", videoId: "v1", watchedDuration: 42, lastWatched: time, videoDurationMillis: nil, source: .realtime),
            ProgressDeleted(userId: "u1", videoId: "v1"),
        ]
        for event in events {
            try roundTrip(event)
        }
        #expect(Set(events.map { type(of: $0).eventType }).count == WatchSessionEvents.all.count + VideoProgressEvents.all.count)
    }

    @Test("a stored progress report of schema 1 decodes to the same values")
    func storedProgressBytes() throws {
        // user "u", video "v", 42 s, lastWatched 1 µs after 1970, no player length, realtime.
        let stored: [UInt8] = [1, 1, 0x75, 1, 0x76, 42, 2, 0, 2]
        let event = try ProgressRecorded.decode(stored)
        #expect(
            event
                == ProgressRecorded(
                    userId: "u",
                    videoId: "v",
                    watchedDuration: 42,
                    lastWatched: Timestamp(microsecondsSince1970: 1),
                    videoDurationMillis: nil,
                    source: .realtime
                )
        )
        #expect(event.encoded() == stored)
    }

    private func roundTrip<Event: DomainEvent>(_ event: Event) throws {
        let payload = event.encoded()
        #expect(try Event.decode(payload) == event)
        try event.validate()
        let json = try #require(try EventCatalog.json(type: Event.eventType, payload: payload))
        #expect(try EventCatalog.payload(type: Event.eventType, json: json) == payload)
        try EventCatalog.check(type: Event.eventType, stream: event.stream, payload: payload)
    }

    private func check<Event: DomainEvent>(_ event: Event) throws {
        let payload = event.encoded()
        #expect(try Event.decode(payload) == event)
        let json = try #require(try EventCatalog.json(type: Event.eventType, payload: payload))
        #expect(try EventCatalog.payload(type: Event.eventType, json: json) == payload)
        #expect(event.stream == "user-session/" + (try #require(event.stream.split(separator: "/").last)))
    }

    @Test("types the catalog does not know are left to the caller")
    func unknownType() throws {
        #expect(try EventCatalog.json(type: "other.thing", payload: [1, 2]) == nil)
        #expect(!EventCatalog.knows("other.thing"))
    }
}

@Suite("ISO 8601 times")
struct ISO8601MicrosTests {
    @Test(
        "formats with six fractional digits and parses back",
        arguments: [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1, "1970-01-01T00:00:00.000001Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (1_800_000_000_123_456, "2027-01-15T08:00:00.123456Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
        ] as [(Int64, String)]
    )
    func roundTrip(micros: Int64, text: String) {
        #expect(ISO8601Micros.format(Timestamp(microsecondsSince1970: micros)) == text)
        #expect(ISO8601Micros.parse(text) == Timestamp(microsecondsSince1970: micros))
    }
}

@Suite("UUIDs from text")
struct UUIDTextTests {
    @Test("the canonical form in either case and bare hex parse as Foundation parses them")
    func parses() throws {
        for _ in 0..<100 {
            let id = UUID()
            #expect(UUID(hexadecimal: id.uuidString) == id)
            #expect(UUID(hexadecimal: id.uuidString.lowercased()) == id)
            #expect(UUID(hexadecimal: id.uuidString.replacingOccurrences(of: "-", with: "")) == id)
        }
        #expect(UUID(hexadecimal: "fae5bf038b0a69bedb6bd5f04569f45a") == UUID(uuidString: "FAE5BF03-8B0A-69BE-DB6B-D5F04569F45A"))
    }

    @Test(
        "anything else is nil",
        arguments: [
            "", "nope", "123", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0A",
            "0F1E2D3C_4B5A-6978-8796-A5B4C3D2E1F0", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1G0", "0F1E2D3C4B5A69788796A5B4C3D2E1F",
            "-F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
        ]
    )
    func rejects(text: String) {
        #expect(UUID(hexadecimal: text) == nil)
    }
}
