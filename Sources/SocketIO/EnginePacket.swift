/// An Engine.IO v4 packet (docs/engine.io-protocol/v4-current.md in socketio/socket.io,
/// "Protocol"): a type and an optional text payload. Binary payloads are not supported:
/// a `b`-prefixed polling packet or a binary WebSocket frame is refused by the session.
public struct EnginePacket: Sendable, Hashable {
    /// The packet types, by their wire digit.
    public enum Kind: Character, Sendable, Hashable {
        /// Used during the handshake: the server's first packet, with the session's parameters.
        case open = "0"
        /// A transport may be closed.
        case close = "1"
        /// The heartbeat's question (from the server), or the upgrade probe (from the client).
        case ping = "2"
        /// The heartbeat's answer.
        case pong = "3"
        /// A payload for the layer above (Socket.IO).
        case message = "4"
        /// The client finishes an upgrade to WebSocket.
        case upgrade = "5"
        /// Nothing: ends a pending poll during an upgrade.
        case noop = "6"
    }

    /// The type.
    public var kind: Kind
    /// The text after the type digit (empty when there is none).
    public var payload: Substring

    /// Creates a packet.
    public init(_ kind: Kind, _ payload: Substring = "") {
        self.kind = kind
        self.payload = payload
    }

    /// The packet as one text frame or one polling record: the type digit, then the payload.
    public var encoded: String { String(kind.rawValue) + payload }

    /// The packet `text` spells, nil when it is not one (empty, an unknown type, or a
    /// binary `b…` record).
    public init?(decoding text: Substring) {
        guard let first = text.first, let kind = Kind(rawValue: first) else { return nil }
        self.init(kind, text.dropFirst())
    }

    /// The record separator between packets in an HTTP long-polling payload (`\x1e`).
    public static let separator: Character = "\u{1E}"

    /// The packets of an HTTP long-polling payload, nil when any record is not a packet.
    public static func decodePayload(_ text: String) -> [EnginePacket]? {
        var packets: [EnginePacket] = []
        for record in text.split(separator: separator, omittingEmptySubsequences: false) {
            guard let packet = EnginePacket(decoding: record) else { return nil }
            packets.append(packet)
        }
        return packets
    }

    /// An HTTP long-polling payload of `packets` (their encodings joined by ``separator``).
    public static func encodePayload(_ packets: [String]) -> String { packets.joined(separator: String(separator)) }
}
