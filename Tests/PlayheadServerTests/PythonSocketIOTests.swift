import EventLog
import Foundation
import PlayheadServer
import TestSupport
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

    /// Runs `python` with `arguments` to its end: its exit status, standard output and
    /// standard error. The pipes are drained by threads of their own and the exit awaited through a
    /// continuation, so that no thread of the cooperative pool blocks (on two cores, two
    /// blocked threads would stall the in-process server the script talks to).
    static func run(_ python: String, _ arguments: [String]) async throws -> (status: Int32, output: Data, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let (out, err) = (PipeReader(output.fileHandleForReading), PipeReader(errors.fileHandleForReading))
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                // Never started: end the readers' pipes here.
                try? output.fileHandleForWriting.close()
                try? errors.fileHandleForWriting.close()
                continuation.resume(throwing: error)
            }
        }
        // The readers see the end of each pipe after the last bytes.
        await out.waitForEnd()
        await err.waitForEnd()
        return (status, out.data, err.text)
    }

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

            // The server's clock runs four times faster than the wall's while the script runs, so
            // that the late joiner's extrapolated position has moved on by whole seconds.
            let ticking = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    server.clock.advance(.seconds(1))
                }
            }
            defer { ticking.cancel() }
            let (status, data, errorText) = try await Self.run(
                python,
                [
                    Self.repository.appendingPathComponent("tools/socketio-client-check.py").path, "http://127.0.0.1:\(server.port)", party, alice,
                    bob,
                    admin,
                ]
            )
            #expect(status == 0, "\(errorText)")
            let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errorText)")

            #expect((result["alice_join"] as? [String: Any])?["ok"] as? Bool == true)
            #expect((result["bob_join"] as? [String: Any])?["ok"] as? Bool == true)
            #expect(((result["message"] as? [String: Any])?["message"] as? [String: Any])?["message"] as? String == "hello from python")
            #expect(((result["seek"] as? [String: Any])?["sync"] as? [String: Any])?["videoTime"] as? Double == 42)
            let emoji = ((result["emoji"] as? [String: Any])?["message"] as? [String: Any])?["message"] as? String
            #expect(
                emoji == String(repeating: "\u{1F600}", count: 1_500),
                "an 18 KB WebSocket frame: \(String(describing: result["emoji"]).prefix(200))"
            )
            let full = try #require(result["full"] as? [String: Any])
            #expect(full["code"] as? String == "conflict" && (full["error"] as? String)?.contains("full") == true, "\(full)")
            #expect((result["bad_token"] as? String) != "connected")
            #expect((result["bad_token_error"] as? [String: Any])?["message"] as? String == "the bearer token is not valid", "\(result)")
            #expect(result["alice_transport"] as? String == "websocket", "the default client upgraded from polling")
            #expect(result["bob_transport"] as? String == "websocket")

            func names(_ key: String) -> [String] { (result[key] as? [[Any]] ?? []).compactMap { $0.first as? String } }
            func received(_ key: String) -> [(name: String, data: [String: Any])] {
                (result[key] as? [[Any]] ?? []).compactMap { pair in (pair.first as? String).map { ($0, pair.last as? [String: Any] ?? [:]) } }
            }
            let aliceNames = names("alice_received")
            #expect(aliceNames.contains("user_joined") && aliceNames.contains("new_message") && aliceNames.contains("user_left"), "\(aliceNames)")
            #expect(aliceNames.filter { $0 == "sync_player" }.count == 3, "on joining, after bob's seek and after her play: \(aliceNames)")
            let bobNames = names("bob_received")
            #expect(bobNames.contains("new_message") && bobNames.contains("sync_player"), "\(bobNames)")
            #expect(!bobNames.contains("user_joined"), "bob joined after alice, and is not told of his own join: \(bobNames)")

            // The drift hint: paused at 42 in the lobby, a player at 45 is told to seek back.
            let hint = try #require(received("bob_received").last { $0.name == "sync_hint" }?.data)
            #expect(hint["action"] as? String == "seek" && hint["videoTime"] as? Double == 42 && hint["drift"] as? Double == 3, "\(hint)")
            #expect((result["status"] as? [String: Any])?["action"] as? String == "seek")

            // Back with the last entry he saw: what he missed, from the log (his old connection's
            // leave, alice's play and message), then the room's welcome with the film
            // extrapolated (playing since alice's play, seconds ago on the server's clock).
            // The server sends them in that order (PartyRoomEndToEndTests checks it); the
            // stock client runs each handler on a thread of its own, so only the set is
            // checked here.
            #expect((result["back_join"] as? [String: Any])?["ok"] as? Bool == true, "\(result)")
            let back = received("back_received")
            #expect(back.filter { $0.name == "user_left" }.map { $0.data["userId"] as? String } == ["bob"], "\(back)")
            #expect(back.filter { $0.name == "new_message" }.map { $0.data["message"] as? String } == ["while you were away"], "no duplicate")
            let syncs = back.filter { $0.name == "sync_player" }.map(\.data)
            #expect(syncs.count == 2 && syncs.contains { $0["action"] as? String == "play" && $0["userId"] as? String == "alice" }, "\(syncs)")
            let welcome = try #require(syncs.first { $0["userId"] == nil }, "\(syncs)")
            let position = try #require(welcome["videoTime"] as? Double)
            #expect(welcome["playing"] as? Bool == true && position >= 43 && position < 60, "extrapolated from 42: \(welcome)")
            #expect(back.contains { $0.name == "participant_list" })

            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            let types = (log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String }
            #expect(
                types == ["join", "join", "message", "message", "seek", "leave", "play", "message", "join", "leave", "leave"],
                "every event durable, in order: \(log.text)"
            )
        }
    }

    @Test("replay is exact: what a member received live equals, payload for payload, what a replay emits (bar the replay mark)")
    func replayEqualsLive() async throws {
        let python = try #require(ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"])
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice", "bob", "carol"])
            // The clock moves while the party runs, so that entries have distinct times and video times.
            let ticking = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    server.clock.advance(.seconds(1))
                }
            }
            defer { ticking.cancel() }
            let (status, data, errorText) = try await Self.run(
                python,
                [Self.repository.appendingPathComponent("tools/socketio-replay-check.py").path, "http://127.0.0.1:\(server.port)", party] + tokens
                    + [admin]
            )
            #expect(status == 0, "\(errorText)")
            let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errorText)")
            let live = try #require(result["live"] as? [[Any]])
            let replayed = try #require(result["replayed"] as? [[Any]])

            // Alice's welcome (participant_list, then the film's state) is hers, not the room's:
            // what follows it is the room's, from her join on.
            #expect(live.prefix(2).compactMap { $0.first as? String } == ["participant_list", "sync_player"], "\(live)")
            let liveRoom = Array(live.dropFirst(2))
            // In the replay, the room's events after alice's join and the list that followed it.
            let aliceJoin = try #require(
                replayed.firstIndex { ($0.first as? String) == "user_joined" && (($0.last as? [String: Any])?["userId"] as? String) == "alice" }
            )
            #expect(replayed[aliceJoin + 1].first as? String == "participant_list")
            #expect(replayed.last?.first as? String == "replay_finished")
            let replayRoom = Array(replayed[(aliceJoin + 2)..<(replayed.count - 1)])
            #expect(replayRoom.allSatisfy { (($0.last as? [String: Any])?["replayed"] as? Bool) == true }, "every replayed event is marked")
            func unmarked(_ event: [Any]) throws -> Data {
                var payload = event.last as? [String: Any] ?? [:]
                payload.removeValue(forKey: "replayed")
                return try JSONSerialization.data(withJSONObject: [event.first ?? "", payload], options: [.sortedKeys])
            }
            let liveBytes = try liveRoom.map(unmarked)
            let replayBytes = try replayRoom.map(unmarked)
            #expect(liveRoom.count >= 14, "the party's joins, chat and player actions: \(liveRoom.count) events")
            #expect(liveBytes == replayBytes, "live:\n\(liveRoom)\nreplayed:\n\(replayRoom)")
        }
    }
}
