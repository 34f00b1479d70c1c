import Foundation
import Hummingbird
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import SocketIO
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The namespaces the official test suites expect of the server they check
/// (docs/socket.io-protocol/v5-current.md, "Test suite"): on connection, `auth` with the
/// CONNECT payload; `message` answered with `message-back` and the same arguments;
/// `message-with-ack` acknowledged with its arguments. `/custom` sends `auth` only.
struct EchoNamespace: SocketIONamespace {
    let echoes: Bool

    func connect(_ socket: SocketIOSocket, auth: JSONValue?) async throws {}

    func connected(_ socket: SocketIOSocket) async { socket.emit("auth", [socketAuth(socket)]) }

    private func socketAuth(_ socket: SocketIOSocket) -> JSONValue { authByID.withLock { $0[socket.id] } ?? .object([]) }

    func receive(_ event: SocketIOEvent, from socket: SocketIOSocket) async {
        guard echoes else { return }
        switch event.name {
        case "message": socket.emit("message-back", event.arguments)
        case "message-with-ack": socket.acknowledge(event, event.arguments)
        default: break
        }
    }

    func disconnected(_ socket: SocketIOSocket, reason: String) async {}
}

/// The auth payloads by socket id (the namespace above keeps them to send them back).
let authByID = Mutex<[String: JSONValue]>([:])

/// Keeps the CONNECT payload for ``EchoNamespace``.
struct RecordingNamespace: SocketIONamespace {
    let inner: EchoNamespace
    func connect(_ socket: SocketIOSocket, auth: JSONValue?) async throws {
        if let auth { authByID.withLock { $0[socket.id] = auth } }
    }
    func connected(_ socket: SocketIOSocket) async { await inner.connected(socket) }
    func receive(_ event: SocketIOEvent, from socket: SocketIOSocket) async { await inner.receive(event, from: socket) }
    func disconnected(_ socket: SocketIOSocket, reason: String) async {}
}

/// A Socket.IO server on a loopback port configured as the official suites' server is
/// (maxPayload 1,000,000), with longer timers than their 300 ms ping interval, 200 ms ping
/// timeout and 1 s connect timeout (400 ms, 5 s and 10 s): the whole test run shares two
/// cores, and a pong that waits 200 ms for a CPU would end a session these tests expect alive.
struct ProtocolServer {
    let port: Int
    var http: String { "http://127.0.0.1:\(port)/socket.io/" }
    var ws: String { "ws://127.0.0.1:\(port)/socket.io/" }

    static func run(_ body: (ProtocolServer) async throws -> Void) async throws {
        var configuration = EngineConfiguration()
        configuration.pingInterval = .milliseconds(400)
        configuration.pingTimeout = .seconds(5)
        configuration.connectTimeout = .seconds(10)
        var logger = Logger(label: "socket.io.test")
        logger.logLevel = .warning
        let server = SocketIOServer(
            configuration: configuration,
            namespaces: [
                "/": RecordingNamespace(inner: EchoNamespace(echoes: true)),
                "/custom": RecordingNamespace(inner: EchoNamespace(echoes: false)),
            ],
            logger: logger
        )
        let router = Router()
        server.addPollingRoutes(to: router)
        let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
        server.addWebSocketRoute(to: webSocketRouter)
        let bound = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: webSocketRouter),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { bound.continuation.yield($0.localAddress?.port ?? 0) },
            logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var ports = bound.stream.makeAsyncIterator()
            let port = try #require(await ports.next())
            try await body(ProtocolServer(port: port))
            server.closeAll()
            group.cancelAll()
        }
    }

    /// One HTTP request: status and body text.
    func request(_ query: String, method: String = "GET", body: String? = nil) async throws -> (status: Int, text: String) {
        var request = URLRequest(url: try #require(URL(string: http + "?" + query)))
        request.httpMethod = method
        request.timeoutInterval = 10
        if let body { request.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// A new polling session's id (its handshake answered).
    func pollingSession() async throws -> String {
        let (status, text) = try await request("EIO=4&transport=polling")
        #expect(status == 200)
        let open = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst().utf8)) as? [String: Any])
        return try #require(open["sid"] as? String)
    }

    /// Runs `body` with a WebSocket to `query`; returns how the server closed it (nil when the
    /// client closed it first).
    @discardableResult
    func webSocket(
        _ query: String,
        _ body: @escaping @Sendable (inout WebSocketConversation) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        var logger = Logger(label: "ws.client")
        logger.logLevel = .critical
        return try await WebSocketClient.connect(url: ws + "?" + query, logger: logger) { inbound, outbound, _ in
            var conversation = WebSocketConversation(messages: inbound.messages(maxSize: 1 << 20).makeAsyncIterator(), outbound: outbound)
            try await body(&conversation)
        }
    }
}

/// One side of a WebSocket in a test: the next text message, and sending.
struct WebSocketConversation {
    var messages: WebSocketInboundMessageStream.AsyncIterator
    let outbound: WebSocketOutboundWriter

    /// The next message (binary ones as `<binary>`), nil once the server closed the connection.
    mutating func next() async throws -> String? {
        switch try await messages.next() {
        case .text(let text): text
        case .binary: "<binary>"
        case nil: nil
        }
    }

    /// The next message that is not a ping (`2`), answering the pings meanwhile (a slow
    /// machine must not end the session by ping timeout while a test waits).
    mutating func nextSkippingPings() async throws -> String? {
        while let message = try await next() {
            guard message == "2" else { return message }
            try await send("3")
        }
        return nil
    }

    func send(_ text: String) async throws { try await outbound.write(.text(text)) }
}

/// Engine.IO v4, as the official test suite (docs/engine.io-protocol/v4-test-suite and the
/// Engine.IO half of docs/socket.io-protocol/v5-test-suite) states it, in its own words.
@Suite("Engine.IO v4 conformance", .serialized, .timeLimit(.minutes(5)))
struct EngineConformanceTests {
    @Test("HTTP long-polling: opens a session with sid, upgrades [websocket], pingInterval, pingTimeout and maxPayload")
    func pollingHandshake() async throws {
        try await ProtocolServer.run { server in
            let (status, text) = try await server.request("EIO=4&transport=polling")
            #expect(status == 200 && text.hasPrefix("0"))
            let open = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst().utf8)) as? [String: Any])
            #expect(Set(open.keys) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"])
            #expect(open["upgrades"] as? [String] == ["websocket"])
            #expect(open["pingInterval"] as? Int == 400 && open["pingTimeout"] as? Int == 5_000 && open["maxPayload"] as? Int == 1_000_000)
        }
    }

    @Test("HTTP long-polling: an invalid EIO, an invalid transport or a method other than GET for the handshake is a 400")
    func pollingBadRequests() async throws {
        try await ProtocolServer.run { server in
            for query in ["transport=polling", "EIO=abc&transport=polling", "EIO=3&transport=polling", "EIO=4", "EIO=4&transport=abc"] {
                #expect(try await server.request(query).status == 400, "\(query)")
            }
            let refused = try await server.request("EIO=4&transport=polling", method: "POST", body: "")
            #expect(refused.status == 400 && refused.text.contains("Bad handshake method"))
            let sid = try await server.pollingSession()
            #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "PUT").status == 400)
            #expect(try await server.request("EIO=4&transport=polling&sid=unknown").text.contains("Session ID unknown"))
        }
    }

    @Test("WebSocket: opens a session with upgrades []; an invalid EIO or transport closes (refuses) the connection")
    func webSocketHandshake() async throws {
        try await ProtocolServer.run { server in
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                let open = try #require(try await ws.next())
                #expect(open.hasPrefix("0"))
                let values = try #require(try JSONSerialization.jsonObject(with: Data(open.dropFirst().utf8)) as? [String: Any])
                #expect(values["upgrades"] as? [String] == [] && values["sid"] is String)
            }
            for query in ["EIO=3&transport=websocket", "transport=websocket", "EIO=4&transport=abc", "EIO=4&transport=polling"] {
                await #expect(throws: (any Error).self, "\(query)") {
                    try await server.webSocket(query) { ws in _ = try await ws.next() }
                }
            }
        }
    }

    @Test("HTTP long-polling: sends and receives payloads of several packets separated by \\x1e")
    func pollingPayloads() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            let pushed = try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "POST", body: "40\u{1E}42[\"message\",\"a\"]")
            #expect(pushed.status == 200 && pushed.text == "ok")
            var received = ""
            while !received.contains("message-back") {
                received += try await server.request("EIO=4&transport=polling&sid=\(sid)").text + "\u{1E}"
            }
            let packets = received.split(separator: "\u{1E}").filter { $0 != "2" }
            #expect(packets.first?.hasPrefix("40{\"sid\":") == true)
            #expect(packets.dropFirst().first == "42[\"auth\",{}]")
            #expect(packets.dropFirst(2).first == "42[\"message-back\",\"a\"]")
        }
    }

    @Test("HTTP long-polling: a poll answers at most 16 packets (python-engineio's client refuses more); the rest come with the next polls, in order")
    func pollingPayloadBound() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            let events = (0..<40).map { "42\($0)[\"message-with-ack\",\"m\($0)\"]" }
            let pushed = try await server.request(
                "EIO=4&transport=polling&sid=\(sid)",
                method: "POST",
                body: (["40"] + events).joined(separator: "\u{1E}")
            )
            #expect(pushed.status == 200)
            var acks: [Substring] = []
            for _ in 0..<20 where acks.count < 40 {
                let poll = try await server.request("EIO=4&transport=polling&sid=\(sid)")
                let records = poll.text.split(separator: "\u{1E}")
                #expect(records.count <= 16, "\(records.count) packets in one poll")
                acks += records.filter { $0.hasPrefix("43") }
            }
            #expect(acks.map(String.init) == (0..<40).map { "43\($0)[\"m\($0)\"]" }, "\(acks.prefix(3))")
        }
    }

    @Test("HTTP long-polling: an invalid packet, or a binary one, is a 400 and closes the session")
    func pollingInvalidPacket() async throws {
        try await ProtocolServer.run { server in
            for body in ["abc", "bAQIDBA=="] {
                let sid = try await server.pollingSession()
                #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "POST", body: body).status == 400, "\(body)")
                #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)").status == 400, "\(body): the session is closed")
            }
        }
    }

    @Test("HTTP long-polling: two polls at once close the session")
    func duplicatePolls() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            async let first = server.request("EIO=4&transport=polling&sid=\(sid)")
            try await Task.sleep(for: .milliseconds(200))
            let second = try await server.request("EIO=4&transport=polling&sid=\(sid)")
            let answers = [try await first, second]
            #expect(answers.contains { $0.status == 400 })
            #expect(answers.contains { $0.status == 200 && $0.text == "1" }, "the pending poll gets the close packet: \(answers)")
            #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)").status == 400)
        }
    }

    @Test("heartbeat: polling gets ping (2) and answers pong (3); without a pong the session closes after pingTimeout")
    func pollingHeartbeat() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            // Connected to a namespace, so that the connect timeout (1 s) does not end the session.
            #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "POST", body: "40").status == 200)
            for _ in 0..<4 {
                var records: [Substring] = []
                while !records.contains("2") {
                    let poll = try await server.request("EIO=4&transport=polling&sid=\(sid)")
                    #expect(poll.status == 200 && !poll.text.contains("\u{1E}1") && poll.text != "1", "\(poll)")
                    records = poll.text.split(separator: "\u{1E}")
                }
                #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "POST", body: "3").status == 200)
            }
            // A session that never answers a ping closes once pingInterval + pingTimeout (5.4 s)
            // have passed: its polls then get the close packet, then 400. Polls do not answer
            // pings; on a busy machine the timers may fire late, so this waits up to 30 s.
            let quiet = try await server.pollingSession()
            try await Task.sleep(for: .milliseconds(5_400))
            var status = 0
            for _ in 0..<30 where status != 400 {
                status = try await server.request("EIO=4&transport=polling&sid=\(quiet)").status
                if status != 400 { try await Task.sleep(for: .seconds(1)) }
            }
            #expect(status == 400, "a session that never answered a ping is closed")
        }
    }

    @Test("heartbeat: WebSocket gets ping and answers pong; without a pong the server closes the connection")
    func webSocketHeartbeat() async throws {
        try await ProtocolServer.run { server in
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                try await ws.send("40")
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<4 {
                    var message = try await ws.next()
                    while let text = message, text != "2" { message = try await ws.next() }
                    #expect(message == "2", "a ping, not the end")
                    try await ws.send("3")
                }
                // The next ping comes pingInterval (400 ms) after the pong, as the reference
                // server schedules it, not after the ping timeout (5 s) has run out: four
                // answered pings take about 1.6 s, far from the 20 s of the other reading.
                #expect(clock.now - start < .seconds(5), "four pings in \(clock.now - start)")
            }
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                #expect(try await ws.next() == "2")
                #expect(try await ws.next() == nil, "closed after pingTimeout")
            }
        }
    }

    @Test("close: a close packet ends the session; the pending poll gets noop or close, the next one a 400")
    func forcefulClose() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            async let poll = server.request("EIO=4&transport=polling&sid=\(sid)")
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)", method: "POST", body: "1").status == 200)
            let pending = try await poll
            // On a loaded machine the first ping (400 ms after the open) may answer the poll
            // before the close comes; else the close ends it with noop or close.
            #expect(pending.status == 200 && ["6", "1", "2"].contains(pending.text), "\(pending)")
            #expect(try await server.request("EIO=4&transport=polling&sid=\(sid)").status == 400, "closed by the close packet")
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                try await ws.send("1")
                #expect(try await ws.next() == nil)
            }
        }
    }

    @Test("upgrade: 2probe answered 3probe, the pending poll ends with noop (6), then upgrade (5) moves the session to the WebSocket")
    func upgrade() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            async let pending = server.request("EIO=4&transport=polling&sid=\(sid)")
            try await Task.sleep(for: .milliseconds(200))
            let polled = Mutex<(Int, String)?>(nil)
            try await server.webSocket("EIO=4&transport=websocket&sid=\(sid)") { ws in
                try await ws.send("2probe")
                #expect(try await ws.next() == "3probe")
                try await ws.send("5")
                try await ws.send("40")
                #expect(try await ws.nextSkippingPings()?.hasPrefix("40{\"sid\":") == true)
                #expect(try await ws.nextSkippingPings() == "42[\"auth\",{}]")
                // After the upgrade an HTTP request of the session is refused, and the session goes on.
                let after = try await server.request("EIO=4&transport=polling&sid=\(sid)")
                polled.withLock { $0 = (after.status, after.text) }
                try await ws.send("42[\"message\",\"hello\"]")
                #expect(try await ws.nextSkippingPings() == "42[\"message-back\",\"hello\"]")
            }
            let noop = try await pending
            // On a loaded machine the first ping (400 ms after the open) may answer the poll
            // before the upgrade does (a fresh run of the whole suite saw it); else the
            // upgrade ends it with noop.
            #expect(noop.status == 200 && ["6", "2"].contains(noop.text), "\(noop)")
            #expect(polled.withLock { $0?.0 } == 400)
        }
    }

    @Test("upgrade: a second WebSocket with the same sid after the upgrade is closed, the first goes on")
    func secondWebSocketAfterUpgrade() async throws {
        try await ProtocolServer.run { server in
            let sid = try await server.pollingSession()
            try await server.webSocket("EIO=4&transport=websocket&sid=\(sid)") { ws in
                try await ws.send("2probe")
                #expect(try await ws.next() == "3probe")
                try await ws.send("5")
                await #expect(throws: (any Error).self, "the second WebSocket of the session is refused") {
                    try await server.webSocket("EIO=4&transport=websocket&sid=\(sid)") { second in _ = try await second.next() }
                }
                try await ws.send("40")
                #expect(try await ws.nextSkippingPings()?.hasPrefix("40") == true)
            }
        }
    }
}

/// Socket.IO v5, as the official test suite (docs/socket.io-protocol/v5-test-suite) states
/// it, in its own words.
@Suite("Socket.IO v5 conformance", .serialized, .timeLimit(.minutes(5)))
struct SocketConformanceTests {
    /// A WebSocket session connected to `/`, its `auth` packet read.
    func connected(_ server: ProtocolServer, _ body: @escaping @Sendable (inout WebSocketConversation) async throws -> Void) async throws {
        try await server.webSocket("EIO=4&transport=websocket") { ws in
            _ = try await ws.next()
            try await ws.send("40")
            #expect(try await ws.nextSkippingPings()?.hasPrefix("40") == true)
            #expect(try await ws.nextSkippingPings() == "42[\"auth\",{}]")
            try await body(&ws)
        }
    }

    @Test("connect: the main and a custom namespace, with and without a payload, answered with sid and then auth")
    func connect() async throws {
        try await ProtocolServer.run { server in
            let cases: [(String, String, String)] = [
                ("40", "40{", "42[\"auth\",{}]"),
                ("40{\"token\":\"123\"}", "40{", "42[\"auth\",{\"token\":\"123\"}]"),
                ("40/custom,", "40/custom,{", "42/custom,[\"auth\",{}]"),
                ("40/custom,{\"token\":\"abc\"}", "40/custom,{", "42/custom,[\"auth\",{\"token\":\"abc\"}]"),
            ]
            for (request, answer, auth) in cases {
                try await server.webSocket("EIO=4&transport=websocket") { ws in
                    _ = try await ws.next()
                    try await ws.send(request)
                    let connect = try #require(try await ws.nextSkippingPings())
                    #expect(connect.hasPrefix(answer), "\(request): \(connect)")
                    let handshake = try #require(
                        try JSONSerialization.jsonObject(with: Data(connect.dropFirst(answer.count - 1).utf8)) as? [String: Any]
                    )
                    #expect(Set(handshake.keys) == ["sid"] && handshake["sid"] is String)
                    #expect(try await ws.nextSkippingPings() == auth, "\(request)")
                }
            }
        }
    }

    @Test("connect: an unknown namespace is a CONNECT_ERROR; an invalid handshake or none within connectTimeout closes")
    func connectRefusals() async throws {
        try await ProtocolServer.run { server in
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                try await ws.send("40/random")
                #expect(try await ws.nextSkippingPings() == "44/random,{\"message\":\"Invalid namespace\"}")
            }
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                try await ws.send("4abc")
                #expect(try await ws.nextSkippingPings() == nil)
            }
            try await server.webSocket("EIO=4&transport=websocket") { ws in
                _ = try await ws.next()
                // No CONNECT: closed after connectTimeout (10 s), answering pings meanwhile.
                while let message = try await ws.next() {
                    if message == "2" { try await ws.send("3") }
                }
            }
        }
    }

    @Test("disconnect: from the main namespace the session stays (the next packet is a ping); from a custom one the main goes on")
    func disconnect() async throws {
        try await ProtocolServer.run { server in
            try await connected(server) { ws in
                try await ws.send("41")
                #expect(try await ws.next() == "2")
            }
            try await connected(server) { ws in
                try await ws.send("40/custom")
                #expect(try await ws.nextSkippingPings()?.hasPrefix("40/custom,") == true)
                #expect(try await ws.nextSkippingPings() == "42/custom,[\"auth\",{}]")
                try await ws.send("41/custom")
                try await ws.send("42[\"message\",\"message to main namespace\"]")
                #expect(try await ws.nextSkippingPings() == "42[\"message-back\",\"message to main namespace\"]")
            }
        }
    }

    @Test("message: plain-text events echo; an ack answers with the id; binary packets are refused by closing")
    func messages() async throws {
        try await ProtocolServer.run { server in
            try await connected(server) { ws in
                try await ws.send("42[\"message\",1,\"2\",{\"3\":[true]}]")
                #expect(try await ws.nextSkippingPings() == "42[\"message-back\",1,\"2\",{\"3\":[true]}]")
                try await ws.send("42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]")
                #expect(try await ws.nextSkippingPings() == "43456[1,\"2\",{\"3\":[false]}]")
            }
            try await connected(server) { ws in
                try await ws.send("452-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]")
                #expect(try await ws.nextSkippingPings() == nil, "binary packets are not supported: the session closes")
            }
            try await connected(server) { ws in
                try await ws.outbound.write(.binary(ByteBuffer(bytes: [1, 2, 3])))
                #expect(try await ws.nextSkippingPings() == nil)
            }
        }
    }

    @Test("message: an unknown packet type, a payload that is not an array, or an invalid ack id closes the connection")
    func invalidFormats() async throws {
        try await ProtocolServer.run { server in
            for bad in ["4abc", "42{}", "42abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"] {
                try await connected(server) { ws in
                    try await ws.send(bad)
                    #expect(try await ws.nextSkippingPings() == nil, "\(bad)")
                }
            }
        }
    }
}
