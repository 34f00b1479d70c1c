import Foundation
import Testing

/// `GET /analytics/…` against the running server: a watch session posted through the API is
/// folded behind the writer and answered as JSON or an SVG chart.
@Suite("Video analytics over HTTP", .timeLimit(.minutes(5)))
struct VideoAnalyticsEndToEndTests {
    @Test("summary, retention, seeks, concurrent viewers and top videos for administrators; bad requests are refused")
    func analytics() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            #expect(try await server.send("PUT", "/videos/video-1", token: admin, json: ["duration": 600]).status == 200)
            var body = WatchSessionEndToEndTests.body
            body["userSessionId"] = try await server.startSession(alice)
            #expect(try await server.send("POST", "/watch-sessions", token: alice, json: body).status == 201)

            let day = "startDate=2023-01-01&endDate=2023-01-01"
            var summary = try await server.send("GET", "/analytics/videos/video-1?\(day)", token: admin)
            for _ in 0..<200 where (summary.json["data"] as? [String: Any])?["views"] as? Int != 1 {
                try await Task.sleep(for: .milliseconds(25))
                summary = try await server.send("GET", "/analytics/videos/video-1?\(day)", token: admin)
            }
            let figures = try #require(summary.json["data"] as? [String: Any], "\(summary.text)")
            #expect(figures["views"] as? Int == 1 && figures["uniqueViewers"] as? Int == 1)
            // Played from 0:00 to 5:00 of a 10-minute video.
            #expect(figures["watchTimeSeconds"] as? Double == 300 && figures["averagePercentageViewed"] as? Double == 50)
            #expect(figures["countedPlays"] as? Int == 1 && figures["completions"] as? Int == 0)
            #expect(figures["lengthSeconds"] as? Double == 600 && figures["startDate"] as? String == "2023-01-01")
            #expect((figures["days"] as? [[String: Any]])?.map { $0["date"] as? String } == ["2023-01-01"])

            #expect(figures["timeZone"] as? String == "UTC")
            // The session began at 2023-01-01T00:00Z: on 31 December in São Paulo (−03:00).
            let saoPaulo = try await server.send(
                "GET",
                "/analytics/videos/video-1?startDate=2022-12-31&endDate=2022-12-31&tz=America/Sao_Paulo",
                token: admin
            )
            let local = try #require(saoPaulo.json["data"] as? [String: Any], "\(saoPaulo.text)")
            #expect(local["views"] as? Int == 1 && local["timeZone"] as? String == "America/Sao_Paulo")
            let offset = try await server.send("GET", "/analytics/videos/video-1/retention?\(day)&tz=-01:00", token: admin)
            #expect((offset.json["data"] as? [String: Any])?["views"] as? Int == 0, "\(offset.text)")

            let retention = try await server.send("GET", "/analytics/videos/video-1/retention?\(day)", token: admin)
            let points = try #require((retention.json["data"] as? [String: Any])?["points"] as? [[String: Any]], "\(retention.text)")
            #expect(points.count == 100)
            #expect(points[0]["audienceRetention"] as? Double == 1 && points[49]["audienceRetention"] as? Double == 1)
            #expect(points[50]["audienceRetention"] as? Double == 0 && points[50]["videoTime"] as? Double == 300)

            let seeks = try await server.send("GET", "/analytics/videos/video-1/seeks?\(day)", token: admin)
            #expect((seeks.json["data"] as? [String: Any])?["seeks"] as? Int == 0, "\(seeks.text)")

            let minutes = "startDate=2023-01-01T00:00:00Z&endDate=2023-01-01T00:10:00Z"
            for path in ["/analytics/videos/video-1/concurrent-viewers?\(minutes)", "/analytics/concurrent-viewers?\(minutes)"] {
                let concurrent = try await server.send("GET", path, token: admin)
                let data = try #require(concurrent.json["data"] as? [String: Any], "\(concurrent.text)")
                #expect(data["viewers"] as? [Int] == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0] && data["intervalSeconds"] as? Int == 60)
                #expect(data["startTime"] as? String == "2023-01-01T00:00:00.000000Z")
                #expect(data["peak"] as? Int == 1 && data["peakAt"] as? String == "2023-01-01T00:00:00.000000Z")
            }

            let top = try await server.send("GET", "/analytics/top-videos?\(day)&by=watch_time", token: admin)
            let videos = (top.json["data"] as? [String: Any])?["videos"] as? [[String: Any]]
            #expect(videos?.compactMap { $0["videoId"] as? String } == ["video-1"], "\(top.text)")

            for path in ["/analytics/videos/video-1", "/analytics/videos/video-1/retention", "/analytics/videos/video-1/seeks"] {
                let svg = try await server.send("GET", "\(path)?\(day)&format=svg", token: admin)
                #expect(svg.status == 200 && svg.header("Content-Type") == "image/svg+xml; charset=utf-8", "\(path)")
                #expect(svg.text.hasPrefix("<svg"), "\(path)")
            }

            let refusals: [(String, String, Int)] = [
                ("/analytics/videos/video-1?\(day)", alice, 403),
                ("/analytics/videos/unknown/retention?\(day)", admin, 404),
                ("/analytics/videos/video-1", admin, 400),
                ("/analytics/videos/video-1?\(day)&format=xml", admin, 400),
                ("/analytics/videos/video-1?startDate=2023-01-01&endDate=2024-12-31", admin, 400),
                ("/analytics/top-videos?\(day)&by=likes", admin, 400),
                ("/analytics/top-videos?\(day)&limit=0", admin, 400),
                ("/analytics/concurrent-viewers?startDate=2023-01-01&endDate=2023-01-31", admin, 400),
                ("/analytics/videos/video-1?\(day)&tz=Mars/Olympus", admin, 400),
                ("/analytics/top-videos?\(day)&tz=%2B15:00", admin, 400),
            ]
            for (path, token, status) in refusals {
                let refused = try await server.send("GET", path, token: token)
                #expect(
                    refused.status == status && refused.header("Content-Type")?.hasPrefix("application/problem+json") == true,
                    "\(path): \(refused.status) \(refused.text)"
                )
            }
        }
    }
}
