import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `GET /dashboard` in a real browser: Debian's chromium, headless, against a server on a
/// demo store (tools/test installs chromium).
@Suite("The dashboard in headless Chromium", .serialized, .timeLimit(.minutes(5)))
struct DashboardTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The page's DOM once its scripts have run (`--dump-dom` after a virtual-time budget).
    static func dom(_ url: String) throws -> String {
        let binary = try #require(chromium, "chromium is not installed (tools/test installs it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
            "--virtual-time-budget=20000", "--dump-dom", url,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("with an administrator's token it shows the top videos, a video's four charts, session figures and a finished party's replay")
    func rendersDemoData() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let yesterday = String(ISO8601DateFormatter().string(from: Date(timeIntervalSinceNow: -86_400)).prefix(10))
            let demo = try playhead(["demo", "--data-dir", store, "--users", "10", "--days", "4", "--last-day", yesterday])
            #expect(demo.status == 0, "\(demo.stderr)")
            let server = try ServerProcess(store: store)
            defer { server.stop() }

            var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(server.port)/dashboard")))
            request.httpMethod = "GET"
            let (_, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 200, "open: the page asks for its token itself")
            #expect(http.value(forHTTPHeaderField: "Content-Type") == "text/html; charset=utf-8")
            #expect(http.value(forHTTPHeaderField: "Content-Security-Policy")?.contains("default-src 'none'") == true)

            let admin = try server.token("ops", admin: true)
            let page = try Self.dom("http://127.0.0.1:\(server.port)/dashboard#token=\(admin)")
            #expect(page.contains("data-loaded=\"yes\""), "\(page.suffix(2_000))")
            // The four charts of the chosen video and the finished party's chart, each the API's SVG.
            #expect(page.components(separatedBy: "data-rendered=\"yes\"").count - 1 == 5, "\(page)")
            #expect(page.contains("big-buck-bunny") && page.contains("Video "), "the most viewed video is chosen")
            #expect(page.contains(">finished<") && page.contains("Replay of "), "the demo's party, finished, with its replay")
            #expect(page.contains("Viewer "), "the replay names the members")

            let refused = try Self.dom("http://127.0.0.1:\(server.port)/dashboard#token=\(try server.token("bob"))")
            #expect(refused.contains("not an administrator"), "a user's token is refused and the page asks again")
            #expect(!refused.contains("data-loaded=\"yes\""))
        }
    }
}
