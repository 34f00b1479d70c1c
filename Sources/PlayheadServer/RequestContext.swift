public import Foundation
public import Hummingbird
import WatchDomain

/// The context of every request: Hummingbird's, plus the authenticated caller.
public struct PlayheadRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, set by ``BearerAuthMiddleware`` (nil on the open routes).
    var caller: Caller?
    /// The request id, read once from the logger's metadata by ``RequestIDMiddleware``.
    var requestID: String?

    /// JSON with sorted keys and unescaped slashes, so that responses read and diff well.
    public var responseEncoder: JSONEncoder { Self.encoder }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public init(source: Source) {
        coreContext = .init(source: source)
        caller = nil
        requestID = nil
    }

    /// The id that the events a request appends carry as their correlation id: the request
    /// id Hummingbird logs (`hb.request.id`, 32 hex digits) read as a UUID, so that log lines
    /// and events of one request can be matched.
    var correlationID: UUID {
        UUID(hexadecimal: requestID ?? id) ?? UUID()
    }

    /// The caller, or a 401 when the request was not authenticated.
    func requireCaller() throws -> Caller {
        guard let caller else { throw Problem(.unauthorized, "a bearer token is required") }
        return caller
    }

    /// The caller when an administrator, else a 403.
    func requireAdmin() throws -> Caller {
        let caller = try requireCaller()
        guard caller.isAdmin else { throw Problem(.forbidden, "this route is for administrators") }
        return caller
    }
}
