import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Testing
import Views

@Suite("Session metrics over HTTP", .timeLimit(.minutes(5)))
struct SessionMetricsEndToEndTests {
    /// The test clock starts at 2027-01-15T08:00:00Z. On the 15th alice starts A (a heartbeat
    /// ten minutes in, engaged, then logs out) and bob starts B (silent); two days later bob's
    /// heartbeat on B finds it expired and renews it as C.
    func craft(_ server: TestServer) async throws {
        let alice = try await server.token("alice")
        let bob = try await server.token("bob")
        let a = try await server.startSession(alice)
        let b = try await server.startSession(bob)
        server.clock.advance(.seconds(600))
        _ = try await server.send("POST", "/user-sessions/heartbeat/\(a)", token: alice)
        _ = try await server.send("PATCH", "/user-sessions/\(a)/content-engaged", token: alice, json: ["engaged": true])
        server.clock.advance(.seconds(600))
        _ = try await server.send("POST", "/user-sessions/end/\(a)", token: alice)
        server.clock.advance(.seconds(2 * 86_400 - 1200))
        let renewal = try await server.send("POST", "/user-sessions/heartbeat/\(b)", token: bob)
        #expect(renewal.json["status"] as? String == "renewed")
    }

    @Test("figures over a range and per day, days without sessions as zeros")
    func figures() async throws {
        try await TestServer.run { server in
            try await craft(server)
            let admin = try await server.token("root", admin: true)
            let summary = try await server.send("GET", "/metrics/sessions?startDate=2027-01-15&endDate=2027-01-17", token: admin)
            #expect(summary.status == 200)
            let data = try #require(summary.json["data"] as? [String: Any])
            #expect(data["startDate"] as? String == "2027-01-15T00:00:00.000000Z")
            #expect(data["endDate"] as? String == "2027-01-18T00:00:00.000000Z")
            #expect(data["totalSessions"] as? Int == 3)
            #expect(data["uniqueUsers"] as? Int == 2)
            #expect(data["engagedSessions"] as? Int == 1)
            #expect(abs((data["engagementRate"] as? Double ?? 0) - 1.0 / 3) < 1e-9)
            #expect(data["averageDurationSeconds"] as? Double == 200)
            #expect(data["endedSessions"] as? Int == 1)
            #expect(data["expiredSessions"] as? Int == 1)
            #expect(data["renewedSessions"] as? Int == 1)

            let daily = try await server.send("GET", "/metrics/sessions/daily?startDate=2027-01-15&endDate=2027-01-17", token: admin)
            let days = try #require(daily.json["data"] as? [[String: Any]])
            #expect(days.map { $0["date"] as? String } == ["2027-01-15", "2027-01-16", "2027-01-17"])
            #expect(days.map { $0["totalSessions"] as? Int } == [2, 0, 1])
            #expect(days.map { $0["uniqueUsers"] as? Int } == [2, 0, 1])
            #expect(days.map { $0["averageDurationSeconds"] as? Double } == [300, 0, 0])
            #expect(days.map { $0["renewedSessions"] as? Int } == [0, 0, 1])
            #expect(days.map { $0["engagementRate"] as? Double } == [0.5, 0, 0])

            // A time with an offset: 09:00+01:00 is 08:00Z, the instant A and B started.
            let narrow = try await server.send(
                "GET",
                "/metrics/sessions?startDate=2027-01-15T09:00:00%2B01:00&endDate=2027-01-15T08:00:00.000001Z",
                token: admin
            )
            #expect((narrow.json["data"] as? [String: Any])?["totalSessions"] as? Int == 2)
        }
    }

    @Test("a missing, malformed, reversed or too long range is a 400 naming the field; users get 403")
    func badRanges() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let cases: [(String, String)] = [
                ("", "startDate"),
                ("?endDate=2027-01-15", "startDate"),
                ("?startDate=2027-01-15", "endDate"),
                ("?startDate=2027-13-01&endDate=2027-12-01", "startDate"),
                ("?startDate=2027-02-30&endDate=2027-03-01", "startDate"),
                ("?startDate=yesterday&endDate=2027-03-01", "startDate"),
                ("?startDate=2027-01-15&endDate=2027-01-15T25:00:00Z", "endDate"),
                ("?startDate=2027-01-15&endDate=2027-01-14", "endDate"),
                ("?startDate=2000-01-01&endDate=2027-01-14", "endDate"),
            ]
            for route in ["/metrics/sessions", "/metrics/sessions/daily"] {
                for (query, field) in cases {
                    let reply = try await server.send("GET", route + query, token: admin)
                    #expect(reply.status == 400, "\(route)\(query)")
                    #expect(reply.json["field"] as? String == field, "\(route)\(query): \(reply.text)")
                }
                let user = try await server.token("alice")
                #expect(try await server.send("GET", route + "?startDate=2027-01-15&endDate=2027-01-16", token: user).status == 403)
            }
        }
    }

    @Test("Prometheus text at /metrics for administrators: requests, batches, commits, lag")
    func prometheus() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            _ = try await server.startSession(alice)
            #expect(try await server.send("GET", "/metrics", token: alice).status == 403)
            let reply = try await server.send("GET", "/metrics", token: try await server.token("root", admin: true))
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type")?.hasPrefix("text/plain") == true)
            for name in [
                "http_requests_total{", "http_request_duration_seconds_bucket{", "playhead_append_batch_events", "playhead_append_commit_seconds",
                "playhead_projection_lag_events 0", "playhead_log_head_position",
            ] {
                #expect(reply.text.contains(name), "missing \(name)")
            }
        }
    }
}
