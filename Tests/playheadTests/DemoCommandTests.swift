import Foundation
import Testing

/// `playhead demo`: a new store filled through the commands, which every check accepts.
@Suite("playhead demo", .timeLimit(.minutes(5)))
struct DemoCommandTests {
    @Test("fills a new store that verifies (its views equal a rebuild) and answers the analytics; refuses a store with events and bad options")
    func demo() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let filled = try playhead(["demo", "--data-dir", store, "--users", "6", "--days", "3", "--last-day", "2026-11-30", "--seed", "3"])
            #expect(filled.status == 0, "\(filled.stderr)")
            #expect(
                filled.stdout.hasPrefix("demo: ") && filled.stdout.contains("views with") && filled.stdout.contains("a watch party"),
                "\(filled.stdout)"
            )

            let verified = try playhead(["verify", "--projections", "--data-dir", store])
            #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")

            let top = try playhead([
                "query", "top-videos", "--data-dir", store, "--start-date", "2026-11-28", "--end-date", "2026-11-30", "--format", "csv",
            ])
            #expect(top.status == 0 && top.stdout.split(separator: "\n").count > 1, "\(top.stdout) \(top.stderr)")

            let again = try playhead(["demo", "--data-dir", store])
            #expect(again.status == 1 && again.stderr.contains("already holds"), "\(again.stderr)")
            for (arguments, message) in [
                (["--users", "0"], "--users must be from 1 to 10000"), (["--days", "400"], "--days must be from 1 to 366"),
                (["--last-day", "yesterday"], "--last-day must be a date"), (["--last-day", "2026-02-30"], "--last-day must be a date"),
                (["--days", "14", "--last-day", "1970-01-05"], "--last-day must leave --days days from 1970-01-01 on"),
            ] {
                let refused = try playhead(["demo", "--data-dir", directory + "/other"] + arguments)
                #expect(refused.status == 64 && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/other"), "a refused demo leaves nothing behind")
        }
    }

    @Test("data/demo-2026-11.ndjson is what playhead demo makes with its options: the same events and figures")
    func sampleExport() async throws {
        try await withTemporaryDirectory { directory in
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let sample = root.appendingPathComponent("data/demo-2026-11.ndjson").path
            let attributes = try FileManager.default.attributesOfItem(atPath: sample)
            #expect((attributes[.size] as? Int ?? .max) < 2_000_000, "the sample stays under 2 MB")
            let imported = directory + "/imported"
            #expect(try playhead(["import", sample, "--data-dir", imported]).status == 0)
            #expect(try playhead(["rebuild", "--data-dir", imported]).status == 0)
            let generated = directory + "/generated"
            let demo = try playhead(["demo", "--data-dir", generated, "--users", "24", "--days", "14", "--last-day", "2026-11-30", "--seed", "1"])
            #expect(demo.status == 0, "\(demo.stderr)")
            let range = ["--start-date", "2026-11-17", "--end-date", "2026-11-30"]
            var answers: [[String]] = []
            for store in [imported, generated] {
                var outputs = [try playhead(["query", "top-videos", "--data-dir", store, "--format", "csv"] + range).stdout]
                for video in ["big-buck-bunny", "agent-327"] {
                    outputs.append(try playhead(["query", "video", video, "--data-dir", store, "--format", "csv"] + range).stdout)
                    outputs.append(try playhead(["query", "retention", video, "--data-dir", store, "--format", "csv"] + range).stdout)
                    outputs.append(try playhead(["query", "seeks", video, "--data-dir", store, "--format", "csv"] + range).stdout)
                }
                answers.append(outputs)
            }
            #expect(answers[0] == answers[1], "regenerate the sample when the demo changes (Docs/operations.md)")
            #expect(try head(of: imported) == (try head(of: generated)))
        }
    }
}
