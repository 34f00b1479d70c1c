import EventLog
import Foundation
import LMDBLog
import Logging
import PlayheadCore
import PlayheadServer
import Projections
import ServiceLifecycle
import Synchronization
import Testing
import Views

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A clock the tests move by hand.
final class TestClock: Sendable {
    private let time: Mutex<Timestamp>

    init(_ start: Timestamp = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)) { time = Mutex(start) }

    var now: Timestamp { time.withLock { $0 } }

    func advance(_ duration: Duration) {
        time.withLock { $0 = Timestamp(microsecondsSince1970: $0.microsecondsSince1970 + Int64(duration.components.seconds) * 1_000_000) }
    }
}

/// What the server answered.
struct HTTPReply {
    var status: Int
    var body: Data
    var headers: [String: String]

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
}

/// The real server on a loopback port, over a fresh store, with a hand-moved clock.
struct TestServer {
    static let secret = "test-secret-0123456789-abcdefghijklmnop"
    let port: Int
    let store: PlayheadStore
    let clock: TestClock
    let authority: TokenAuthority

    /// Runs `body` against a server on 127.0.0.1, then stops it and removes its store. With
    /// `store`, the server opens that directory and leaves it in place (a restart), with `clock`.
    static func run(
        sessionTimeout: Duration = .seconds(3600),
        streamKeepAlive: Duration = .seconds(15),
        store storeDirectory: String? = nil,
        clock: TestClock = TestClock(),
        configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws {
        let directory =
            storeDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-server-\(UUID().uuidString)").path
        defer { if storeDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try PlayheadStore(directory: directory) {
            $0.clock = { clock.now }
            $0.commitObserver = PlayheadHTTPServer.commitObserver
        }
        var configuration = ServerConfiguration(jwtSecret: secret)
        configuration.port = 0
        configuration.clock = { clock.now }
        configuration.sessionTimeout = sessionTimeout
        configuration.viewsPollInterval = .milliseconds(50)
        configuration.streamKeepAliveInterval = streamKeepAlive
        configuration.logger.logLevel = .warning
        configure(&configuration)
        let bound = AsyncStream.makeStream(of: Int.self)
        let app = try await PlayheadHTTPServer.application(store: store, configuration: configuration) { port in
            bound.continuation.yield(port)
        }
        let authority = try await TokenAuthority(secret: secret)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var ports = bound.stream.makeAsyncIterator()
                let port = try #require(await ports.next())
                try await body(TestServer(port: port, store: store, clock: clock, authority: authority))
                group.cancelAll()
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    func token(_ user: String, admin: Bool = false) async throws -> String {
        try await authority.token(userId: user, admin: admin, lifetime: .seconds(3600))
    }

    /// Sends one request; `json` is sent as the body when given, `rawBody` otherwise.
    func send(
        _ method: String,
        _ path: String,
        token: String? = nil,
        json: [String: Any]? = nil,
        rawBody: String? = nil,
        headers: [String: String] = [:]
    ) async throws -> HTTPReply {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let rawBody {
            request.httpBody = Data(rawBody.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { headers[key] = value }
        }
        return HTTPReply(status: http.statusCode, body: data, headers: headers)
    }

    /// Starts a session for the token's user and returns its id.
    func startSession(_ token: String) async throws -> String {
        let reply = try await send("POST", "/user-sessions", token: token)
        #expect(reply.status == 201, "\(reply.text)")
        return try #require(reply.json["sessionId"] as? String)
    }
}
