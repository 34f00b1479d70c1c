import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Testing
import Views
import WatchDomain

@Suite("Video progress over HTTP", .timeLimit(.minutes(5)))
struct ProgressEndToEndTests {
    @Test("update, get, list, summary, engagement and delete, with the spec's shapes")
    func routes() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let admin = try await server.token("root", admin: true)
            let video = try await server.send("PUT", "/videos/intro", token: admin, json: ["duration": 600, "title": "Intro"])
            #expect(video.status == 200, "\(video.text)")
            #expect(video.json["duration"] as? Double == 600)
            #expect(try await server.send("GET", "/videos/intro", token: alice).json["title"] as? String == "Intro")

            let updated = try await server.send(
                "POST",
                "/progress/update",
                token: alice,
                json: ["userId": "alice", "videoId": "intro", "watchedDuration": 540, "lastWatched": "2026-01-01T10:00:00Z"]
            )
            #expect(updated.status == 200, "\(updated.text)")
            #expect(updated.json["userId"] as? String == "alice")
            #expect(updated.json["videoId"] as? String == "intro")
            #expect(updated.json["watchedDuration"] as? Int == 540)
            #expect(updated.json["lastWatched"] as? String == "2026-01-01T10:00:00.000000Z")
            #expect(updated.json["completed"] as? Bool == true)

            let realtime = try await server.send(
                "POST",
                "/progress/realtime",
                token: alice,
                json: ["userId": "alice", "videoId": "other", "watchedDuration": 30.7]
            )
            #expect(realtime.status == 200)
            #expect(realtime.json["status"] as? String == "received")

            let one = try await server.send("GET", "/progress/alice/intro", token: alice)
            #expect(one.json["watchedDuration"] as? Int == 540)
            let all = try await server.send("GET", "/progress/alice", token: alice)
            #expect(all.json["userId"] as? String == "alice")
            let entries = try #require(all.json["progressData"] as? [[String: Any]])
            #expect(entries.map { $0["videoId"] as? String } == ["intro", "other"])
            #expect(entries.last?["watchedDuration"] as? Int == 30)
            #expect(entries.last?["lastWatched"] as? String == ISO8601Micros.format(server.clock.now), "no lastWatched: the server's time")

            let bob = try await server.token("bob")
            _ = try await server.send(
                "POST",
                "/progress/update",
                token: bob,
                json: ["userId": "bob", "videoId": "intro", "watchedDuration": 60, "lastWatched": "2026-01-01T10:00:00Z"]
            )
            let summary = try await server.send("GET", "/progress/summary/intro", token: bob)
            #expect(summary.json["videoId"] as? String == "intro")
            #expect(summary.json["averageWatchedDuration"] as? Int == 300)
            #expect(summary.json["completionRate"] as? Double == 0.5)
            #expect(summary.json["viewers"] as? Int == 2)
            #expect(summary.json["completedViewers"] as? Int == 1)
            let empty = try await server.send("GET", "/progress/summary/nobody-watched", token: bob)
            #expect(empty.json["averageWatchedDuration"] as? Int == 0)
            #expect(empty.json["completionRate"] as? Double == 0)

            let engagement = try await server.send("GET", "/progress/engagement/alice?limit=1", token: alice)
            #expect(engagement.json["userId"] as? String == "alice")
            #expect(engagement.json["totalWatchedDuration"] as? Int == 570)
            #expect((engagement.json["mostWatchedVideos"] as? [[String: Any]])?.map { $0["videoId"] as? String } == ["intro"])
            #expect((engagement.json["mostWatchedVideos"] as? [[String: Any]])?.first?["watchedDuration"] as? Int == 540)
            #expect(try await server.send("GET", "/progress/engagement/alice", token: alice).json["videosWatched"] as? Int == 2)

            let deleted = try await server.send("DELETE", "/progress/alice/intro", token: alice)
            #expect(deleted.status == 200)
            #expect(deleted.json["message"] as? String == "Progress deleted successfully")
            #expect(try await server.send("GET", "/progress/alice/intro", token: alice).status == 404)
            #expect(try await server.send("DELETE", "/progress/alice/intro", token: alice).status == 404)
            #expect(try await server.send("GET", "/progress/summary/intro", token: bob).json["viewers"] as? Int == 1)
            // Re-created by a later report, even one older than the deleted entry.
            _ = try await server.send(
                "POST",
                "/progress/update",
                token: alice,
                json: ["userId": "alice", "videoId": "intro", "watchedDuration": 5, "lastWatched": "2025-01-01T00:00:00Z"]
            )
            #expect(try await server.send("GET", "/progress/alice/intro", token: alice).json["watchedDuration"] as? Int == 5)
        }
    }

    @Test("two devices syncing out of order: the latest lastWatched wins, and the answer is the merged state")
    func multiDeviceSync() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            // The phone watched later but syncs first; the laptop syncs older progress afterwards.
            let phone = try await server.send(
                "POST",
                "/progress/sync",
                token: alice,
                json: [
                    "userId": "alice",
                    "progressData": [
                        ["videoId": "a", "watchedDuration": 300, "lastWatched": "2026-01-02T20:00:00Z"],
                        ["videoId": "b", "watchedDuration": 10, "lastWatched": "2026-01-01T08:00:00Z"],
                    ],
                ]
            )
            #expect(phone.status == 200, "\(phone.text)")
            let laptop = try await server.send(
                "POST",
                "/progress/sync",
                token: alice,
                json: [
                    "userId": "alice",
                    "progressData": [
                        ["videoId": "a", "watchedDuration": 900, "lastWatched": "2026-01-02T19:00:00+02:00"],
                        ["videoId": "b", "watchedDuration": 70, "lastWatched": "2026-01-02T09:00:00Z"],
                        ["videoId": "c", "watchedDuration": 5, "lastWatched": "2026-01-02T09:00:00Z"],
                    ],
                ]
            )
            #expect(laptop.status == 200)
            #expect(laptop.json["userId"] as? String == "alice")
            let merged = try #require(laptop.json["progressData"] as? [[String: Any]])
            let byVideo = Dictionary(uniqueKeysWithValues: merged.map { ($0["videoId"] as? String ?? "", $0["watchedDuration"] as? Int ?? -1) })
            #expect(byVideo == ["a": 300, "b": 70, "c": 5])
            // Every report is in the log; the read model keeps the winners.
            #expect(try server.store.log.read(from: 1, limit: 100).filter { $0.type == "progress.recorded" }.count == 5)
            let single = try await server.send(
                "POST",
                "/progress/update",
                token: alice,
                json: ["userId": "alice", "videoId": "a", "watchedDuration": 1, "lastWatched": "2026-01-01T00:00:00Z"]
            )
            #expect(single.json["watchedDuration"] as? Int == 300, "a stale update answers the kept state")
        }
    }

    @Test("only the owner or an administrator; path words are never user ids; bad input is a 400 naming the field")
    func accessAndValidation() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            let admin = try await server.token("root", admin: true)
            let report: [String: Any] = ["userId": "alice", "videoId": "v", "watchedDuration": 10, "lastWatched": "2026-01-01T00:00:00Z"]
            #expect(try await server.send("POST", "/progress/update", token: bob, json: report).status == 403)
            #expect(try await server.send("POST", "/progress/realtime", token: bob, json: report).status == 403)
            #expect(try await server.send("POST", "/progress/update", token: admin, json: report).status == 200)
            let head = try server.store.log.head
            for path in ["/progress/alice", "/progress/alice/v", "/progress/engagement/alice", "/progress/stream/alice"] {
                #expect(try await server.send("GET", path, token: bob).status == 403, "\(path)")
            }
            #expect(try await server.send("DELETE", "/progress/alice/v", token: bob).status == 403)
            let longUser = String(repeating: "a", count: 400)
            let long = try await server.send("DELETE", "/progress/\(longUser)/\(String(repeating: "v", count: 128))", token: admin)
            #expect(long.status == 400, "a user id too long to be a key is a 400, not a 500: \(long.text)")
            #expect(long.json["field"] as? String == "userId")
            #expect(try await server.send("GET", "/progress/alice/v", token: admin).status == 200)
            #expect(try await server.send("PUT", "/videos/v", token: alice, json: ["duration": 10]).status == 403)
            for (method, path) in [("GET", "/progress/alice"), ("POST", "/progress/update"), ("GET", "/progress/summary/v"), ("PUT", "/videos/v")] {
                #expect(try await server.send(method, path).status == 401, "\(method) \(path)")
            }
            for path in ["/progress/summary", "/progress/engagement", "/progress/stream"] {
                let reply = try await server.send("GET", path, token: admin)
                #expect(reply.status == 404, "\(path) is not the progress of a user named after it")
            }
            #expect(try await server.send("GET", "/progress/summary/alice", token: alice).json["viewers"] as? Int == 0)

            func field(_ body: [String: Any], _ path: String = "/progress/update") async throws -> String? {
                let reply = try await server.send("POST", path, token: alice, json: body)
                #expect(reply.status == 400, "\(reply.text)")
                return reply.json["field"] as? String
            }
            func with(_ key: String, _ value: Any?) -> [String: Any] {
                var body = report
                body[key] = value
                return body
            }
            #expect(try await field(with("watchedDuration", -1)) == "watchedDuration")
            #expect(try await field(with("watchedDuration", "ten")) == "watchedDuration")
            #expect(try await field(with("watchedDuration", nil)) == "watchedDuration")
            #expect(try await field(with("lastWatched", "last tuesday")) == "lastWatched")
            #expect(try await field(with("lastWatched", "2099-01-01T00:00:00Z")) == "lastWatched")
            #expect(try await field(with("videoId", "")) == "videoId")
            #expect(try await field(with("videoId", String(repeating: "v", count: 129))) == "videoId")
            #expect(try await field(with("userId", "")) == "userId")
            #expect(try await field(with("videoDuration", 0)) == "videoDuration")
            #expect(try await field(with("watchedDuration", 1e12), "/progress/realtime") == "watchedDuration")
            let sync: [String: Any] = [
                "userId": "alice",
                "progressData": [
                    ["videoId": "v", "watchedDuration": 1, "lastWatched": "2026-01-01T00:00:00Z"], ["videoId": "w", "watchedDuration": -3],
                ],
            ]
            #expect(try await field(sync, "/progress/sync") == "progressData[1].watchedDuration")
            #expect(try await field(["userId": "alice"], "/progress/sync") == "progressData")
            #expect(try server.store.log.head == head, "nothing was stored")

            let videoField = try await server.send("PUT", "/videos/v", token: admin, json: ["duration": -5])
            #expect(videoField.json["field"] as? String == "duration")
            #expect(
                try await server.send("PUT", "/videos/v", token: admin, json: ["duration": 5, "completionThreshold": 0]).json["field"] as? String
                    == "completionThreshold"
            )
            #expect(try await server.send("GET", "/videos/unknown", token: alice).status == 404)
            #expect(try await server.send("GET", "/progress/engagement/alice?limit=0", token: alice).json["field"] as? String == "limit")
        }
    }

    @Test("path ids are percent-decoded, and the route words are never user ids")
    func pathIds() async throws {
        try await TestServer.run { server in
            let zoe = try await server.token("zoë")
            let report: [String: Any] = ["userId": "zoë", "videoId": "vidéo 1", "watchedDuration": 12, "lastWatched": "2026-01-01T00:00:00Z"]
            #expect(try await server.send("POST", "/progress/update", token: zoe, json: report).status == 200)
            let one = try await server.send("GET", "/progress/zo%C3%AB/vid%C3%A9o%201", token: zoe)
            #expect(one.status == 200, "\(one.text)")
            #expect(one.json["videoId"] as? String == "vidéo 1")
            #expect(try await server.send("GET", "/progress/summary/vid%C3%A9o%201", token: zoe).json["viewers"] as? Int == 1)

            let admin = try await server.token("root", admin: true)
            for path in ["/progress/update/v", "/progress/sync/v", "/progress/realtime/v"] {
                let reply = try await server.send("GET", path, token: admin)
                #expect(reply.status == 400, "\(path): \(reply.text)")
                #expect(reply.json["field"] as? String == "userId")
            }
            let summaryUser = try await server.token("summary")
            let refused = try await server.send(
                "POST",
                "/progress/update",
                token: summaryUser,
                json: ["userId": "summary", "videoId": "v", "watchedDuration": 1]
            )
            #expect(refused.status == 400)
            #expect(refused.json["field"] as? String == "userId")
        }
    }

    @Test("a user's other devices follow their progress as Server-Sent Events")
    func liveStream() async throws {
        try await TestServer.run(streamKeepAlive: .milliseconds(200)) { server in
            let alice = try await server.token("alice")
            let client = try EventStreamClient(port: server.port, path: "/progress/stream/alice", token: alice)
            defer { client.close() }
            var events = client.events.makeAsyncIterator()
            let status = try #require(await events.next())
            #expect(status.fields["status"] == "HTTP/1.1 200 OK")
            let hello = try #require(await events.next())
            #expect(hello.fields["retry"] == "3000")

            let bob = try await server.token("bob")
            _ = try await server.send("POST", "/progress/realtime", token: bob, json: ["userId": "bob", "videoId": "v", "watchedDuration": 99])
            _ = try await server.send(
                "POST",
                "/progress/realtime",
                token: alice,
                json: ["userId": "alice", "videoId": "v", "watchedDuration": 42, "lastWatched": "2026-01-01T00:00:00Z"]
            )
            _ = try await server.send(
                "POST",
                "/progress/realtime",
                token: alice,
                json: ["userId": "alice", "videoId": "v", "watchedDuration": 7, "lastWatched": "2025-01-01T00:00:00Z"]
            )
            _ = try await server.send("DELETE", "/progress/alice/v", token: alice)

            var received: [(String, [String: Any])] = []
            var keepAlives = 0
            while received.count < 3, let event = await events.next() {
                if event.comments.contains("keep-alive") { keepAlives += 1 }
                guard let name = event.fields["event"], let data = event.fields["data"] else { continue }
                let json = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
                received.append((name, json))
            }
            try #require(received.map(\.0) == ["progress", "progress", "progress-deleted"])
            #expect(received.allSatisfy { $0.1["userId"] as? String == "alice" }, "bob's progress is not in alice's stream")
            #expect(received[0].1["watchedDuration"] as? Int == 42)
            #expect(received[1].1["watchedDuration"] as? Int == 42, "a stale report shows the merged state")
            while keepAlives == 0, let event = await events.next() {
                if event.comments.contains("keep-alive") { keepAlives += 1 }
            }
            #expect(keepAlives > 0)
        }
    }
}
