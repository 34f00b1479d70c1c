import Logging
import Synchronization

/// The Socket.IO side of one Engine.IO session: the namespaces its client connected to,
/// and the one task that hands its packets to them, one at a time, in the order they came.
///
/// At most ``maxQueued`` packets wait for that task: a client that sends faster than its
/// events are handled is closed (`client flooding`) rather than queue work without bound.
/// Once the session has closed, packets still waiting are dropped unhandled (their acks
/// could reach nobody); the namespaces then hear of the disconnect.
final class SocketIOConnection: Sendable {
    /// The most packets that may wait to be handled.
    static let maxQueued = 1_000

    let session: EngineSession
    private let namespaces: [String: any SocketIONamespace]
    private let logger: Logger

    /// What the dispatch task works through.
    private enum Item: Sendable {
        case packet(Substring)
        case closed(EngineCloseReason)
    }

    private let inbox: AsyncStream<Item>.Continuation
    private let queued = Atomic<Int>(0)
    private let sockets = Mutex<[String: SocketIOSocket]>([:])
    private let connectedOnce = Mutex(false)

    init(session: EngineSession, namespaces: [String: any SocketIONamespace], logger: Logger) {
        self.session = session
        self.namespaces = namespaces
        self.logger = logger
        let (stream, inbox) = AsyncStream.makeStream(of: Item.self)
        self.inbox = inbox
        Task { [self] in
            for await item in stream {
                switch item {
                case .packet(let text):
                    queued.subtract(1, ordering: .relaxed)
                    if !session.isClosed { await dispatch(text) }
                case .closed(let reason):
                    await disconnectAll(reason: reason.rawValue)
                    return
                }
            }
        }
    }

    /// Whether the client ever connected to a namespace.
    var hasConnectedOnce: Bool { connectedOnce.withLock { $0 } }

    /// An Engine.IO packet from the client.
    func handle(_ packet: EnginePacket) {
        switch packet.kind {
        case .message:
            guard queued.add(1, ordering: .relaxed).newValue <= Self.maxQueued else {
                session.close(.flooding)
                return
            }
            inbox.yield(.packet(packet.payload))
        case .pong: session.pong()
        case .ping: session.send(EnginePacket(.pong, packet.payload))
        case .close: session.close(.transportClose)
        case .open, .upgrade, .noop: session.close(.parseError)
        }
    }

    /// The session ended: every namespace hears of it after the packets before it.
    func sessionClosed(_ reason: EngineCloseReason) {
        inbox.yield(.closed(reason))
        inbox.finish()
    }

    private func dispatch(_ text: Substring) async {
        let packet: SocketPacket
        do {
            packet = try SocketPacket(decoding: text)
        } catch {
            logger.debug("closing a session after a bad packet", metadata: ["sid": "\(session.id)", "error": "\(error)"])
            session.close(.parseError)
            return
        }
        let socket = sockets.withLock { $0[packet.namespace] }
        switch packet.kind {
        case .connect:
            await connect(packet)
        case .event:
            // A session's first packet must be a CONNECT (the protocol's rule); an event for a
            // namespace the client is not in is dropped, as the reference server drops it.
            guard let socket else {
                if !hasConnectedOnce { session.close(.parseError) }
                return
            }
            guard case .array(let values)? = packet.payload, case .string(let name)? = values.first else { return }
            await namespaces[packet.namespace]?.receive(
                SocketIOEvent(name: name, arguments: Array(values.dropFirst()), ackId: packet.ackId),
                from: socket
            )
        case .disconnect:
            guard let socket, socket.markDisconnected() else { return }
            sockets.withLock { _ = $0.removeValue(forKey: packet.namespace) }
            await namespaces[packet.namespace]?.disconnected(socket, reason: "client namespace disconnect")
        case .ack, .connectError, .binaryEvent, .binaryAck:
            // The server asks for no acknowledgements; the rest never reach here (decoding refuses them).
            break
        }
    }

    private func connect(_ packet: SocketPacket) async {
        let namespace = packet.namespace
        guard let handler = namespaces[namespace] else {
            send(SocketPacket(.connectError, namespace: namespace, payload: .object([("message", .string("Invalid namespace"))])))
            return
        }
        guard sockets.withLock({ $0[namespace] }) == nil else { return }
        let socket = SocketIOSocket(id: SocketIOServer.newID(), namespace: namespace, session: session) { [weak self] socket in
            guard let self else { return }
            self.sockets.withLock { if $0[namespace] === socket { $0.removeValue(forKey: namespace) } }
            Task { await handler.disconnected(socket, reason: "server namespace disconnect") }
        }
        do {
            try await handler.connect(socket, auth: packet.payload)
        } catch let refusal as SocketIOConnectRefusal {
            var members: [(String, JSONValue)] = [("message", .string(refusal.message))]
            if let data = refusal.data { members.append(("data", data)) }
            send(SocketPacket(.connectError, namespace: namespace, payload: .object(members)))
            return
        } catch {
            logger.error("a namespace failed to connect a client", metadata: ["namespace": "\(namespace)", "error": "\(error)"])
            send(SocketPacket(.connectError, namespace: namespace, payload: .object([("message", .string("internal error"))])))
            return
        }
        sockets.withLock { $0[namespace] = socket }
        connectedOnce.withLock { $0 = true }
        send(SocketPacket(.connect, namespace: namespace, payload: .object([("sid", .string(socket.id))])))
        await handler.connected(socket)
    }

    private func disconnectAll(reason: String) async {
        let all = sockets.withLock { sockets in
            defer { sockets = [:] }
            return Array(sockets.values)
        }
        for socket in all where socket.markDisconnected() {
            await namespaces[socket.namespace]?.disconnected(socket, reason: reason)
        }
    }

    private func send(_ packet: SocketPacket) { session.send(EnginePacket(.message, Substring(packet.encoded))) }
}
