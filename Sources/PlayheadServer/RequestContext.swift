public import Foundation
public import Hummingbird
import PlayheadCore
import WatchDomain

/// The context of every request: Hummingbird's, plus the authenticated caller.
public struct PlayheadRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, set by ``BearerAuthMiddleware`` (nil on the open routes).
    var caller: Caller?
    /// The request's id, set once by ``RequestIDMiddleware``: what `X-Request-Id`, the log
    /// lines' `hb.request.id` and the appended events' correlation id all show.
    var requestIdentity: RequestIdentity?

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
        requestIdentity = nil
    }

    /// The id that the events a request appends carry as their correlation id: the request
    /// id (`X-Request-Id`, `hb.request.id`, 32 hex digits) read as a UUID, so that log lines,
    /// the response and the events of one request can be matched (Docs/events.md). Derived
    /// from Hummingbird's id when the middleware did not run, never random.
    var correlationID: UUID {
        (requestIdentity ?? RequestIdentity(hummingbirdID: id)).uuid
    }

    /// The caller, or a 401 when the request was not authenticated.
    func requireCaller() throws -> Caller {
        guard let caller else { throw Problem(.unauthorized, "a bearer token is required") }
        return caller
    }

    /// The caller when an administrator (``AccessPolicy/requireAdministrator(_:)``), else a 403.
    func requireAdmin() throws -> Caller {
        try AccessPolicy().requireAdministrator(try requireCaller())
    }
}

/// A request's id in the one form Playhead shows: 32 lower-case hex digits (`text`), which
/// read as a UUID (`uuid`) are the correlation id of the events the request appends.
///
/// Hummingbird names each request with a per-process random 64-bit number in hex followed by
/// a 16-digit counter, but does not pad the random half: in about one process start in
/// sixteen its ids are 31 digits or fewer. ``init(hummingbirdID:)`` pads such an id back to
/// 32 digits, which is the same number, and derives every other form (a future format, say)
/// by hashing it, so the id is always 32 hex digits and the same id always gives the same
/// correlation id.
struct RequestIdentity: Sendable, Equatable {
    /// The id as `X-Request-Id` and `hb.request.id` show it: 32 lower-case hex digits.
    let text: String
    /// `text` read as a UUID: the correlation id of the request's events.
    let uuid: UUID

    /// The identity of the request Hummingbird named `id`:
    /// - up to 32 hex digits (Hummingbird's form): the same number, left-padded with zeros
    ///   to 32 digits and lower-cased;
    /// - a UUID in its 36-character form: its 32 digits;
    /// - anything else: a name-based UUID (version 8) made from a 128-bit FNV-1a hash of
    ///   the id's UTF-8 bytes, and its 32 digits.
    init(hummingbirdID id: String) {
        let utf8 = id.utf8
        if !utf8.isEmpty, utf8.count <= 32, utf8.allSatisfy(Self.isHexDigit) {
            // Hummingbird's ids are lower-case, and mostly 32 digits already: kept as they are.
            let isUpperCase = utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") }
            let padded = utf8.count == 32 && !isUpperCase ? id : String(repeating: "0", count: 32 - utf8.count) + id.lowercased()
            if let uuid = UUID(hexadecimal: padded) {
                self.init(text: padded, uuid: uuid)
                return
            }
        }
        let uuid = (utf8.count == 36 ? UUID(hexadecimal: id) : nil) ?? Self.nameBased(utf8)
        self.init(text: Self.hexadecimal(uuid), uuid: uuid)
    }

    private init(text: String, uuid: UUID) {
        self.text = text
        self.uuid = uuid
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
        default: false
        }
    }

    /// A version-8 (RFC 9562, custom) UUID from the 128-bit FNV-1a hash of `bytes`.
    private static func nameBased(_ bytes: String.UTF8View) -> UUID {
        // FNV-1a, 128-bit: offset basis and prime from the FNV specification.
        var hash = (high: UInt64(0x6c62_272e_07bb_0142), low: UInt64(0x62b8_2175_6295_c58d))
        let primeLow: UInt64 = 0x13b
        let primeShift: UInt64 = 1 << 24  // the prime is 2^88 + 0x13b: 2^88 is 2^24 in the high word
        for byte in bytes {
            hash.low ^= UInt64(byte)
            let product = hash.low.multipliedFullWidth(by: primeLow)
            let high = hash.high &* primeLow &+ product.high &+ hash.low &* primeShift
            hash = (high, product.low)
        }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { output in
            for index in 0..<8 {
                output[index] = UInt8(truncatingIfNeeded: hash.high >> (56 - 8 * UInt64(index)))
                output[8 + index] = UInt8(truncatingIfNeeded: hash.low >> (56 - 8 * UInt64(index)))
            }
            output[6] = output[6] & 0x0F | 0x80  // version 8
            output[8] = output[8] & 0x3F | 0x80  // the RFC 9562 variant
        }
        return UUID(uuid: bytes)
    }

    /// The UUID's 32 lower-case hex digits, without hyphens.
    private static func hexadecimal(_ uuid: UUID) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(32)
        withUnsafeBytes(of: uuid.uuid) { bytes in
            for byte in bytes {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
