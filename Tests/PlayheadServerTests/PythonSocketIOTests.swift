import EventLog
import Foundation
import PlayheadServer
import Testing
import WatchDomain

/// The gateway with a stock client: python-socketio from PyPI, which `tools/test` installs
/// in a virtual environment and names in `PLAYHEAD_SOCKETIO_PYTHON` (the suite runs only
/// where that is set: `tools/test` and CI; `swift test` alone leaves it out).
@Suite(
    "Watch-party gateway with python-socketio",
    .enabled(if: ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"] != nil)
)
struct PythonSocketIOTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("default transports and WebSocket only: join, chat, player sync, a full room, a bad token, leave")
    func stockClient() async throws {
        let python = try #require(ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"])
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            #expect(try await server.send("PUT", "/videos/film", token: admin, json: ["duration": 5_400]).status == 200)
            let now = server.clock.now.microsecondsSince1970
            let body: [String: Any] = [
                "movie_id": "film", "max_participants": 2,
                "start_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 60_000_000)),
                "end_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 7_200_000_000)),
            ]
            let party = try #require(try await server.send("POST", "/watch-parties", token: admin, json: body).json["id"] as? String)
            let ticket = try #require(
                try await server.send("POST", "/tickets", token: admin, json: ["name": "Seat", "price": ["amount": "1", "currency": "EUR"]]).json[
                    "id"
                ]
                    as? String
            )
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            for token in [alice, bob] {
                #expect(try await server.send("POST", "/watch-parties/\(party)/purchase", token: token, json: ["ticket_id": ticket]).status == 201)
            }

            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [
                Self.repository.appendingPathComponent("tools/socketio-client-check.py").path, "http://127.0.0.1:\(server.port)", party, alice, bob,
                admin,
            ]
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            // Read while it runs (a full pipe would block it), then wait for it off the cooperative pool.
            let data = try await Task.detached { try output.fileHandleForReading.readToEnd() ?? Data() }.value
            let errorText = String(decoding: (try errors.fileHandleForReading.readToEnd()) ?? Data(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(errorText)")
            let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errorText)")

            #expect((result["alice_join"] as? [String: Any])?["ok"] as? Bool == true)
            #expect((result["bob_join"] as? [String: Any])?["ok"] as? Bool == true)
            #expect(((result["message"] as? [String: Any])?["message"] as? [String: Any])?["message"] as? String == "hello from python")
            #expect(((result["seek"] as? [String: Any])?["sync"] as? [String: Any])?["videoTime"] as? Double == 42)
            let full = try #require(result["full"] as? [String: Any])
            #expect(full["code"] as? String == "conflict" && (full["error"] as? String)?.contains("full") == true, "\(full)")
            #expect((result["bad_token"] as? String) != "connected")
            #expect((result["bad_token_error"] as? [String: Any])?["message"] as? String == "the bearer token is not valid", "\(result)")
            #expect(result["alice_transport"] as? String == "websocket", "the default client upgraded from polling")
            #expect(result["bob_transport"] as? String == "websocket")

            func names(_ key: String) -> [String] { (result[key] as? [[Any]] ?? []).compactMap { $0.first as? String } }
            let aliceNames = names("alice_received")
            #expect(aliceNames.contains("user_joined") && aliceNames.contains("new_message") && aliceNames.contains("user_left"), "\(aliceNames)")
            #expect(aliceNames.filter { $0 == "sync_player" }.count == 2, "on joining, and after bob's seek: \(aliceNames)")
            let bobNames = names("bob_received")
            #expect(bobNames.contains("new_message") && bobNames.contains("sync_player"), "\(bobNames)")
            #expect(!bobNames.contains("user_joined"), "bob joined after alice, and is not told of his own join: \(bobNames)")

            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            let types = (log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String }
            #expect(types == ["join", "join", "message", "seek", "leave", "leave"], "every event durable, in order: \(log.text)")
        }
    }
}
