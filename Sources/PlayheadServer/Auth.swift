import EventLog
public import Foundation
import Hummingbird
public import JWTKit
import LMDBLog
import PlayheadCore
import Synchronization
import Views
public import WatchDomain

/// The claims of a Playhead bearer token (RFC 7519 §4.1): `sub` is the user id, `role`
/// `admin` marks an administrator, `exp` is required and enforced, and `nbf`, when present,
/// is enforced with ``TokenAuthority/clockLeeway``.
public struct PlayheadClaims: JWTPayload, Equatable {
    /// The user id.
    public var sub: SubjectClaim
    /// When the token stops being valid.
    public var exp: ExpirationClaim
    /// When the token starts being valid, if it says.
    public var nbf: NotBeforeClaim?
    /// `admin` for an administrator.
    public var role: String?

    /// Creates claims.
    public init(userId: String, expires: Date, admin: Bool, notBefore: Date? = nil) {
        sub = SubjectClaim(value: userId)
        exp = ExpirationClaim(value: expires)
        nbf = notBefore.map { NotBeforeClaim(value: $0) }
        role = admin ? "admin" : nil
    }

    /// Nothing here: ``TokenAuthority`` checks `exp` and `nbf` against its own clock.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs and verifies HS256 bearer tokens with one secret.
///
/// Verified tokens are remembered (up to ``cacheCapacity``, until they expire), so that a
/// client sending the same token with every heartbeat pays for parsing and checking it
/// once. Only a byte-identical token, signature included, finds its entry.
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let verified = Mutex<[UTF8Key: (caller: Caller, expires: Date)]>([:])
    /// How many verified tokens are remembered; when full, the memory starts afresh.
    public static let cacheCapacity = 16_384

    /// The shortest secret accepted: HS256 wants a key at least as long as its hash.
    public static let minimumSecretBytes = 32

    /// What time it is, for expiry (tests move it).
    private let clock: @Sendable () -> Date

    /// An authority for `secret` (at least ``minimumSecretBytes`` long).
    public init(secret: String, clock: @escaping @Sendable () -> Date = { Date() }) async throws {
        self.clock = clock
        guard secret.utf8.count >= Self.minimumSecretBytes else {
            throw Problem(.internalServerError, "the JWT secret must be at least \(Self.minimumSecretBytes) bytes")
        }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.keys = keys
    }

    /// A token for `userId`, valid for `lifetime`.
    public func token(userId: String, admin: Bool, lifetime: Duration, now: Date = Date()) async throws -> String {
        let expires = now.addingTimeInterval(Double(lifetime.components.seconds))
        return try await keys.sign(PlayheadClaims(userId: userId, expires: expires, admin: admin))
    }

    /// How far `nbf` may lie in the future and `exp` in the past, for clocks that disagree a
    /// little (RFC 7519 §4.1.4 and §4.1.5 allow "some small leeway").
    public static let clockLeeway: TimeInterval = 60

    /// The caller a token names, or a 401 saying why not.
    ///
    /// Beyond the HS256 signature, the token must be a JWS in compact form (RFC 7515 §7.1)
    /// whose header says `"alg":"HS256"` (RFC 8725 §3.1: the algorithm is the server's, never
    /// the token's choice), carries no `crit` (RFC 7515 §4.1.11: this server understands no
    /// extension), and a `typ`, if any, of `JWT`; neither the header nor the claims may name a
    /// member twice (RFC 7515 §4, RFC 7519 §4); `sub` must be a string of 1 to 256 bytes;
    /// `exp` is required; and the clock must be between `nbf` (when given) less
    /// ``clockLeeway`` and `exp`.
    public func caller(fromToken token: String) async throws -> Caller {
        let now = clock()
        let key = UTF8Key(token)
        if let known = verified.withLock({ $0[key] }) {
            guard now < known.expires else { throw Problem(.unauthorized, "the bearer token has expired") }
            return known.caller
        }
        try Self.checkStructure(token)
        let claims: PlayheadClaims
        do {
            claims = try await keys.verify(token, as: PlayheadClaims.self)
        } catch {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        guard now < claims.exp.value else { throw Problem(.unauthorized, "the bearer token has expired") }
        if let notBefore = claims.nbf?.value, now.addingTimeInterval(Self.clockLeeway) < notBefore {
            throw Problem(.unauthorized, "the bearer token is not valid yet (nbf is in the future)")
        }
        let userId = claims.sub.value
        guard (1...UserSessionEvents.maxUserIdBytes).contains(userId.utf8.count) else {
            throw Problem(.unauthorized, "the bearer token's sub must be 1 to \(UserSessionEvents.maxUserIdBytes) bytes")
        }
        // The same rule as a userId anywhere else: a sub that no route could name is no user.
        do {
            _ = try UserID(userId, field: "sub")
        } catch {
            throw Problem(.unauthorized, "the bearer token's sub is not a valid user id: \(error.message)")
        }
        let caller = Caller(userId: userId, isAdmin: claims.role.map { $0.utf8.elementsEqual("admin".utf8) } ?? false)
        // A token inside its `nbf` leeway is not remembered, so that `nbf` is checked on every use.
        if let notBefore = claims.nbf?.value, now < notBefore { return caller }
        verified.withLock { cache in
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = (caller, claims.exp.value)
        }
        return caller
    }

    /// Refuses a token whose form, header or claims JSON is not what ``caller(fromToken:)``
    /// documents, before its signature is checked.
    static func checkStructure(_ token: String) throws(Problem) {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Base64URL.decode(parts[0]), let claims = Base64URL.decode(parts[1]),
            Base64URL.decode(parts[2]) != nil
        else {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        let headerObject: StrictJSONValue
        let claimsObject: StrictJSONValue
        do throws(StrictJSON.Failure) {
            headerObject = try StrictJSON.parse(header)
            claimsObject = try StrictJSON.parse(claims)
        } catch .duplicateMember(let name) {
            throw Problem(.unauthorized, "the bearer token is not valid: it names \"\(name)\" twice")
        } catch {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        guard case .object = claimsObject else { throw Problem(.unauthorized, "the bearer token is not valid") }
        guard case .object = headerObject, headerObject[member: "alg"] == .string("HS256") else {
            throw Problem(.unauthorized, "the bearer token is not valid: its alg must be HS256")
        }
        guard headerObject[member: "crit"] == nil else {
            throw Problem(.unauthorized, "the bearer token is not valid: it has critical header parameters (crit) this server does not understand")
        }
        if let type = headerObject[member: "typ"] {
            guard case .string(let text) = type, text.utf8.count == 3, text.uppercased().utf8.elementsEqual("JWT".utf8) else {
                throw Problem(.unauthorized, "the bearer token is not valid: its typ must be JWT")
            }
        }
    }
}

/// Base64url without padding (RFC 4648 §5, as RFC 7515 §2 uses it).
enum Base64URL {
    /// The bytes `text` encodes, or nil if it is not unpadded base64url.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // A length of 4n + 1 characters cannot end a whole byte.
        guard bits < 6 else { return nil }
        return output
    }
}

/// Authenticates every request but the open routes (`/health`, `/ready`, `/openapi.yaml`,
/// `/dashboard`: a page that asks for its token itself)
/// with its `Authorization: Bearer` token; a missing or bad token is a 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext
    let authority: TokenAuthority
    static let openPaths: Set<String> = ["/health", "/ready", "/openapi.yaml", "/dashboard"]
    /// Where the Socket.IO gateway is served.
    static let socketIOPath = "/socket.io/"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The Socket.IO gateway authenticates each namespace connection (its CONNECT packet's
        // auth, or the handshake's Authorization header), as Socket.IO clients expect.
        if Self.openPaths.contains(request.uri.path) || request.uri.path.hasPrefix(Self.socketIOPath) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            throw unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        }
        guard let token = Self.bearerToken(header) else {
            throw unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        var context = context
        do {
            context.caller = try await authority.caller(fromToken: token)
        } catch let problem as Problem {
            throw unauthorized(problem.detail)
        }
        return try await next(request, context)
    }

    /// The token of a `Bearer <token>` header (the scheme in any case), nil for anything else.
    static func bearerToken(_ header: String) -> String? {
        let scheme = "bearer ".utf8
        let utf8 = header.utf8
        guard utf8.count > scheme.count,
            zip(utf8, scheme).allSatisfy({ byte, expected in (65...90).contains(byte) ? byte + 32 == expected : byte == expected })
        else { return nil }
        return String(header.utf8.dropFirst(scheme.count))
    }

    private func unauthorized(_ detail: String) -> Problem {
        var problem = Problem(.unauthorized, detail)
        problem.headers[.wwwAuthenticate] = "Bearer"
        return problem
    }
}
