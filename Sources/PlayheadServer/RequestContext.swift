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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var high: UInt8?
        for character in (requestID ?? id).utf8 {
            guard let digit = hexDigit(character) else { return UUID() }
            if let pending = high {
                bytes.append(pending << 4 | digit)
                high = nil
            } else {
                high = digit
            }
        }
        guard bytes.count == 16 else { return UUID() }
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12],
                bytes[13], bytes[14], bytes[15]
            )
        )
    }

    private func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
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
