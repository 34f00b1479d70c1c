import Foundation
import Hummingbird
import Logging
import PlayheadCore
import SocketIO
import Synchronization
import WatchDomain

/// The `/watch-party` namespace of the Socket.IO gateway (../shared/spec/watch-party.md,
/// "WebSocket Events"): who may connect, and the room events.
///
/// Every connection authenticates with the REST API's bearer tokens: the CONNECT packet's
/// auth payload `{"token": "…"}` (what `io(url, {auth: {token}})` sends), or else the
/// handshake's `Authorization: Bearer …` header. No token, a bad one or an expired one is a
/// CONNECT_ERROR whose message says which.
final class PartyGateway: SocketIONamespace {
    /// The namespace's name.
    static let namespace = "/watch-party"

    let authority: TokenAuthority
    let logger: Logger
    /// The caller of each connected socket, by socket id.
    private let callers = Mutex<[String: Caller]>([:])

    init(authority: TokenAuthority, logger: Logger) {
        self.authority = authority
        self.logger = logger
    }

    func connect(_ socket: SocketIOSocket, auth: JSONValue?) async throws {
        let token: String
        if let auth, let member = auth["token"] {
            guard let text = member.stringValue, !text.isEmpty else {
                throw SocketIOConnectRefusal("auth.token must be a bearer token (a string)")
            }
            token = text
        } else if let header = socket.handshake.headers[.authorization] {
            guard let bearer = BearerAuthMiddleware.bearerToken(header) else {
                throw SocketIOConnectRefusal("the Authorization header must be 'Bearer <token>'")
            }
            token = bearer
        } else {
            throw SocketIOConnectRefusal("a bearer token is required: connect with auth {\"token\": \"<token>\"} or an Authorization header")
        }
        do {
            let caller = try await authority.caller(fromToken: token)
            callers.withLock { $0[socket.id] = caller }
        } catch let problem as Problem {
            throw SocketIOConnectRefusal(problem.detail)
        }
    }

    /// The caller a connected socket authenticated as.
    func caller(of socket: SocketIOSocket) -> Caller? { callers.withLock { $0[socket.id] } }

    func receive(_ event: SocketIOEvent, from socket: SocketIOSocket) async {
        // The room events (join_party, leave_party, send_message, player_action) come with the
        // room itself; until then every event is answered as unknown.
        let error: JSONValue = .object([("error", .string("unknown event \(event.name)"))])
        if event.ackId != nil {
            socket.acknowledge(event, [error])
        } else {
            socket.emit("error", [error])
        }
    }

    func disconnected(_ socket: SocketIOSocket, reason: String) async {
        _ = callers.withLock { $0.removeValue(forKey: socket.id) }
    }
}
