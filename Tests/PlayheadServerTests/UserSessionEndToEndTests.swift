import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Testing
import Views

@Suite("User sessions over HTTP", .timeLimit(.minutes(5)))
struct UserSessionEndToEndTests {
    @Test("login, heartbeat, engagement, listing and logout, each answered as the spec says")
    func lifecycle() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let started = try await server.send("POST", "/user-sessions", token: alice, headers: ["User-Agent": "test-agent"])
            #expect(started.status == 201)
            let id = try #require(started.json["sessionId"] as? String)
            #expect(UUID(uuidString: id) != nil)
            #expect((started.json["body"] as? [String: Any])?["sessionId"] as? String == id)
            #expect(started.header("X-Request-Id")?.isEmpty == false)

            let beat = try await server.send("POST", "/user-sessions/heartbeat/\(id)", token: alice)
            #expect(beat.status == 200)
            #expect(beat.json["status"] as? String == "active")
            #expect(beat.json["needsNewSession"] as? Bool == false)
            #expect(beat.json["sessionId"] == nil)

            let engaged = try await server.send("PATCH", "/user-sessions/\(id)/content-engaged", token: alice, json: ["engaged": true])
            #expect(engaged.status == 200)
            #expect(engaged.json["status"] as? String == "success")
            #expect(engaged.json["message"] as? String == "Content engaged status updated to true")
            #expect(engaged.json["sessionId"] as? String == id)
            #expect(engaged.json["contentEngaged"] as? Bool == true)

            let listed = try await server.send("GET", "/user-sessions", token: alice)
            let sessions = try #require(listed.json["data"] as? [[String: Any]])
            #expect(sessions.count == 1)
            #expect(sessions.first?["sessionId"] as? String == id)
            #expect(sessions.first?["contentEngaged"] as? Bool == true)
            #expect(sessions.first?["heartbeats"] as? Int == 1)
            #expect(sessions.first?["userAgent"] as? String == "test-agent")

            let ended = try await server.send("POST", "/user-sessions/end/\(id)", token: alice)
            #expect(ended.status == 200)
            #expect(ended.json["message"] as? String == "Session ended")
            let endedAgain = try await server.send("POST", "/user-sessions/end/\(id)", token: alice)
            #expect(endedAgain.json["message"] as? String == "Session had already ended")

            let afterLogout = try await server.send("POST", "/user-sessions/heartbeat/\(id)", token: alice)
            #expect(afterLogout.json["status"] as? String == "expired")
            #expect(afterLogout.json["needsNewSession"] as? Bool == true)
            let none = try await server.send("GET", "/user-sessions", token: alice)
            #expect((none.json["data"] as? [Any])?.isEmpty == true)
            let engageClosed = try await server.send("PATCH", "/user-sessions/\(id)/content-engaged", token: alice, json: ["engaged": false])
            #expect(engageClosed.status == 409)

            // started, heartbeat, engagement, ended: the second end and the late heartbeat appended nothing.
            let types = try server.store.log.read(from: 1, limit: 100).map(\.type)
            #expect(types == ["user-session.started", "user-session.heartbeat", "user-session.engagement-changed", "user-session.ended"])
        }
    }

    @Test("past the timeout a heartbeat renews the session; a retry gets the same new session")
    func expiryAndRenewal() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let first = try await server.startSession(alice)
            server.clock.advance(.seconds(3600))
            #expect(try await server.send("POST", "/user-sessions/heartbeat/\(first)", token: alice).json["status"] as? String == "active")

            server.clock.advance(.seconds(3601))
            // Silent for over an hour: not listed, though no event says so yet.
            let silent = try await server.send("GET", "/user-sessions", token: alice)
            #expect((silent.json["data"] as? [Any])?.isEmpty == true)

            let renewed = try await server.send("POST", "/user-sessions/heartbeat/\(first)", token: alice)
            #expect(renewed.json["status"] as? String == "renewed")
            #expect(renewed.json["needsNewSession"] as? Bool == false)
            let second = try #require(renewed.json["sessionId"] as? String)
            #expect(second != first)
            let retried = try await server.send("POST", "/user-sessions/heartbeat/\(first)", token: alice)
            #expect(retried.json["sessionId"] as? String == second)

            let listed = try await server.send("GET", "/user-sessions", token: alice)
            let sessions = try #require(listed.json["data"] as? [[String: Any]])
            #expect(sessions.map { $0["sessionId"] as? String } == [second])
            #expect(sessions.first?["renewedFrom"] as? String == first)
            #expect(try await server.send("POST", "/user-sessions/heartbeat/\(second)", token: alice).json["status"] as? String == "active")
        }
    }

    @Test("a user reaches only their own sessions; an administrator reaches all")
    func ownership() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            let admin = try await server.token("root", admin: true)
            let id = try await server.startSession(alice)
            let head = try server.store.log.head
            for (method, path, body) in [
                ("POST", "/user-sessions/heartbeat/\(id)", nil),
                ("POST", "/user-sessions/end/\(id)", nil),
                ("PATCH", "/user-sessions/\(id)/content-engaged", ["engaged": true] as [String: Any]?),
            ] {
                let reply = try await server.send(method, path, token: bob, json: body)
                #expect(reply.status == 404, "\(method) \(path)")
                #expect(reply.header("Content-Type") == "application/problem+json")
            }
            #expect(try server.store.log.head == head)
            #expect((try await server.send("GET", "/user-sessions", token: bob).json["data"] as? [Any])?.isEmpty == true)
            #expect(try await server.send("POST", "/user-sessions/heartbeat/\(UUID().uuidString)", token: alice).status == 404)
            #expect(try await server.send("POST", "/user-sessions/end/\(id)", token: admin).status == 200)
        }
    }

    @Test("without a valid token every route but health, readiness and the OpenAPI document answers 401")
    func authentication() async throws {
        try await TestServer.run { server in
            #expect(try await server.send("GET", "/health").status == 200)
            #expect(try await server.send("GET", "/ready").json["status"] as? String == "ready")
            let document = try await server.send("GET", "/openapi.yaml")
            #expect(document.status == 200)
            for path in [
                "/user-sessions", "/user-sessions/heartbeat/{sessionId}", "/user-sessions/end/{sessionId}", "/metrics/sessions",
                "/metrics/sessions/daily",
            ] {
                #expect(document.text.contains("\(path):"), "openapi.yaml lacks \(path)")
            }

            let otherAuthority = try await TokenAuthority(secret: "another-secret-0123456789-abcdefghijkl")
            let forged = try await otherAuthority.token(userId: "alice", admin: true, lifetime: .seconds(60))
            let expired = try await server.authority.token(
                userId: "alice",
                admin: false,
                lifetime: .seconds(60),
                now: Date().addingTimeInterval(-3600)
            )
            let id = UUID().uuidString
            let routes = [
                ("POST", "/user-sessions"), ("GET", "/user-sessions"), ("POST", "/user-sessions/heartbeat/\(id)"),
                ("POST", "/user-sessions/end/\(id)"), ("PATCH", "/user-sessions/\(id)/content-engaged"),
                ("GET", "/metrics/sessions?startDate=2026-01-01&endDate=2026-01-02"), ("GET", "/metrics"), ("GET", "/nowhere"),
            ]
            for (method, path) in routes {
                for token in [nil, "not-a-jwt", forged, expired] {
                    let reply = try await server.send(method, path, token: token)
                    #expect(reply.status == 401, "\(method) \(path) with \(token ?? "no token")")
                    #expect(reply.header("WWW-Authenticate") == "Bearer")
                }
            }
            let expiredReply = try await server.send("GET", "/user-sessions", token: expired)
            #expect(expiredReply.json["detail"] as? String == "the bearer token has expired")
            #expect(try server.store.log.head == 0)
        }
    }

    @Test("bad input is a 400 problem naming the field, and nothing is stored")
    func badInput() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let id = try await server.startSession(alice)
            let head = try server.store.log.head
            let cases: [(String, String, String?, String)] = [
                ("POST", "/user-sessions/heartbeat/not-a-uuid", nil, "sessionId"),
                ("POST", "/user-sessions/end/123", nil, "sessionId"),
                ("PATCH", "/user-sessions/\(id)/content-engaged", nil, "body"),
                ("PATCH", "/user-sessions/\(id)/content-engaged", "{\"engaged\": 1}", "engaged"),
                ("PATCH", "/user-sessions/\(id)/content-engaged", "{\"engaged\": \"yes\"}", "engaged"),
                ("PATCH", "/user-sessions/\(id)/content-engaged", "{}", "engaged"),
                ("PATCH", "/user-sessions/\(id)/content-engaged", "{\"engaged\": tru", "body"),
            ]
            for (method, path, body, field) in cases {
                let reply = try await server.send(method, path, token: alice, rawBody: body)
                #expect(reply.status == 400, "\(method) \(path) \(body ?? "")")
                #expect(reply.header("Content-Type") == "application/problem+json")
                #expect(reply.json["field"] as? String == field, "\(reply.text)")
                #expect((reply.json["detail"] as? String)?.contains(field == "body" ? "JSON" : field) == true, "\(reply.text)")
                #expect(reply.json["status"] as? Int == 400)
            }
            #expect(try server.store.log.head == head)
        }
    }
}

@Suite("Concurrent user-session commands", .timeLimit(.minutes(5)))
struct ConcurrentUserSessionTests {
    @Test("many heartbeats at once on an expired session renew it exactly once")
    func oneRenewal() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let first = try await server.startSession(alice)
            server.clock.advance(.seconds(4000))
            let answers = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        try await server.send("POST", "/user-sessions/heartbeat/\(first)", token: alice).json["sessionId"] as? String
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            let renewals = Set(answers.compactMap { $0 })
            #expect(renewals.count == 1)
            #expect(answers.count == 16 && answers.allSatisfy { $0 != nil })
            let types = try server.store.log.read(from: 1, limit: 100).map(\.type)
            #expect(types.filter { $0 == "user-session.renewed" }.count == 1)
            #expect(types.filter { $0 == "user-session.expired" }.count == 1)
        }
    }
}
