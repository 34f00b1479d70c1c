import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Testing
import Views

@Suite("Watch sessions over HTTP", .timeLimit(.minutes(5)))
struct WatchSessionEndToEndTests {
    static var body: [String: Any] {
        [
            "isGuestWatchSession": false,
            "videoId": "video-1",
            "startTime": "2023-01-01T00:00:00Z",
            "endTime": "2023-01-01T00:10:00Z",
            "actualTimeWatched": "00:08:30",
            "percentageWatched": 85,
            "userEvent": [
                ["event": "play", "eventTime": "2023-01-01T00:00:00Z", "videoTime": "00:00:00"],
                ["event": "pause", "eventTime": "2023-01-01T00:05:00Z", "videoTime": "00:05:00"],
            ],
            "userMetadata": [
                "userAgent": "Mozilla/5.0", "ipAddress": "192.168.1.1", "device": "desktop", "browser": "Chrome", "os": "Windows",
                "deviceType": "desktop",
            ],
        ]
    }

    @Test("create, read, update with repeated player events, list and delete, as the spec's examples do")
    func lifecycle() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let userSession = try await server.startSession(alice)
            var body = Self.body
            body["userSessionId"] = userSession
            let created = try await server.send("POST", "/watch-sessions", token: alice, json: body)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["userId"] as? String == "alice")
            #expect(created.json["userSessionId"] as? String == userSession)
            #expect(created.json["actualTimeWatched"] as? String == "00:08:30")
            #expect(created.json["percentageWatched"] as? Double == 85)
            #expect(created.json["endTime"] as? String == "2023-01-01T00:10:00.000000Z")
            #expect((created.json["userEvent"] as? [[String: Any]])?.map { $0["event"] as? String } == ["play", "pause"])
            #expect((created.json["userMetadata"] as? [String: Any])?["browser"] as? String == "Chrome")

            let fetched = try await server.send("GET", "/watch-sessions/\(id)", token: alice)
            #expect(fetched.status == 200)
            #expect(fetched.json["id"] as? String == id)

            // The client sends its whole event list again, plus two new events.
            var events = try #require(body["userEvent"] as? [[String: String]])
            events.append(["event": "seek", "eventTime": "2023-01-01T00:06:00Z", "videoTime": "00:09:00"])
            events.append(["event": "ended", "eventTime": "2023-01-01T00:15:00Z", "videoTime": "00:12:30"])
            let update: [String: Any] = [
                "endTime": "2023-01-01T00:15:00Z", "actualTimeWatched": "00:12:30", "percentageWatched": 95, "userEvent": events,
            ]
            let updated = try await server.send("PATCH", "/watch-sessions/\(id)", token: alice, json: update)
            #expect(updated.status == 200, "\(updated.text)")
            #expect(updated.json["percentageWatched"] as? Double == 95)
            #expect(updated.json["actualTimeWatched"] as? String == "00:12:30")
            #expect((updated.json["userEvent"] as? [[String: Any]])?.map { $0["event"] as? String } == ["play", "pause", "seek", "ended"])
            let again = try await server.send("PATCH", "/watch-sessions/\(id)", token: alice, json: update)
            #expect(again.status == 200)
            let playerEvents = try server.store.log.read(from: 1, limit: 1_000).filter { $0.type == "watch-session.player-event" }
            #expect(playerEvents.count == 4, "a player event already recorded is not recorded twice")

            let second = try await server.send(
                "POST",
                "/watch-sessions",
                token: alice,
                json: ["videoId": "video-2", "startTime": "2023-01-02T00:00:00Z"]
            )
            #expect(second.status == 201)
            #expect(second.json["actualTimeWatched"] as? String == "00:00:00")
            let secondId = try #require(second.json["id"] as? String)

            let mine = try await server.send("GET", "/watch-sessions?limit=1", token: alice)
            #expect(mine.json["total"] as? Int == 2)
            #expect((mine.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [secondId])
            let page2 = try await server.send("GET", "/watch-sessions?limit=1&offset=1", token: alice)
            #expect((page2.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            let byUserSession = try await server.send("GET", "/watch-sessions/user-session/\(userSession)", token: alice)
            #expect((byUserSession.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            let byUser = try await server.send("GET", "/watch-sessions/user/alice", token: alice)
            #expect(byUser.json["total"] as? Int == 2)

            let deleted = try await server.send("DELETE", "/watch-sessions/\(id)", token: alice)
            #expect(deleted.status == 200)
            #expect(deleted.json["message"] as? String == "Watch session deleted successfully")
            #expect(try await server.send("GET", "/watch-sessions/\(id)", token: alice).status == 404)
            #expect(try await server.send("DELETE", "/watch-sessions/\(id)", token: alice).status == 404)
            let afterDelete = try await server.send("GET", "/watch-sessions/user-session/\(userSession)", token: alice)
            #expect((afterDelete.json["data"] as? [Any])?.isEmpty == true)
            #expect(afterDelete.json["total"] as? Int == 0)
            #expect(try server.store.log.read(from: 1, limit: 1_000).contains { $0.type == "watch-session.deleted" })
        }
    }

    @Test("guests, administrators and other users see what they should")
    func access() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            let admin = try await server.token("root", admin: true)
            let guest = try await server.send(
                "POST",
                "/watch-sessions",
                token: alice,
                json: ["videoId": "v", "startTime": "2023-01-01T00:00:00Z", "isGuestWatchSession": true]
            )
            #expect(guest.status == 201)
            #expect(guest.json["isGuestWatchSession"] as? Bool == true)
            #expect(guest.json["userSessionId"] == nil)
            let id = try #require(guest.json["id"] as? String)
            _ = try await server.send("POST", "/watch-sessions", token: bob, json: ["videoId": "v", "startTime": "2023-01-01T00:00:00Z"])

            #expect(try await server.send("GET", "/watch-sessions/\(id)", token: bob).status == 404)
            #expect(try await server.send("PATCH", "/watch-sessions/\(id)", token: bob, json: ["percentageWatched": 1]).status == 404)
            #expect(try await server.send("DELETE", "/watch-sessions/\(id)", token: bob).status == 404)
            #expect(try await server.send("GET", "/watch-sessions/user/alice", token: bob).status == 403)
            #expect(try await server.send("GET", "/watch-sessions", token: bob).json["total"] as? Int == 1)
            #expect(try await server.send("GET", "/watch-sessions", token: admin).json["total"] as? Int == 2)
            #expect(try await server.send("GET", "/watch-sessions/\(id)", token: admin).status == 200)
            #expect(try await server.send("GET", "/watch-sessions/user/alice", token: admin).json["total"] as? Int == 1)
            let aliceSession = try await server.startSession(alice)
            #expect(try await server.send("GET", "/watch-sessions/user-session/\(aliceSession)", token: bob).status == 404)
            #expect(try await server.send("GET", "/watch-sessions/user-session/\(aliceSession)", token: alice).status == 200)
            #expect(try await server.send("GET", "/watch-sessions/user-session/\(UUID().uuidString)", token: admin).status == 404)
            // Not even an administrator records a watch session in someone else's user session.
            let linked = try await server.send(
                "POST",
                "/watch-sessions",
                token: admin,
                json: ["videoId": "v", "startTime": "2023-01-01T00:00:00Z", "userSessionId": aliceSession]
            )
            #expect(linked.status == 400)
            #expect(linked.json["field"] as? String == "userSessionId")
            for (method, path) in [
                ("GET", "/watch-sessions"), ("POST", "/watch-sessions"), ("GET", "/watch-sessions/\(id)"), ("DELETE", "/watch-sessions/\(id)"),
            ] {
                #expect(try await server.send(method, path).status == 401, "\(method) \(path)")
            }
        }
    }

    @Test("every invalid field is a 400 naming it, and nothing is stored")
    func validation() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let admin = try await server.token("root", admin: true)
            #expect(try await server.send("PUT", "/videos/video-1", token: admin, json: ["duration": 600]).status == 200)
            let userSession = try await server.startSession(try await server.token("bob"))
            let head = try server.store.log.head
            func with(_ key: String, _ value: Any) -> [String: Any] {
                var body = Self.body
                body[key] = value
                return body
            }
            func event(_ name: String, _ videoTime: String = "00:00:01", at time: String = "2023-01-01T00:00:00Z") -> [[String: String]] {
                [["event": name, "eventTime": time, "videoTime": videoTime]]
            }
            let cases: [(body: [String: Any], field: String)] = [
                (with("endTime", "2022-12-31T23:59:59Z"), "endTime"),
                (with("endTime", "yesterday"), "endTime"),
                (with("startTime", "2023-13-01T00:00:00Z"), "startTime"),
                (with("startTime", "0000-01-01T00:00:00+23:59"), "startTime"),
                (with("percentageWatched", 101), "percentageWatched"),
                (with("percentageWatched", -0.5), "percentageWatched"),
                (with("percentageWatched", "lots"), "percentageWatched"),
                (with("actualTimeWatched", "8:30"), "actualTimeWatched"),
                (with("actualTimeWatched", "00:61:00"), "actualTimeWatched"),
                (with("userEvent", event("jump")), "userEvent[0].event"),
                (with("userEvent", event("play", "00:10:01")), "userEvent[0].videoTime"),
                (with("userEvent", event("play", "1 minute")), "userEvent[0].videoTime"),
                (with("userEvent", event("play", at: "noon")), "userEvent[0].eventTime"),
                (with("userEvent", Array(repeating: event("play")[0], count: 1_001)), "userEvent"),
                (with("userEvent", "play"), "userEvent"),
                (with("userMetadata", "desktop"), "userMetadata"),
                (with("userSessionId", "not-a-uuid"), "userSessionId"),
                (with("userSessionId", userSession), "userSessionId"),
                (with("videoId", ""), "videoId"),
                (with("videoId", 7), "videoId"),
                (with("userMetadata", ["os": String(repeating: "x", count: 513)]), "userMetadata.os"),
            ]
            for (body, field) in cases {
                let reply = try await server.send("POST", "/watch-sessions", token: alice, json: body)
                #expect(reply.status == 400, "\(field): \(reply.text)")
                #expect(reply.json["field"] as? String == field, "\(reply.text)")
                #expect(reply.header("Content-Type") == "application/problem+json")
            }
            var missing = Self.body
            missing["videoId"] = nil
            #expect(try await server.send("POST", "/watch-sessions", token: alice, json: missing).json["field"] as? String == "videoId")
            #expect(try await server.send("POST", "/watch-sessions", token: alice, rawBody: "{").status == 400)
            let wrongType = try await server.send("POST", "/watch-sessions", token: alice, json: with("userEvent", "play"))
            #expect(wrongType.json["detail"] as? String == "userEvent must be an array")
            let wrongObject = try await server.send("POST", "/watch-sessions", token: alice, json: with("userMetadata", 1))
            #expect(wrongObject.json["detail"] as? String == "userMetadata must be an object")
            #expect(try server.store.log.head == head, "nothing was stored")

            let created = try await server.send("POST", "/watch-sessions", token: alice, json: Self.body)
            let id = try #require(created.json["id"] as? String)
            let before = try server.store.log.head
            let badUpdate = try await server.send(
                "PATCH",
                "/watch-sessions/\(id)",
                token: alice,
                json: ["endTime": "2022-01-01T00:00:00Z", "percentageWatched": 99]
            )
            #expect(badUpdate.status == 400)
            #expect(badUpdate.json["field"] as? String == "endTime")
            #expect(try await server.send("GET", "/watch-sessions/\(id)", token: alice).json["percentageWatched"] as? Double == 85)
            #expect(try await server.send("GET", "/watch-sessions/not-a-uuid", token: alice).status == 400)
            #expect(try await server.send("GET", "/watch-sessions?limit=0", token: alice).json["field"] as? String == "limit")
            #expect(try await server.send("GET", "/watch-sessions?offset=-1", token: alice).json["field"] as? String == "offset")
            #expect(try server.store.log.head == before)
        }
    }
}
