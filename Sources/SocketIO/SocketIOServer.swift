public import HTTPTypes
public import Logging
public import NIOCore
import NIOWebSocket
import Synchronization
public import WSCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The Engine.IO session's parameters, sent in the handshake's `open` packet.
public struct EngineConfiguration: Sendable {
    /// How often the server pings (the reference server's default: 25 s).
    public var pingInterval: Duration = .seconds(25)
    /// How long a client has to answer a ping (default 20 s).
    public var pingTimeout: Duration = .seconds(20)
    /// The most bytes of one HTTP long-polling payload, or one WebSocket message (default 1,000,000).
    public var maxPayload: Int = 1_000_000
    /// How long a new session may go without connecting to a namespace (default 45 s).
    public var connectTimeout: Duration = .seconds(45)

    /// The defaults.
    public init() {}
}

/// A Socket.IO v5 server over Engine.IO v4 (HTTP long-polling, WebSocket, and the upgrade
/// from the one to the other), knowing nothing of what its namespaces do.
///
/// It is driven by an HTTP server: ``respondToPolling(method:query:headers:body:)`` answers
/// the long-polling requests of `/socket.io/`, ``acceptsWebSocket(query:)`` decides an
/// upgrade and ``serveWebSocket(inbound:outbound:query:headers:)`` runs one. Binary
/// packets are refused: a polling payload with one is a 400, a binary WebSocket frame
/// closes the connection with code 1003 and a reason that says so.
public final class SocketIOServer: Sendable {
    /// The session parameters.
    public let configuration: EngineConfiguration
    private let namespaces: [String: any SocketIONamespace]
    private let logger: Logger
    private let sessions = Mutex<[String: SocketIOConnection]>([:])

    /// A server with `namespaces` by name (`/watch-party`).
    public init(configuration: EngineConfiguration = EngineConfiguration(), namespaces: [String: any SocketIONamespace], logger: Logger) {
        self.configuration = configuration
        self.namespaces = namespaces
        self.logger = logger
    }

    /// How many Engine.IO sessions are open.
    public var sessionCount: Int { sessions.withLock { $0.count } }

    /// An answer to an HTTP long-polling request.
    public struct PollingAnswer: Sendable {
        /// The status: 200, or 400 (with the reference server's error codes) and 413.
        public var status: HTTPResponse.Status
        /// The media type.
        public var contentType: String
        /// The body.
        public var body: String
    }

    /// The reference server's error answers (`Server.errors` of socketio/engine.io).
    enum EngineError: Int {
        case unknownTransport = 0
        case unknownSession = 1
        case badHandshakeMethod = 2
        case badRequest = 3
        case unsupportedProtocolVersion = 5

        var message: String {
            switch self {
            case .unknownTransport: "Transport unknown"
            case .unknownSession: "Session ID unknown"
            case .badHandshakeMethod: "Bad handshake method"
            case .badRequest: "Bad request"
            case .unsupportedProtocolVersion: "Unsupported protocol version"
            }
        }

        var answer: PollingAnswer {
            PollingAnswer(status: .badRequest, contentType: "application/json", body: #"{"code":\#(rawValue),"message":"\#(message)"}"#)
        }
    }

    /// Checks the query every Engine.IO request carries: `EIO=4` and a known `transport`.
    private func check(_ query: [String: String], transport expected: EngineTransport? = nil) -> EngineError? {
        guard let transport = query["transport"].flatMap(EngineTransport.init(rawValue:)) else { return .unknownTransport }
        guard query["EIO"] == "4" else { return .unsupportedProtocolVersion }
        if let expected, transport != expected { return .badRequest }
        return nil
    }

    /// Answers one HTTP long-polling request: a handshake (`GET` without `sid`), a poll
    /// (`GET`) or a send (`POST`). `body` reads at most ``EngineConfiguration/maxPayload``
    /// bytes and returns nil when there are more.
    public func respondToPolling(
        method: HTTPRequest.Method,
        query: [String: String],
        headers: HTTPFields,
        body: () async throws -> ByteBuffer?
    ) async -> PollingAnswer {
        if let error = check(query) { return error.answer }
        guard query["transport"] == EngineTransport.polling.rawValue else { return EngineError.badRequest.answer }
        guard let sid = query["sid"] else {
            guard method == .get else { return EngineError.badHandshakeMethod.answer }
            let connection = open(transport: .polling, handshake: SocketIOHandshake(headers: headers, query: query))
            // The open packet is the first thing the first poll gets.
            _ = connection
            return await poll(connection.session)
        }
        guard let connection = sessions.withLock({ $0[sid] }) else { return EngineError.unknownSession.answer }
        switch method {
        case .get:
            return await poll(connection.session)
        case .post:
            guard connection.session.beginPost() else { return EngineError.badRequest.answer }
            defer { connection.session.endPost() }
            let buffer: ByteBuffer?
            do {
                buffer = try await body()
            } catch {
                connection.session.close(.transportError)
                return EngineError.badRequest.answer
            }
            guard let buffer else {
                connection.session.close(.transportError)
                return PollingAnswer(status: .contentTooLarge, contentType: "text/plain", body: "payload too large")
            }
            guard let packets = EnginePacket.decodePayload(String(buffer: buffer)) else {
                connection.session.close(.parseError)
                return EngineError.badRequest.answer
            }
            for packet in packets { connection.handle(packet) }
            return PollingAnswer(status: .ok, contentType: "text/html", body: "ok")
        default:
            return EngineError.badRequest.answer
        }
    }

    private func poll(_ session: EngineSession) async -> PollingAnswer {
        switch await session.poll() {
        case .refused: EngineError.badRequest.answer
        case .packets(let packets): PollingAnswer(status: .ok, contentType: "text/plain; charset=UTF-8", body: EnginePacket.encodePayload(packets))
        }
    }

    /// Whether a WebSocket upgrade request with `query` may go ahead: `EIO=4`,
    /// `transport=websocket`, and, when it names a session, one still on long-polling and
    /// not probing another WebSocket.
    public func acceptsWebSocket(query: [String: String]) -> Bool {
        guard check(query, transport: .websocket) == nil else { return false }
        // A second WebSocket of a session (one upgraded already, or probing) is refused.
        if let sid = query["sid"] { return sessions.withLock { $0[sid] }?.session.mayUpgrade ?? false }
        return true
    }

    /// Runs one WebSocket: a new session (no `sid`), or the upgrade of a polling session
    /// (`sid`: the probe, then the `upgrade` packet), until it closes.
    public func serveWebSocket(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        query: [String: String],
        headers: HTTPFields
    ) async {
        guard check(query, transport: .websocket) == nil else {
            try? await outbound.close(.policyViolation, reason: "bad Engine.IO query")
            return
        }
        let connection: SocketIOConnection
        var frames: AsyncStream<String>
        var upgrading = false
        if let sid = query["sid"] {
            guard let existing = sessions.withLock({ $0[sid] }), existing.session.mayUpgrade else {
                try? await outbound.close(.policyViolation, reason: "Session ID unknown")
                return
            }
            connection = existing
            frames = AsyncStream { $0.finish() }
            upgrading = true
        } else {
            connection = open(transport: .websocket, handshake: SocketIOHandshake(headers: headers, query: query))
            frames = connection.session.attachWebSocket()
        }
        let session = connection.session
        await withTaskGroup(of: Void.self) { group in
            func startWriter(_ frames: AsyncStream<String>) {
                group.addTask {
                    for await frame in frames {
                        do {
                            try await outbound.write(.text(frame))
                        } catch {
                            break
                        }
                        session.webSocketFrameWritten()
                    }
                    try? await outbound.close(.normalClosure, reason: nil)
                }
            }
            if !upgrading { startWriter(frames) }
            do {
                for try await message in inbound.messages(maxSize: configuration.maxPayload) {
                    guard case .text(let text) = message else {
                        session.close(.parseError)
                        try? await outbound.close(.unacceptableData, reason: "binary packets are not supported")
                        break
                    }
                    guard let packet = EnginePacket(decoding: Substring(text)) else {
                        session.close(.parseError)
                        break
                    }
                    if upgrading {
                        // The upgrade: `2probe`, answered `3probe`; then `5`.
                        if packet.kind == .ping && packet.payload == "probe" {
                            guard let probing = session.beginUpgrade() else { break }
                            frames = probing
                            startWriter(probing)
                            continue
                        }
                        if packet.kind == .upgrade {
                            guard session.completeUpgrade() else { break }
                            upgrading = false
                            continue
                        }
                        break
                    }
                    connection.handle(packet)
                }
            } catch {
                logger.debug("WebSocket ended", metadata: ["sid": "\(session.id)", "error": "\(error)"])
            }
            // The session ends with its WebSocket; a probe that never completed leaves the
            // polling session as it was.
            if session.transport == .websocket {
                session.close(.transportClose)
            } else if upgrading {
                try? await outbound.close(.normalClosure, reason: nil)
            }
            group.cancelAll()
        }
    }

    /// Ends every session (the server is stopping).
    public func closeAll() {
        let connections = sessions.withLock { Array($0.values) }
        for connection in connections { connection.session.close(.serverShutdown) }
    }

    /// A new session with its `open` packet queued, its heartbeat started, and its
    /// Socket.IO connection.
    private func open(transport: EngineTransport, handshake: SocketIOHandshake) -> SocketIOConnection {
        let session = EngineSession(id: Self.newID(), transport: transport, handshake: handshake)
        let connection = SocketIOConnection(session: session, namespaces: namespaces, logger: logger)
        sessions.withLock { $0[session.id] = connection }
        let upgrades = transport == .polling ? #"["websocket"]"# : "[]"
        let open =
            #"{"sid":"\#(session.id)","upgrades":\#(upgrades),"pingInterval":\#(configuration.pingInterval.milliseconds),"#
            + #""pingTimeout":\#(configuration.pingTimeout.milliseconds),"maxPayload":\#(configuration.maxPayload)}"#
        session.send(EnginePacket(.open, Substring(open)))
        let configuration = configuration
        // As the reference server: a ping `pingInterval` after the open or the last pong, and
        // the session closes when its pong has not come `pingTimeout` after the ping. (The
        // pong is looked for every 50 ms: pings come at most that much later than the interval.)
        let heartbeat = Task {
            let clock = ContinuousClock()
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.pingInterval)
                guard !Task.isCancelled, !session.isClosed else { return }
                session.ping()
                let deadline = clock.now.advanced(by: configuration.pingTimeout)
                while session.pingUnanswered, clock.now < deadline, !Task.isCancelled {
                    try? await Task.sleep(for: min(.milliseconds(50), deadline - clock.now))
                }
                guard !Task.isCancelled, !session.isClosed else { return }
                if session.pingUnanswered {
                    session.close(.pingTimeout)
                    return
                }
            }
        }
        let connectTimeout = Task {
            try? await Task.sleep(for: configuration.connectTimeout)
            if !Task.isCancelled && !connection.hasConnectedOnce { session.close(.transportError) }
        }
        session.onClose { [weak self] reason in
            heartbeat.cancel()
            connectTimeout.cancel()
            self?.sessions.withLock { _ = $0.removeValue(forKey: session.id) }
            connection.sessionClosed(reason)
        }
        return connection
    }

    /// 20 random characters of base64url: a session or socket id.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<20).map { _ in alphabet[Int(generator.next() % 64)] })
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
