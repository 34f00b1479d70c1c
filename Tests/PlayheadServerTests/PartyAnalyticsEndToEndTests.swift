import Foundation
import Testing

/// `GET /watch-parties/{id}/analytics` against the running server: the asynchronous fold
/// catches up behind the writes, and the answer is JSON or an SVG chart.
@Suite("Watch-party analytics")
struct PartyAnalyticsEndToEndTests {
    @Test("JSON and SVG for administrators; others, unknown parties and unknown formats are refused")
    func analytics() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await PartyReplayEndToEndTests.party(server, admin: admin)
            // The fold runs behind the writer: wait until it has seen both messages.
            var answer = try await server.send("GET", "/watch-parties/\(party)/analytics", token: admin)
            for _ in 0..<200 where answer.json["messages"] as? Int != 2 {
                try await Task.sleep(for: .milliseconds(25))
                answer = try await server.send("GET", "/watch-parties/\(party)/analytics", token: admin)
            }
            #expect(answer.status == 200 && answer.header("Content-Type")?.hasPrefix("application/json") == true, "\(answer.text)")
            #expect(answer.json["watch_party_id"] as? String == party)
            #expect(answer.json["status"] as? String == "ongoing")
            #expect(answer.json["tickets_sold"] as? Int == 2 && answer.json["attendance"] as? Int == 2)
            #expect(answer.json["attendance_rate"] as? Double == 1)
            #expect(answer.json["peak_participants"] as? Int == 2 && answer.json["participants_online"] as? Int == 2)
            #expect(answer.json["stayed_to_end"] is NSNull, "not finished yet")
            #expect((answer.json["player_actions"] as? [String: Int]) == ["play": 0, "pause": 0, "seek": 1])
            let moments = answer.json["chat_moments"] as? [[String: Any]] ?? []
            #expect(
                moments.compactMap { $0["video_from"] as? Double } == [100],
                "bob's message after the seek; the lobby's is at no moment of the film"
            )
            let members = answer.json["top_members"] as? [[String: Any]] ?? []
            #expect(members.compactMap { $0["username"] as? String } == ["Alice", "Bob"])
            let timeline = answer.json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.compactMap { $0["minute"] as? Int } == [-1, 0], "the lobby's minute, then to now (1 s in)")
            #expect(timeline.compactMap { $0["messages"] as? Int } == [1, 1], "\(timeline)")
            #expect(timeline.compactMap { $0["participants"] as? Int } == [1, 2])

            server.clock.advance(.seconds(7_200))
            let finished = try await server.send("GET", "/watch-parties/\(party)/analytics", token: admin)
            #expect(finished.json["status"] as? String == "finished" && finished.json["stayed_to_end"] as? Int == 2)
            #expect(finished.json["participants_online"] as? Int == 0, "the room has closed")

            let svg = try await server.send("GET", "/watch-parties/\(party)/analytics?format=svg", token: admin)
            #expect(svg.status == 200 && svg.header("Content-Type") == "image/svg+xml; charset=utf-8")
            #expect(svg.text.hasPrefix("<svg") && svg.text.contains("participants online") && svg.text.contains("<polyline"))

            let refusals: [(String, String, Int)] = [
                ("/watch-parties/\(party)/analytics", tokens[0], 403),
                ("/watch-parties/\(UUID())/analytics", admin, 404),
                ("/watch-parties/tonight/analytics", admin, 400),
                ("/watch-parties/\(party)/analytics?format=xml", admin, 400),
            ]
            for (path, token, status) in refusals {
                let refused = try await server.send("GET", path, token: token)
                #expect(
                    refused.status == status && refused.header("Content-Type")?.hasPrefix("application/problem+json") == true,
                    "\(path): \(refused.text)"
                )
            }
            #expect(try await server.send("GET", "/watch-parties/\(party)/analytics?format=xml", token: admin).json["field"] as? String == "format")
            #expect(try await server.send("GET", "/watch-parties/\(party)/analytics").status == 401)
        }
    }
}
