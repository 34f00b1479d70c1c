public import Foundation
import Hummingbird
public import JWTKit
import Synchronization
public import WatchDomain

/// The claims of a Playhead bearer token: `sub` is the user id, `role` `admin` marks an
/// administrator, and `exp` is required and enforced.
public struct PlayheadClaims: JWTPayload, Equatable {
    /// The user id.
    public var sub: SubjectClaim
    /// When the token stops being valid.
    public var exp: ExpirationClaim
    /// `admin` for an administrator.
    public var role: String?

    /// Creates claims.
    public init(userId: String, expires: Date, admin: Bool) {
        sub = SubjectClaim(value: userId)
        exp = ExpirationClaim(value: expires)
        role = admin ? "admin" : nil
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and verifies HS256 bearer tokens with one secret.
///
/// Verified tokens are remembered (up to ``cacheCapacity``, until they expire), so that a
/// client sending the same token with every heartbeat pays for parsing and checking it
/// once. Only a byte-identical token, signature included, finds its entry.
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let verified = Mutex<[String: (caller: Caller, expires: Date)]>([:])
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

    /// The caller a token names, or a 401 saying why not.
    public func caller(fromToken token: String) async throws -> Caller {
        let now = clock()
        if let known = verified.withLock({ $0[token] }) {
            guard now < known.expires else { throw Problem(.unauthorized, "the bearer token has expired") }
            return known.caller
        }
        let claims: PlayheadClaims
        do {
            claims = try await keys.verify(token, as: PlayheadClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw Problem(.unauthorized, "the bearer token has expired")
        } catch {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        guard now < claims.exp.value else { throw Problem(.unauthorized, "the bearer token has expired") }
        let userId = claims.sub.value
        guard (1...UserSessionEvents.maxUserIdBytes).contains(userId.utf8.count) else {
            throw Problem(.unauthorized, "the bearer token's sub must be 1 to \(UserSessionEvents.maxUserIdBytes) bytes")
        }
        let caller = Caller(userId: userId, isAdmin: claims.role == "admin")
        verified.withLock { cache in
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[token] = (caller, claims.exp.value)
        }
        return caller
    }
}

/// Authenticates every request but the open routes (`/health`, `/ready`, `/openapi.yaml`)
/// with its `Authorization: Bearer` token; a missing or bad token is a 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext
    let authority: TokenAuthority
    static let openPaths: Set<String> = ["/health", "/ready", "/openapi.yaml"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
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
