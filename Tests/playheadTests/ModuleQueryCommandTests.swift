import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `playhead query sessions|sessions-daily|progress-summary|engagement|patterns`: each answer
/// read from the store is the REST answer byte for byte (as JSON), and reads as a table and CSV.
@Suite("playhead query: the modules' summaries", .timeLimit(.minutes(5)))
struct ModuleQueryCommandTests {
    /// The body of `GET path` from a server on `store`, as an administrator.
    static func rest(_ server: ServerProcess, _ path: String) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(server.port)\(path)")))
        request.setValue("Bearer \(try server.token("root", admin: true))", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func object(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary, "\(String(decoding: data, as: UTF8.self))")
    }

    @Test("each answer equals the REST answer on the same store; tables and CSV for people and spreadsheets")
    func sameAsREST() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let filled = try playhead(["demo", "--data-dir", store, "--users", "4", "--days", "3", "--last-day", "2026-11-30", "--seed", "5"])
            #expect(filled.status == 0, "\(filled.stderr)")
            let range = ["--start-date", "2026-11-28", "--end-date", "2026-11-30"]
            let video = "big-buck-bunny"
            // A user the demo gave interactions to.
            var user = "demo-user-001"
            for candidate in ["demo-user-001", "demo-user-002", "demo-user-003", "demo-user-004"] {
                let patterns = try playhead(["query", "patterns", candidate, "--data-dir", store, "--format", "json"])
                if try Self.object(Data(patterns.stdout.utf8))["totalInteractions"] as? Int ?? 0 > 0 {
                    user = candidate
                    break
                }
            }
            let cases: [([String], String)] = [
                (["sessions"] + range, "/metrics/sessions?startDate=2026-11-28&endDate=2026-11-30"),
                (["sessions-daily"] + range, "/metrics/sessions/daily?startDate=2026-11-28&endDate=2026-11-30"),
                (["progress-summary", video], "/progress/summary/\(video)"),
                (["engagement", user, "--limit", "2"], "/progress/engagement/\(user)?limit=2"),
                (["patterns", user, "--tz", "Europe/Paris"], "/interactions/patterns/\(user)?tz=Europe/Paris"),
            ]
            var answers: [NSDictionary] = []
            for (arguments, _) in cases {
                let output = try playhead(["query"] + arguments + ["--data-dir", store, "--format", "json"])
                #expect(output.status == 0, "\(arguments): \(output.stderr)")
                answers.append(try Self.object(Data(output.stdout.utf8)))
            }
            let server = try ServerProcess(store: store)
            defer { server.stop() }
            for ((arguments, path), answer) in zip(cases, answers) {
                let (status, body) = try await Self.rest(server, path)
                #expect(status == 200, "\(path): \(String(decoding: body, as: UTF8.self))")
                #expect(try Self.object(body) == answer, "\(arguments) against \(path)")
            }
            // Something to compare: the demo's sessions, its progress and its interactions.
            let sessions = try #require(answers[0]["data"] as? NSDictionary)
            #expect((sessions["totalSessions"] as? Int ?? 0) > 0 && (sessions["uniqueUsers"] as? Int ?? 0) <= 4)
            #expect((answers[2]["viewers"] as? Int ?? 0) > 0)
            #expect((answers[4]["totalInteractions"] as? Int ?? 0) > 0 && answers[4]["timeZone"] as? String == "Europe/Paris")

            let table = try playhead(["query", "sessions", "--data-dir", store, "--format", "table"] + range)
            #expect(table.stdout.contains("sessions                \(sessions["totalSessions"] as? Int ?? -1)"), "\(table.stdout)")
            #expect(table.stdout.contains("sessions per day"), "\(table.stdout)")
            let csv = try playhead(["query", "sessions-daily", "--data-dir", store, "--format", "csv"] + range)
            let lines = csv.stdout.split(separator: "\n")
            #expect(
                lines.first
                    == "date,totalSessions,uniqueUsers,engagedSessions,engagementRate,averageDurationSeconds,endedSessions,expiredSessions,renewedSessions"
            )
            #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("2026-11-") } && lines.count > 1, "\(csv.stdout)")
            let engagement = try playhead(["query", "engagement", user, "--data-dir", store, "--format", "ndjson", "--limit", "2"])
            #expect(engagement.stdout.split(separator: "\n").count == (answers[3]["mostWatchedVideos"] as? [Any])?.count, "\(engagement.stdout)")
        }
    }

    @Test("a time zone for session metrics, a bad zone, a bad limit and a store without views are refused with a message")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let filled = try playhead(["demo", "--data-dir", store, "--users", "2", "--days", "1", "--last-day", "2026-11-30"])
            #expect(filled.status == 0, "\(filled.stderr)")
            for (arguments, message) in [
                (["query", "sessions", "--data-dir", store, "--tz", "Europe/Paris"], "Unknown option '--tz'"),
                (["query", "progress-summary", "a/b", "--data-dir", store], "videoId must not"),
                (["query", "engagement", "", "--data-dir", store], "userId must not be empty"),
                (["query", "patterns", "demo-user-001", "--data-dir", store, "--tz", "America/New_York%00"], "--tz must be an IANA time zone"),
                (["query", "sessions", "--data-dir", store, "--start-date", "2000-01-01", "--end-date", "2026-11-30"], "at most 3660 days"),
                (["query", "patterns", "demo-user-001", "--data-dir", store, "--tz", "Mars/Olympus"], "--tz must be an IANA time zone"),
                (["query", "engagement", "demo-user-001", "--data-dir", store, "--limit", "0"], "--limit must be a whole number from 1 to 100"),
                (["query", "progress-summary", "film", "--data-dir", directory + "/none"], "no views at"),
            ] {
                let output = try playhead(arguments)
                #expect(output.status != 0 && output.stderr.contains(message), "\(arguments): \(output.stderr)")
            }
        }
    }
}
