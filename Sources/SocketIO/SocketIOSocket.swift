public import HTTPTypes
import Synchronization

/// What the request that opened an Engine.IO session carried: its headers (an
/// `Authorization` header, say) and its query.
public struct SocketIOHandshake: Sendable {
    /// The request's header fields.
    public var headers: HTTPFields
    /// The query parameters, by name (the last value of a repeated one).
    public var query: [String: String]

    /// Creates a handshake.
    public init(headers: HTTPFields, query: [String: String]) {
        self.headers = headers
        self.query = query
    }
}

/// An event a client emitted: its name, its arguments, and whether it waits for an
/// acknowledgement (the client passed a callback).
public struct SocketIOEvent: Sendable, Hashable {
    /// The event's name (the payload's first element).
    public var name: String
    /// The arguments after the name.
    public var arguments: [JSONValue]
    /// The id the acknowledgement must carry, when the client asked for one.
    public var ackId: UInt64?

    /// Creates an event.
    public init(name: String, arguments: [JSONValue], ackId: UInt64? = nil) {
        self.name = name
        self.arguments = arguments
        self.ackId = ackId
    }
}

/// A namespace refusing a CONNECT: the client gets a CONNECT_ERROR packet whose payload is
/// `{"message": message}` (plus `data` when given), which a stock client raises as a
/// `connect_error` with that message.
public struct SocketIOConnectRefusal: Error, Sendable, Hashable {
    /// Why, for people.
    public var message: String
    /// Details for programs, when there are any.
    public var data: JSONValue?

    /// Creates a refusal.
    public init(_ message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }
}

/// What a namespace of a ``SocketIOServer`` does with its clients. The server calls each
/// method of one socket in the order its packets arrived, one at a time.
public protocol SocketIONamespace: Sendable {
    /// A client asks to connect with `auth` (the CONNECT packet's payload). Return to
    /// accept; throw ``SocketIOConnectRefusal`` to refuse with its message. Anything else
    /// thrown refuses with "internal error".
    func connect(_ socket: SocketIOSocket, auth: JSONValue?) async throws
    /// The client's CONNECT was answered: what is emitted from here on follows the answer.
    func connected(_ socket: SocketIOSocket) async
    /// A connected client emitted `event`.
    func receive(_ event: SocketIOEvent, from socket: SocketIOSocket) async
    /// The client left the namespace, or its session ended; `reason` says why (Socket.IO's
    /// words: `client namespace disconnect`, `transport close`, `ping timeout`, …).
    func disconnected(_ socket: SocketIOSocket, reason: String) async
}

extension SocketIONamespace {
    /// Nothing to do once connected.
    public func connected(_ socket: SocketIOSocket) async {}
}

/// One client connected to one namespace: what a ``SocketIONamespace`` emits to and
/// acknowledges through. Emitting never waits: the packet is queued on the client's
/// session in call order (a client too slow to take them is dropped).
public final class SocketIOSocket: Sendable {
    /// The socket's id (what the CONNECT answer carries as `sid`).
    public let id: String
    /// The namespace (`/watch-party`).
    public let namespace: String
    /// What opened the underlying session.
    public var handshake: SocketIOHandshake { session.handshake }

    let session: EngineSession
    private let connected = Mutex(true)
    /// What the connection does after a server-side disconnect.
    private let onServerDisconnect: @Sendable (SocketIOSocket) -> Void

    init(id: String, namespace: String, session: EngineSession, onServerDisconnect: @escaping @Sendable (SocketIOSocket) -> Void) {
        self.id = id
        self.namespace = namespace
        self.session = session
        self.onServerDisconnect = onServerDisconnect
    }

    /// Whether the client is still connected to the namespace.
    public var isConnected: Bool { connected.withLock { $0 } && !session.isClosed }

    /// Packets waiting for the client (its session's, for every namespace): a sender that
    /// can wait checks it to go at the client's pace, before the session drops the client
    /// as too slow (at 4,096).
    public var queuedPackets: Int { session.queuedPackets }

    /// Sends the event `name` with `arguments` to this client.
    public func emit(_ name: String, _ arguments: [JSONValue] = []) {
        guard isConnected else { return }
        send(SocketPacket(.event, namespace: namespace, payload: .array([.string(name)] + arguments)))
    }

    /// Sends an event encoded once for many clients (``SocketIOEncodedEvent``), when it is
    /// for this socket's namespace.
    public func emit(_ event: SocketIOEncodedEvent) {
        guard isConnected, event.namespace == namespace else { return }
        session.send(encoded: event.text)
    }

    /// Answers `event`'s acknowledgement with `arguments` (nothing when the client asked
    /// for none).
    public func acknowledge(_ event: SocketIOEvent, _ arguments: [JSONValue]) {
        guard let ackId = event.ackId, isConnected else { return }
        send(SocketPacket(.ack, namespace: namespace, ackId: ackId, payload: .array(arguments)))
    }

    /// Disconnects the client from the namespace (a DISCONNECT packet); the namespace's
    /// `disconnected` is called with `server namespace disconnect`.
    public func disconnect() {
        guard markDisconnected() else { return }
        send(SocketPacket(.disconnect, namespace: namespace))
        onServerDisconnect(self)
    }

    /// Marks the socket disconnected; false when it was already.
    func markDisconnected() -> Bool {
        connected.withLock { connected in
            defer { connected = false }
            return connected
        }
    }

    func send(_ packet: SocketPacket) { session.send(EnginePacket(.message, Substring(packet.encoded))) }
}

/// An EVENT packet encoded once (as the Engine.IO message that carries it), to send to many
/// clients of one namespace: a room's broadcast costs one JSON encoding, not one per member.
public struct SocketIOEncodedEvent: Sendable {
    /// The namespace it is for.
    public let namespace: String
    let text: String

    /// The event `name` with `arguments`, for `namespace`.
    public init(_ name: String, _ arguments: [JSONValue] = [], namespace: String) {
        self.namespace = namespace
        let packet = SocketPacket(.event, namespace: namespace, payload: .array([.string(name)] + arguments))
        text = EnginePacket(.message, Substring(packet.encoded)).encoded
    }
}
