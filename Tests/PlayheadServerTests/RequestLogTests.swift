import EventLog
import Foundation
import Hummingbird
import LMDBLog
import Logging
import PlayheadCore
import Projections
import ServiceLifecycle
import Synchronization
import Testing
import Views
import WatchDomain

@testable import PlayheadServer

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A log handler that keeps every line it is given, for tests to read.
final class CapturedLog: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let lines = Mutex<[Line]>([])

    var all: [Line] { lines.withLock { $0 } }

    func append(_ line: Line) { lines.withLock { $0.append(line) } }

    /// A logger at `level` that writes here.
    func logger(label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            log.append(Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// Hummingbird's request id for a process whose random half is `high` and a request whose
/// counter is `low`: `high` in hex, unpadded, then `low` in 16 hex digits (its `RequestID`).
private func hummingbirdForm(high: UInt64, low: UInt64) -> String {
    let low = String(low, radix: 16)
    return String(high, radix: 16) + String(repeating: "0", count: 16 - low.count) + low
}

private func isThirtyTwoHexDigits(_ text: String) -> Bool {
    text.utf8.count == 32 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
}

@Suite("Request ids, correlation ids and request log lines", .timeLimit(.minutes(5)))
struct RequestLogTests {
    @Test("every request id Hummingbird makes becomes 32 hex digits of the same number, which read as a UUID are the correlation id")
    func hummingbirdRequestIDs() throws {
        var random = SystemRandomNumberGenerator()
        // Random halves of every length from 1 to 16 digits (a process start draws one; one in
        // sixteen is 15 digits or fewer), and the edges.
        var highs: [UInt64] = [0, 1, 0xF, 0x0FFF_FFFF_FFFF_FFFF, 0x1000_0000_0000_0000, .max]
        for shift in 0..<64 { highs.append(random.next() >> UInt64(shift)) }
        let lows: [UInt64] = [0, 1, 0xFFFF, .max, random.next(), random.next()]
        var seen: [String: String] = [:]
        for high in highs {
            for low in lows {
                let id = hummingbirdForm(high: high, low: low)
                let identity = RequestIdentity(hummingbirdID: id)
                #expect(isThirtyTwoHexDigits(identity.text), "\(id) -> \(identity.text)")
                // The same number: the random half padded to 16 digits, then the counter.
                let highDigits = String(high, radix: 16)
                #expect(identity.text == String(repeating: "0", count: 16 - highDigits.count) + highDigits + id.suffix(16))
                #expect(UUID(hexadecimal: identity.text) == identity.uuid)
                #expect(RequestIdentity(hummingbirdID: id) == identity, "the same id gives the same correlation id")
                if let other = seen[identity.text] { #expect(other == id, "two ids became one: \(other), \(id)") }
                seen[identity.text] = id
            }
        }
        // And Hummingbird's own, whatever this process drew.
        for _ in 0..<100 {
            let id = RequestID().description
            let identity = RequestIdentity(hummingbirdID: id)
            #expect(isThirtyTwoHexDigits(identity.text))
            #expect(identity.text.hasSuffix(id.lowercased()))
            #expect(UUID(hexadecimal: identity.text) == identity.uuid)
            #expect(RequestIdentity(hummingbirdID: id) == identity)
        }
    }

    @Test("an id in any other form gets a correlation id derived from it, the same each time, never a random one")
    func otherRequestIDs() throws {
        let uuid = UUID()
        let ids = [
            "", "x", "request-7", "REQUEST-7", "0123456789abcdef0123456789abcdef0", String(repeating: "f", count: 40),
            "zoë", "12 34", uuid.uuidString, uuid.uuidString.lowercased(), "0x1234",
        ]
        var texts: Set<String> = []
        for id in ids {
            let identity = RequestIdentity(hummingbirdID: id)
            #expect(isThirtyTwoHexDigits(identity.text), "\(id) -> \(identity.text)")
            #expect(UUID(hexadecimal: identity.text) == identity.uuid)
            #expect(RequestIdentity(hummingbirdID: id) == identity, "\(id)")
            texts.insert(identity.text)
        }
        // A UUID is its own correlation id, in either case; every other id gets its own.
        #expect(RequestIdentity(hummingbirdID: uuid.uuidString).uuid == uuid)
        #expect(RequestIdentity(hummingbirdID: uuid.uuidString.lowercased()).uuid == uuid)
        #expect(texts.count == ids.count - 1)
        // Hex digits in upper case are the same number as in lower case.
        #expect(RequestIdentity(hummingbirdID: "ABC").text == RequestIdentity(hummingbirdID: "abc").text)
    }

    @Test("each response's X-Request-Id is 32 hex digits and the events of its request carry it as their correlation id")
    func correlationOverHTTP() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            var requestIDs: [String] = []
            let started = try await server.send("POST", "/user-sessions", token: alice)
            requestIDs.append(try #require(started.header("X-Request-Id")))
            let session = try #require(started.json["sessionId"] as? String)
            for _ in 0..<20 {
                let beat = try await server.send("POST", "/user-sessions/heartbeat/\(session)", token: alice)
                requestIDs.append(try #require(beat.header("X-Request-Id")))
            }
            let refused = try await server.send("POST", "/user-sessions")
            #expect(refused.status == 401)
            #expect(isThirtyTwoHexDigits(refused.header("X-Request-Id") ?? ""))

            let events = try server.store.log.read(from: 1, limit: 100)
            #expect(events.count == requestIDs.count)
            for (event, id) in zip(events, requestIDs) {
                #expect(isThirtyTwoHexDigits(id), "\(id)")
                #expect(event.correlationID == UUID(hexadecimal: id), "\(event.type) of request \(id)")
            }
            #expect(Set(requestIDs).count == requestIDs.count)
        }
    }

    @Test("a line at start, one per request with method, path, status, duration and request id, and a line at stop")
    func requestLines() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try PlayheadStore(directory: directory)
        let captured = CapturedLog()
        var configuration = ServerConfiguration(jwtSecret: TestServer.secret)
        configuration.port = 0
        configuration.logger = captured.logger(label: "playhead.server", level: .info)
        let bound = AsyncStream.makeStream(of: Int.self)
        let app = try await PlayheadHTTPServer.application(store: store, configuration: configuration) { port in
            bound.continuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        var ports = bound.stream.makeAsyncIterator()
        let port = try #require(await ports.next())
        let server = TestServer(port: port, store: store, clock: TestClock(), authority: try await TokenAuthority(secret: TestServer.secret))
        let alice = try await server.token("alice")

        let started = try await server.send("POST", "/user-sessions", token: alice)
        let unauthenticated = try await server.send("GET", "/user-sessions")
        let missing = try await server.send("GET", "/no/such/route", token: alice)
        let badBody = try await server.send(
            "PATCH",
            "/user-sessions/8d6fdb28-37f5-42a3-8a5e-667812efba59/content-engaged?x=1",
            token: alice,
            rawBody: "{\"engaged\": tru"
        )
        // With the log closed, an append fails unexpectedly: a 500.
        await store.close()
        let failed = try await server.send("POST", "/user-sessions", token: alice)
        let replies = [
            (started, "POST", "/user-sessions", 201), (unauthenticated, "GET", "/user-sessions", 401),
            (missing, "GET", "/no/such/route", 404),
            (badBody, "PATCH", "/user-sessions/8d6fdb28-37f5-42a3-8a5e-667812efba59/content-engaged", 400),
            (failed, "POST", "/user-sessions", 500),
        ]
        #expect(replies.map(\.0.status) == replies.map(\.3))

        await group.triggerGracefulShutdown()
        try await running.value

        let lines = captured.all
        let address = "http://127.0.0.1:\(port)"
        // Hummingbird's own lines come first; the start line comes before any request's.
        let startIndex = try #require(lines.firstIndex { $0.message == "playhead serving" })
        #expect(lines[startIndex].level == .notice)
        #expect(lines[startIndex].metadata["address"] == address)
        #expect(lines[startIndex].metadata["store"] == directory)
        #expect(!lines[..<startIndex].contains { $0.message == "request" })

        let requestLines = lines.filter { $0.message == "request" }
        #expect(requestLines.count == replies.count)
        for (line, (reply, method, path, status)) in zip(requestLines, replies) {
            #expect(line.level == .info)
            #expect(line.metadata["hb.request.method"] == method)
            #expect(line.metadata["hb.request.path"] == path)
            #expect(line.metadata["status"] == String(status))
            #expect(line.metadata["hb.request.id"] == reply.header("X-Request-Id"))
            let duration = try #require(line.metadata["duration_ms"])
            #expect(duration.wholeMatch(of: /[0-9]+\.[0-9]{3}/) != nil, "\(duration)")
        }
        // The 500 has its own error line with the same request id, before its request line.
        let failure = try #require(lines.first { $0.level == .error })
        #expect(failure.metadata["hb.request.id"] == failed.header("X-Request-Id"))

        let last = try #require(lines.last)
        #expect(last.message == "playhead stopped" && last.level == .notice)
        #expect(last.metadata["address"] == address)
    }

    @Test("durations are written in milliseconds with three decimals")
    func durationText() {
        #expect(RequestLogMiddleware.milliseconds(.zero) == "0.000")
        #expect(RequestLogMiddleware.milliseconds(.microseconds(412)) == "0.412")
        #expect(RequestLogMiddleware.milliseconds(.microseconds(12_000)) == "12.000")
        #expect(RequestLogMiddleware.milliseconds(.seconds(3) + .microseconds(5)) == "3000.005")
        #expect(RequestLogMiddleware.milliseconds(.nanoseconds(999)) == "0.000")
    }
}
