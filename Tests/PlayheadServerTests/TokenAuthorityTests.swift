import Foundation
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
