import Foundation
import JWTKit
import PlayheadServer
import Synchronization
import Testing
import WatchDomain

@Suite("Bearer tokens")
struct TokenAuthorityTests {
    final class Clock: Sendable {
        let now = Mutex(Date())
        func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    @Test("a remembered token still expires on time")
    func cachedTokenExpires() async throws {
        let clock = Clock()
        let authority = try await TokenAuthority(secret: TestServer.secret) { clock.now.withLock { $0 } }
        let token = try await authority.token(userId: "alice", admin: false, lifetime: .seconds(60))
        #expect(try await authority.caller(fromToken: token) == Caller(userId: "alice"))
        #expect(try await authority.caller(fromToken: token) == Caller(userId: "alice"))
        clock.advance(61)
        let error = await #expect(throws: Problem.self) { try await authority.caller(fromToken: token) }
        #expect(error?.detail == "the bearer token has expired")
        #expect(error?.description == "401 the bearer token has expired")
    }

    @Test("a sub too long to key is refused; role admin marks an administrator")
    func claims() async throws {
        let authority = try await TokenAuthority(secret: TestServer.secret)
        let long = try await authority.token(userId: String(repeating: "x", count: 257), admin: false, lifetime: .seconds(60))
        await #expect(throws: Problem.self) { try await authority.caller(fromToken: long) }
        let admin = try await authority.token(userId: "root", admin: true, lifetime: .seconds(60))
        #expect(try await authority.caller(fromToken: admin).isAdmin)
        await #expect(throws: Problem.self) { try await TokenAuthority(secret: "too short") }
    }
}

/// Tokens written by hand and signed with the server's secret, for the claims and headers
/// that `TokenAuthority.token` never writes.
@Suite("Bearer tokens: RFC 7515 and RFC 7519 rules")
struct TokenRulesTests {
    /// A compact JWS of `header` and `payload` (JSON text, sent as is) signed HS256 with the test secret.
    static func signed(header: String = #"{"alg":"HS256","typ":"JWT"}"#, _ payload: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: TestServer.secret), digestAlgorithm: .sha256)
        let input = base64URL(Array(header.utf8)) + "." + base64URL(Array(payload.utf8))
        return input + "." + base64URL(try await keys.getKey().sign(Array(input.utf8)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    let now = Date()
    var exp: Int { Int(now.timeIntervalSince1970) + 3600 }

    private func refused(_ token: String, _ detail: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let authority = try await TokenAuthority(secret: TestServer.secret) { now }
        let error = await #expect(throws: Problem.self, sourceLocation: sourceLocation) { try await authority.caller(fromToken: token) }
        #expect(error?.description.hasPrefix("401 ") == true, sourceLocation: sourceLocation)
        if let detail { #expect(error?.detail == detail, sourceLocation: sourceLocation) }
    }

    @Test("a hand-made token with the rules' shape is accepted (the baseline of the refusals below)")
    func wellFormed() async throws {
        let authority = try await TokenAuthority(secret: TestServer.secret) { now }
        let token = try await Self.signed(#"{"sub":"alice","exp":\#(exp),"role":"admin","nbf":\#(exp - 3600)}"#)
        #expect(try await authority.caller(fromToken: token) == Caller(userId: "alice", isAdmin: true))
        let untyped = try await Self.signed(header: #"{"alg":"HS256"}"#, #"{"sub":"bob","exp":\#(exp)}"#)
        #expect(try await authority.caller(fromToken: untyped) == Caller(userId: "bob"))
    }

    @Test("a claim named twice is refused, whichever value comes first")
    func duplicateClaims() async throws {
        try await refused(
            try await Self.signed(#"{"sub":"alice","exp":\#(exp),"role":"admin","role":"viewer"}"#),
            #"the bearer token is not valid: it names "role" twice"#
        )
        try await refused(try await Self.signed(#"{"sub":"ops","sub":"alice","exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":"alice","s\u0075b":"ops","exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":"alice","exp":\#(exp),"exp":1}"#))
        try await refused(try await Self.signed(header: #"{"alg":"HS256","alg":"none"}"#, #"{"sub":"alice","exp":\#(exp)}"#))
    }

    @Test("nbf in the future is refused past the leeway, for users and administrators; inside it, accepted")
    func notBefore() async throws {
        let later = exp - 3600 + Int(TokenAuthority.clockLeeway) + 5
        let message = "the bearer token is not valid yet (nbf is in the future)"
        try await refused(try await Self.signed(#"{"sub":"alice","exp":\#(exp + 315_360_000),"nbf":\#(exp + 315_000_000)}"#), message)
        try await refused(try await Self.signed(#"{"sub":"ops","role":"admin","exp":\#(exp),"nbf":\#(later)}"#), message)
        let authority = try await TokenAuthority(secret: TestServer.secret) { now }
        let soon = try await Self.signed(#"{"sub":"alice","exp":\#(exp),"nbf":\#(exp - 3600 + 30)}"#)
        #expect(try await authority.caller(fromToken: soon) == Caller(userId: "alice"))
        // Still checked on the next use, not remembered as valid.
        #expect(try await authority.caller(fromToken: soon) == Caller(userId: "alice"))
    }

    @Test(
        "the header is checked as well as the signature",
        arguments: [
            (#"{"alg":"none","typ":"JWT"}"#, "the bearer token is not valid: its alg must be HS256"),
            (#"{"alg":"HS512","typ":"JWT"}"#, "the bearer token is not valid: its alg must be HS256"),
            (#"{"typ":"JWT"}"#, "the bearer token is not valid: its alg must be HS256"),
            (
                #"{"alg":"HS256","crit":["exp"],"exp":1}"#,
                "the bearer token is not valid: it has critical header parameters (crit) this server does not understand"
            ),
            (#"{"alg":"HS256","typ":"at+jwt"}"#, "the bearer token is not valid: its typ must be JWT"),
            (#"["alg","HS256"]"#, "the bearer token is not valid: its alg must be HS256"),
        ]
    )
    func header(_ header: String, _ detail: String) async throws {
        try await refused(try await Self.signed(header: header, #"{"sub":"alice","exp":\#(exp)}"#), detail)
    }

    @Test("a token that is not three base64url parts of JSON objects is refused")
    func form() async throws {
        let good = try await Self.signed(#"{"sub":"alice","exp":\#(exp)}"#)
        let parts = good.split(separator: ".").map(String.init)
        for token in [
            parts[0] + "." + parts[1], good + ".x", parts[0] + "=." + parts[1] + "." + parts[2], "a.b.c",
            parts[0] + "." + Self.base64URL(Array("[1]".utf8)) + "." + parts[2],
        ] {
            try await refused(token)
        }
        try await refused(good + "=")
        try await refused(parts[0] + "." + parts[1] + "." + parts[2] + "==")
        try await refused(try await Self.signed(#"{"sub":"a/b","exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":"a\u0000b","exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":"a\u001fb","exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":5,"exp":\#(exp)}"#))
        try await refused(try await Self.signed(#"{"sub":"alice"}"#))
    }

    @Test("a remembered token is found by its bytes: another spelling of it is checked afresh")
    func cacheKeysAreBytes() async throws {
        let authority = try await TokenAuthority(secret: TestServer.secret) { now }
        // A token with a K in it (about half of them have one in the signature).
        var token = ""
        for attempt in 0..<200 where !token.contains("K") {
            token = try await authority.token(userId: "user-\(attempt)", admin: false, lifetime: .seconds(60), now: now)
        }
        try #require(token.contains("K"))
        #expect(try await authority.caller(fromToken: token).userId.hasPrefix("user-"))
        // U+212A KELVIN SIGN is canonically equivalent to K, so a String-keyed cache took it
        // for the remembered token and skipped the signature check.
        let kelvin = token.replacingOccurrences(of: "K", with: "\u{212A}")
        #expect(kelvin == token && !kelvin.utf8.elementsEqual(token.utf8))
        await #expect(throws: Problem.self) { try await authority.caller(fromToken: kelvin) }
    }
}
