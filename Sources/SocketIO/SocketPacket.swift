/// A Socket.IO v5 packet (docs/socket.io-protocol/v5-current.md in socketio/socket.io,
/// "Packet encoding"), the default parser's text form:
/// `<type>[<namespace>,][<ack id>][<JSON payload>]`, the namespace written only when it is
/// not `/`. Binary packets (BINARY_EVENT, BINARY_ACK) are not supported: decoding one is
/// an error that says so.
public struct SocketPacket: Sendable, Hashable {
    /// The packet types, by their wire digit.
    public enum Kind: Character, Sendable, Hashable {
        /// Connect to a namespace (client), or its acceptance (server, with the socket id).
        case connect = "0"
        /// Leave a namespace.
        case disconnect = "1"
        /// An event: a non-empty array whose first element is the event's name.
        case event = "2"
        /// The answer to an event that asked for one (an array, possibly empty).
        case ack = "3"
        /// The refusal of a CONNECT (server), with `{"message": …}`.
        case connectError = "4"
        /// An event with binary attachments: not supported.
        case binaryEvent = "5"
        /// An acknowledgement with binary attachments: not supported.
        case binaryAck = "6"
    }

    /// The type.
    public var kind: Kind
    /// The namespace (`/` is the main one).
    public var namespace: String
    /// The acknowledgement id, when the sender asks for one (events) or answers one (acks).
    public var ackId: UInt64?
    /// The payload, when there is one.
    public var payload: JSONValue?

    /// Creates a packet.
    public init(_ kind: Kind, namespace: String = "/", ackId: UInt64? = nil, payload: JSONValue? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.ackId = ackId
        self.payload = payload
    }

    /// The text form (what an Engine.IO `message` packet carries).
    public var encoded: String {
        var out = String(kind.rawValue)
        if namespace != "/" { out += namespace + "," }
        if let ackId { out += String(ackId) }
        payload?.write(to: &out)
        return out
    }

    /// Why a text is not a packet this server takes.
    public struct DecodingError: Error, Hashable, CustomStringConvertible {
        /// What is wrong.
        public var message: String
        /// Creates an error.
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// The packet `text` spells.
    ///
    /// - Throws: ``DecodingError`` for an unknown type, a binary packet, a payload that is
    ///   not JSON, or one of the wrong shape for its type (an EVENT needs a non-empty array
    ///   whose first element is a string; an ACK an array; a CONNECT an object or nothing;
    ///   a DISCONNECT nothing; a client never sends CONNECT_ERROR).
    public init(decoding text: Substring) throws(DecodingError) {
        guard let first = text.first, let kind = Kind(rawValue: first) else {
            throw DecodingError("unknown packet type")
        }
        guard kind != .binaryEvent && kind != .binaryAck else {
            throw DecodingError("binary packets are not supported")
        }
        var rest = text.dropFirst()
        var namespace = "/"
        if rest.first == "/" {
            if let comma = rest.firstIndex(of: ",") {
                namespace = String(rest[..<comma])
                rest = rest[rest.index(after: comma)...]
            } else {
                namespace = String(rest)
                rest = rest[rest.endIndex...]
            }
        }
        var ackId: UInt64?
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty {
            guard digits.count <= 15, let id = UInt64(digits) else { throw DecodingError("the acknowledgement id is too long") }
            ackId = id
            rest = rest.dropFirst(digits.count)
        }
        var payload: JSONValue?
        if !rest.isEmpty {
            guard let value = JSONValue.parse(rest) else { throw DecodingError("the payload is not JSON") }
            payload = value
        }
        switch kind {
        case .connect:
            if let payload, case .object = payload {} else if payload != nil { throw DecodingError("a CONNECT payload must be an object") }
            guard ackId == nil else { throw DecodingError("a CONNECT carries no acknowledgement id") }
        case .disconnect:
            guard payload == nil, ackId == nil else { throw DecodingError("a DISCONNECT carries nothing") }
        case .event:
            guard case .array(let values)? = payload, case .string? = values.first else {
                throw DecodingError("an EVENT payload must be an array whose first element is the event's name")
            }
        case .ack:
            guard case .array? = payload, ackId != nil else { throw DecodingError("an ACK needs an id and an array") }
        case .connectError, .binaryEvent, .binaryAck:
            throw DecodingError("a client does not send this packet type")
        }
        self.init(kind, namespace: namespace, ackId: ackId, payload: payload)
    }
}
