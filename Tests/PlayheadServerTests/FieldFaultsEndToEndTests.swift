import Foundation
import Testing

@testable import PlayheadServer

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Faults that real inputs found in the field, each with the right value (issues 11 and 12).
@Suite("Faults found in the field")
struct FieldFaultsEndToEndTests {
    static let nfc = "zo\u{EB}"
    static let nfd = "zoe\u{308}"

    @Test("two spellings of one user id are two users on the live progress stream")
    func progressStreamKeysByBytes() async throws {
        try await TestServer.run(streamKeepAlive: .seconds(60)) { server in
            let nfc = try await server.token(Self.nfc)
            let nfd = try await server.token(Self.nfd)
            let client = try EventStreamClient(port: server.port, path: "/progress/stream/zo%C3%AB", token: nfc)
            defer { client.close() }
            var events = client.events.makeAsyncIterator()
            #expect(try #require(await events.next()).fields["status"] == "HTTP/1.1 200 OK")
            #expect(try #require(await events.next()).fields["retry"] == "3000")

            // Everything the NFD user does first; then one update of the NFC user's own.
            let secret = ["userId": Self.nfd, "videoId": "secret-video", "watchedDuration": 42] as [String: Any]
            #expect(try await server.send("POST", "/progress/update", token: nfd, json: secret).status == 200)
            let sync: [String: Any] = ["userId": Self.nfd, "progressData": [["videoId": "secret-sync", "watchedDuration": 5]]]
            #expect(try await server.send("POST", "/progress/sync", token: nfd, json: sync).status == 200)
            #expect(try await server.send("DELETE", "/progress/zoe%CC%88/secret-video", token: nfd).status == 200)
            let own = ["userId": Self.nfc, "videoId": "own-video", "watchedDuration": 7] as [String: Any]
            #expect(try await server.send("POST", "/progress/update", token: nfc, json: own).status == 200)

            var first: [String: Any]?
            while first == nil, let event = await events.next() {
                guard let data = event.fields["data"] else { continue }
                first = try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
                #expect(event.fields["event"] == "progress")
            }
            #expect(first?["videoId"] as? String == "own-video", "the NFD user's progress reached the NFC user's stream")
            #expect((first?["userId"] as? String).map { $0.utf8.elementsEqual(Self.nfc.utf8) } == true)
        }
    }

    @Test("a threshold is the decimal sent: 0.55 of 100 s completes at 55 s, in the entry, the summary and engagement")
    func completionIsExact() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("ops", admin: true)
            let video = try await server.send("PUT", "/videos/lesson-1", token: admin, json: ["duration": 100, "completionThreshold": 0.55])
            #expect(video.status == 200)
            for (user, watched, completed) in [("exact", 55, true), ("short", 54, false)] {
                let token = try await server.token(user)
                let body: [String: Any] = ["userId": user, "videoId": "lesson-1", "watchedDuration": watched]
                let reply = try await server.send("POST", "/progress/update", token: token, json: body)
                #expect(reply.json["completed"] as? Bool == completed, "\(user): \(reply.text)")
                let engagement = try await server.send("GET", "/progress/engagement/\(user)", token: token)
                #expect(engagement.json["completedVideos"] as? Int == (completed ? 1 : 0))
            }
            // A threshold counts to a millionth: it is stored and answered rounded, and one that
            // rounds to 0 is refused rather than completing every video at 0 s.
            let rounded = try await server.send("PUT", "/videos/rounded", token: admin, json: ["duration": 100, "completionThreshold": 0.55000049])
            #expect(rounded.json["completionThreshold"] as? Double == 0.55, "\(rounded.text)")
            let tiny = try await server.send("PUT", "/videos/tiny", token: admin, json: ["duration": 3600, "completionThreshold": 4e-7])
            #expect(tiny.status == 400 && tiny.json["field"] as? String == "completionThreshold", "\(tiny.text)")
            let summary = try await server.send("GET", "/progress/summary/lesson-1", token: admin)
            #expect(summary.json["completedViewers"] as? Int == 1)
            // Other thresholds whose product is inexact in binary floating point.
            for (threshold, length, watched) in [(0.7, 10, 7), (0.29, 100, 29), (0.57, 100, 57), (0.1, 30, 3)] {
                let id = "video-\(threshold)"
                _ = try await server.send("PUT", "/videos/\(id)", token: admin, json: ["duration": length, "completionThreshold": threshold])
                let reply = try await server.send(
                    "POST",
                    "/progress/update",
                    token: admin,
                    json: ["userId": "ops", "videoId": id, "watchedDuration": watched]
                )
                #expect(reply.json["completed"] as? Bool == true, "\(threshold) × \(length) s at \(watched) s")
            }
        }
    }

    @Test("a number that is not exactly whole is refused as an id or a whole-number field, naming the field; nothing is stored")
    func wholeNumbers() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("ops", admin: true)
            let cases: [(String, String)] = [
                (#"{"userId":0.99999999999999999,"contentId":"c","interactionType":"like"}"#, "userId"),
                (#"{"userId":"1","contentId":122.99999999999999999,"interactionType":"like"}"#, "contentId"),
                (#"{"userId":"1","contentId":"c","interactionType":"rate","interactionValue":1.5}"#, "interactionValue"),
                (#"{"userId":"1","contentId":"c","interactionType":"like","moodIntensityAtInteraction":2.5}"#, "moodIntensityAtInteraction"),
                (#"{"userId":"1","contentId":"c","interactionType":"like","interactionDurationSeconds":0.1}"#, "interactionDurationSeconds"),
            ]
            for (body, field) in cases {
                let reply = try await server.send(
                    "POST",
                    "/interactions/track",
                    token: admin,
                    rawBody: body,
                    headers: ["Content-Type": "application/json"]
                )
                #expect(reply.status == 400, "\(body)")
                #expect(reply.json["field"] as? String == field, "\(body): \(reply.text)")
                #expect((reply.json["detail"] as? String)?.contains("whole number") == true, "\(reply.text)")
            }
            for user in ["1", "0.99999999999999999"] {
                let history = try await server.send("GET", "/interactions/history/\(user)", token: admin)
                #expect(history.json["total"] as? Int == 0, "\(user): \(history.text)")
            }
            // Exactly whole numbers in other spellings are those numbers.
            let whole = #"{"userId":7.0,"contentId":1.23e2,"interactionType":"rate","interactionValue":50e-1}"#
            let tracked = try await server.send(
                "POST",
                "/interactions/track",
                token: admin,
                rawBody: whole,
                headers: ["Content-Type": "application/json"]
            )
            #expect(tracked.status == 201, "\(tracked.text)")
            #expect(tracked.json["userId"] as? String == "7")
            #expect(tracked.json["contentId"] as? String == "123")
            #expect(tracked.json["interactionValue"] as? Int == 5)
        }
    }

    @Test("a re-sent player-event list is accepted after the video got shorter; only new events are checked")
    func resentListAfterShorterVideo() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("ops", admin: true)
            let alice = try await server.token("alice")
            #expect(try await server.send("PUT", "/videos/film", token: admin, json: ["duration": 600]).status == 200)
            let play: [String: Any] = ["event": "play", "eventTime": "2026-01-01T00:00:00Z", "videoTime": "00:09:00"]
            let created = try await server.send(
                "POST",
                "/watch-sessions",
                token: alice,
                json: ["videoId": "film", "startTime": "2026-01-01T00:00:00Z", "userEvent": [play]]
            )
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(try await server.send("PUT", "/videos/film", token: admin, json: ["duration": 500]).status == 200)
            let pause: [String: Any] = ["event": "pause", "eventTime": "2026-01-01T00:01:00Z", "videoTime": "00:01:00"]
            let updated = try await server.send("PATCH", "/watch-sessions/\(id)", token: alice, json: ["userEvent": [play, pause]])
            #expect(updated.status == 200, "\(updated.text)")
            #expect((updated.json["userEvent"] as? [[String: Any]])?.count == 2)
            let late: [String: Any] = ["event": "seek", "eventTime": "2026-01-01T00:02:00Z", "videoTime": "00:09:30"]
            let refused = try await server.send("PATCH", "/watch-sessions/\(id)", token: alice, json: ["userEvent": [play, pause, late]])
            #expect(refused.status == 400)
            #expect(refused.json["field"] as? String == "userEvent[2].videoTime")
        }
    }

    @Test("CSV cells a spreadsheet would run as formulas are neutralised; escapeFormulas=false gives the exact text")
    func csvFormulas() async throws {
        try await TestServer.run { server in
            let user = try await server.token("9")
            let notes = ["=HYPERLINK(\"http://example.com\",\"x\")", "+1", "-2+3", "@SUM(A1)", "\tTab", "\rReturn", "plain", "quote\"\u{301},x"]
            for (index, note) in notes.enumerated() {
                server.clock.advance(.seconds(60))
                let body: [String: Any] = ["userId": "9", "contentId": index == 0 ? "=1+1" : "c\(index)", "interactionType": "like", "notes": note]
                #expect(try await server.send("POST", "/interactions/track", token: user, json: body).status == 201)
            }
            let escaped = try InteractionEndToEndTests.pythonCSV(try await server.send("GET", "/interactions/export/9?format=csv", token: user).body)
            let expected = notes.map { ["=", "+", "-", "@", "\t", "\r"].contains($0.first.map(String.init)) ? "'" + $0 : $0 }
            #expect(escaped.dropFirst().map { $0[7] } == expected.reversed())
            #expect(escaped.last?[2] == "'=1+1")
            #expect(escaped.allSatisfy { $0.count == escaped[0].count }, "a quote with a combining mark split a row")
            let exact = try InteractionEndToEndTests.pythonCSV(
                try await server.send("GET", "/interactions/export/9?format=csv&escapeFormulas=false", token: user).body
            )
            #expect(exact.dropFirst().map { $0[7] } == notes.reversed())
            #expect(exact.last?[2] == "=1+1")
            let bad = try await server.send("GET", "/interactions/export/9?format=csv&escapeFormulas=maybe", token: user)
            #expect(bad.status == 400 && bad.json["field"] as? String == "escapeFormulas")
        }
    }

    @Test("HEAD answers every GET route with its status and headers and no body; the OpenAPI document is in the binary")
    func headAndOpenAPI() async throws {
        try await TestServer.run { server in
            let health = try await server.send("HEAD", "/health")
            #expect(health.status == 200 && health.body.isEmpty)
            let document = try await server.send("GET", "/openapi.yaml")
            #expect(document.status == 200)
            let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Docs/openapi.yaml")
            #expect(document.text == (try String(contentsOf: docs, encoding: .utf8)), "Docs/openapi.yaml is the served document")
            #expect(document.text == OperationsRoutes.openAPIDocument)
            let head = try await server.send("HEAD", "/openapi.yaml")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(try await server.send("HEAD", "/progress/alice").status == 401)
            let alice = try await server.token("alice")
            #expect(try await server.send("HEAD", "/progress/alice", token: alice).status == 200)
            #expect(try await server.send("HEAD", "/nowhere", token: alice).status == 404)
            // A known path asked with a method it does not serve: 405 with the methods it does.
            for (method, path, allowed) in [
                ("DELETE", "/health", "GET, HEAD"), ("DELETE", "/progress/sync", "POST"), ("PUT", "/progress/alice", "GET, HEAD"),
                ("POST", "/watch-sessions/6a1f0c3e-2b7d-4c9a-8e51-0d4b7f2a9c13", "DELETE, GET, HEAD, PATCH"),
            ] {
                let reply = try await server.send(method, path, token: alice)
                #expect(reply.status == 405, "\(method) \(path)")
                #expect(reply.header("Allow") == allowed, "\(method) \(path)")
            }
        }
    }

    @Test("a date range before year 1 is refused, not echoed with a clamped year")
    func rangesBeforeYearOne() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("ops", admin: true)
            for path in [
                "/metrics/sessions?startDate=0000-01-01T00:00%2B01:00&endDate=0000-01-02",
                "/metrics/sessions/daily?startDate=0000-12-31&endDate=0001-01-02",
            ] {
                let reply = try await server.send("GET", path, token: admin)
                #expect(reply.status == 400, "\(path): \(reply.text)")
                #expect(reply.json["field"] as? String == "startDate")
            }
            let history = try await server.send("GET", "/interactions/history/ops?startDate=0000-06-01", token: admin)
            #expect(history.status == 400 && history.json["field"] as? String == "startDate", "\(history.text)")
            let ok = try await server.send("GET", "/metrics/sessions?startDate=0001-01-01&endDate=0001-01-02", token: admin)
            #expect(ok.status == 200, "\(ok.text)")
        }
    }
}
