import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Synchronization
import TestSupport
import Testing
import Views
import WatchDomain

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `playhead serve` process on a free loopback port. Its state is set in `init` and only
/// read afterwards (`Process` is thread-safe for `processIdentifier` and signalling).
final class ServerProcess: @unchecked Sendable {
    static let secret = "cli-test-secret-0123456789abcdefghijklmnop"
    let process = Process()
    let port: Int
    let store: String

    /// Starts the server on `store` and waits until it listens; without `secret`, the
    /// server takes the store's own.
    init(store: String, secret: Bool = true, arguments: [String] = []) throws {
        self.store = store
        process.executableURL = URL(fileURLWithPath: playheadBinary)
        process.arguments =
            ["serve", "--data-dir", store, "--port", "0", "--log-level", "notice"] + (secret ? ["--jwt-secret", Self.secret] : []) + arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        // The notice line names the bound address: "... address=http://127.0.0.1:PORT ...".
        var text = ""
        var port: Int?
        let reader = err.fileHandleForReading
        while port == nil {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: "http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let port else { throw ServerStartError(output: text) }
        self.port = port
        // Keep draining the log so the server never blocks on a full pipe.
        _ = PipeReader(reader)
    }

    func token(_ user: String, admin: Bool = false, secret: Bool = true) throws -> String {
        var arguments = ["token", "--user", user, "--data-dir", store] + (secret ? ["--jwt-secret", Self.secret] : [])
        if admin { arguments.append("--admin") }
        let output = try playhead(arguments)
        #expect(output.status == 0, "\(output.stderr)")
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func send(_ method: String, _ path: String, token: String, json: [String: Any]? = nil) async throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let json { request.httpBody = try JSONSerialization.data(withJSONObject: json) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    /// Registers the video `film` (90 minutes) and creates a ticket at `price` EUR, as
    /// administrator `admin`; returns the ticket's id.
    func filmAndTicket(admin: String, price: String) async throws -> String {
        #expect(try await send("PUT", "/videos/film", token: admin, json: ["duration": 5_400]).status == 200)
        let ticket = try await send("POST", "/tickets", token: admin, json: ["name": "Seat", "price": ["amount": price, "currency": "EUR"]])
        return try #require(ticket.json["id"] as? String)
    }

    func stop(signal: Int32 = SIGTERM) {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }
}

struct ServerStartError: Error, CustomStringConvertible {
    var output: String
    var description: String { "playhead serve did not start:\n\(output)" }
}

/// How many heartbeats the server acknowledged, per session.
final class Acknowledgements: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func add(_ session: String) { counts.withLock { $0[session, default: 0] += 1 } }
    var all: [String: Int] { counts.withLock { $0 } }
}

@Suite("playhead serve, rebuild and verify --projections", .serialized, .timeLimit(.minutes(5)))
struct ServeCommandTests {
    @Test("after SIGKILL during a heartbeat load, every acknowledged heartbeat is in the log and the views equal a rebuild")
    func crashDuringHeartbeats() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let token = try server.token("alice")
            var sessions: [String] = []
            for _ in 0..<8 {
                let started = try await server.send("POST", "/user-sessions", token: token)
                sessions.append(try #require(started.json["sessionId"] as? String))
            }
            let acknowledged = Acknowledgements()
            await withTaskGroup(of: Void.self) { group in
                for (index, session) in sessions.enumerated() {
                    group.addTask {
                        // Bounded: at most 400 heartbeats a session; the kill cuts it short.
                        for _ in 0..<400 {
                            guard let reply = try? await server.send("POST", "/user-sessions/heartbeat/\(session)", token: token) else { return }
                            guard reply.status == 200 else { return }
                            acknowledged.add(session)
                        }
                    }
                    if index == 0 {
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(400))
                            server.stop(signal: SIGKILL)
                        }
                    }
                }
            }
            #expect(server.process.terminationReason == .uncaughtSignal)
            let counts = acknowledged.all
            #expect(counts.values.reduce(0, +) > 0)
            // The kill came during the load: some session's heartbeats were cut short.
            #expect(counts.values.reduce(0, +) < 400 * sessions.count)

            let log = try LMDBEventLog(directory: store + "/log", mode: .readOnly)
            for session in sessions {
                let events = try log.readStream("user-session/\(session)", from: 1, limit: 10_000)
                let heartbeats = events.filter { $0.type == "user-session.heartbeat" }.count
                #expect(heartbeats >= counts[session, default: 0], "session \(session)")
            }
            await log.close()

            // Restarted, the server catches its views up; stopped, the views equal a rebuild.
            let restarted = try ServerProcess(store: store)
            let listed = try await restarted.send("GET", "/user-sessions", token: token)
            #expect((listed.json["data"] as? [Any])?.count == sessions.count)
            restarted.stop()
            let verify = try playhead(["verify", "--projections", "--data-dir", store])
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(
                verify.stdout.contains(
                    "verify: OK: projections (user-sessions, watch-sessions, video-progress, interactions, watch-parties) equal a rebuild"
                ),
                "\(verify.stdout)"
            )
        }
    }

    @Test("SIGTERM stops the server cleanly while clients hold a connection silent or a request half sent")
    func stopsWithAStalledRequest() async throws {
        try await withTemporaryDirectory { directory in
            let server = try ServerProcess(store: directory + "/store")
            // Neither connection ever completes a request head: one sends nothing, one stops
            // half way through its headers. Both stay open all along.
            let silent = try LoopbackConnection(port: server.port)
            let halfSent = try LoopbackConnection(port: server.port)
            try halfSent.write("GET /health HTTP/1.1\r\nHo")
            try await Task.sleep(for: .milliseconds(200))
            kill(server.process.processIdentifier, SIGTERM)
            // It once waited for them for ever, then ended by ServiceLifecycle's abort
            // ("Cancellation took longer than allowed", SIGILL). The bound is only liveness.
            let deadline = ContinuousClock.now + .seconds(60)
            while server.process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!server.process.isRunning, "the server still runs 60 s after SIGTERM")
            if server.process.isRunning { server.stop(signal: SIGKILL) }
            #expect(server.process.terminationReason == .exit)
            #expect(server.process.terminationStatus == 0)
            for connection in [silent, halfSent] {
                let reply = await connection.receive()
                #expect(reply.closed && reply.text.isEmpty, "\(reply)")
            }
        }
    }

    @Test("rebuild while the server runs: it switches to the new views and keeps serving")
    func rebuildWhileServing() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let token = try server.token("bob")
            let first = try #require(try await server.send("POST", "/user-sessions", token: token).json["sessionId"] as? String)
            #expect(try await server.send("POST", "/user-sessions/heartbeat/\(first)", token: token).status == 200)

            let rebuild = try playhead(["rebuild", "--data-dir", store])
            #expect(rebuild.status == 0, "\(rebuild.stderr)")
            #expect(rebuild.stdout.contains("rebuild: 2 events folded into views-"), "\(rebuild.stdout)")
            #expect(rebuild.stdout.contains("the running server switches"))
            let generation = try String(contentsOfFile: store + "/views.current", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

            // Within a second the old views directory is gone: the server switched and removed it.
            var switched = false
            for _ in 0..<50 where !switched {
                try await Task.sleep(for: .milliseconds(100))
                switched = !FileManager.default.fileExists(atPath: store + "/views")
            }
            #expect(switched)
            let second = try #require(try await server.send("POST", "/user-sessions", token: token).json["sessionId"] as? String)
            let listed = try await server.send("GET", "/user-sessions", token: token)
            #expect(Set((listed.json["data"] as? [[String: Any]] ?? []).compactMap { $0["sessionId"] as? String }) == [first, second])

            let partial = try playhead(["rebuild", "--data-dir", store, "--projection", "user-sessions"])
            #expect(partial.status == 0, "\(partial.stderr)")
            // The server switches to the partial rebuild too, removing the generation it left.
            var switchedAgain = false
            for _ in 0..<50 where !switchedAgain {
                try await Task.sleep(for: .milliseconds(100))
                switchedAgain = !FileManager.default.fileExists(atPath: store + "/" + generation)
            }
            #expect(switchedAgain)
            let unknown = try playhead(["rebuild", "--data-dir", store, "--projection", "nope"])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no projection named 'nope'"))

            let verify = try playhead(["verify", "--projections", "--data-dir", store])
            #expect(verify.status == 0, "\(verify.stderr)")
            server.stop()
        }
    }

    @Test("a mixed watch-session, progress and interaction workload: the views equal a rebuild, and the export round-trips")
    func watchWorkload() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let admin = try server.token("root", admin: true)
            let users = try (0..<3).map { try server.token("user-\($0)") }
            for video in 0..<4 {
                let reply = try await server.send(
                    "PUT",
                    "/videos/video-\(video)",
                    token: admin,
                    json: ["duration": 60 * (video + 1), "title": "Video \(video)"]
                )
                #expect(reply.status == 200)
            }
            var sessions: [(token: String, id: String)] = []
            for step in 0..<120 {
                let user = step % 3
                let token = users[user]
                let video = "video-\(step * 7 % 5)"
                let time = "2026-01-\(String(format: "%02d", 1 + step * 11 % 28))T10:00:00Z"
                let status: Int
                switch step % 6 {
                case 0:
                    let body: [String: Any] = [
                        "videoId": video, "startTime": time, "actualTimeWatched": "00:00:30", "percentageWatched": 20,
                        "userEvent": [["event": "play", "eventTime": time, "videoTime": "00:00:00"]],
                    ]
                    let reply = try await server.send("POST", "/watch-sessions", token: token, json: body)
                    if let id = reply.json["id"] as? String { sessions.append((token, id)) }
                    status = reply.status
                case 1:
                    guard let session = sessions.last else { continue }
                    let body: [String: Any] = [
                        "percentageWatched": 40, "userEvent": [["event": "pause", "eventTime": time, "videoTime": "00:00:20"]],
                    ]
                    status = try await server.send("PATCH", "/watch-sessions/\(session.id)", token: session.token, json: body).status
                case 2:
                    guard step % 4 == 0, let session = sessions.popLast() else { continue }
                    status = try await server.send("DELETE", "/watch-sessions/\(session.id)", token: session.token).status
                case 3:
                    let body: [String: Any] = [
                        "userId": "user-\(user)",
                        "progressData": [
                            ["videoId": video, "watchedDuration": step * 3, "lastWatched": time],
                            ["videoId": "video-4", "watchedDuration": step, "lastWatched": time],
                        ],
                    ]
                    status = try await server.send("POST", "/progress/sync", token: token, json: body).status
                case 4:
                    let body: [String: Any] = ["userId": "user-\(user)", "videoId": video, "watchedDuration": step * 2, "lastWatched": time]
                    status = try await server.send("POST", step % 2 == 0 ? "/progress/realtime" : "/progress/update", token: token, json: body).status
                default:
                    let reply = try await server.send("DELETE", "/progress/user-\(user)/\(video)", token: token)
                    #expect(reply.status == 200 || reply.status == 404)
                    continue
                }
                #expect(status == 200 || status == 201, "step \(step)")
            }
            for step in 0..<30 {
                let body: [String: Any] = [
                    "userId": step % 3, "contentId": "content-\(step % 7)", "interactionType": ["like", "view", "rate"][step % 3],
                    "interactionValue": 1 + step % 10, "notes": "note, \"\(step)\"\nline",
                ]
                let status = try await server.send("POST", "/interactions/track", token: try server.token("\(step % 3)"), json: body).status
                #expect(status == 200 || status == 201)
            }
            server.stop()

            let verify = try playhead(["verify", "--projections", "--data-dir", store])
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("watch-sessions") && verify.stdout.contains("video-progress"), "\(verify.stdout)")
            let export = try playhead(["export", "--data-dir", store])
            let lines = try tailLines(export.stdout)
            #expect(
                Set(lines.compactMap { $0["type"] as? String }).isSuperset(of: ["watch-session.started", "progress.recorded", "video.registered"])
            )
            #expect(lines.allSatisfy { $0["payloadBase64"] == nil }, "every event has a JSON payload")
            let file = directory + "/export.ndjson"
            try export.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            let copy = directory + "/copy"
            #expect(try playhead(["import", "--data-dir", copy, file]).status == 0)
            #expect(try playhead(["export", "--data-dir", copy]).stdout == export.stdout)
            #expect(try playhead(["verify", "--projections", "--data-dir", copy]).status == 0)
        }
    }

    @Test("a watch-party workload with purchases and a long party log: the views equal a rebuild, and the export round-trips")
    func watchPartyWorkload() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let admin = try server.token("root", admin: true)
            let ticket = try await server.filmAndTicket(admin: admin, price: "9.99")
            let start = ISO8601Micros.format(Timestamp(microsecondsSince1970: Timestamp.now().microsecondsSince1970 + 60_000_000))
            let end = ISO8601Micros.format(Timestamp(microsecondsSince1970: Timestamp.now().microsecondsSince1970 + 7_200_000_000))
            var parties: [String] = []
            for index in 0..<3 {
                let body: [String: Any] = ["movie_id": "film", "start_time": start, "end_time": end, "max_participants": 5 + index]
                let reply = try await server.send("POST", "/watch-parties", token: admin, json: body)
                #expect(reply.status == 201, "\(reply.json)")
                parties.append(try #require(reply.json["id"] as? String))
            }
            #expect(try await server.send("PATCH", "/watch-parties/\(parties[2])", token: admin, json: ["is_featured": true]).status == 200)
            // Eight buyers at once for each party: 5, 6 and 7 seats.
            let sold = try await withThrowingTaskGroup(of: Int.self) { group in
                for party in parties {
                    for buyer in 0..<8 {
                        group.addTask {
                            let token = try server.token("user-\(buyer)")
                            return try await server.send("POST", "/watch-parties/\(party)/purchase", token: token, json: ["ticket_id": ticket]).status
                        }
                    }
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(sold.filter { $0 == 201 }.count == 18 && sold.filter { $0 == 409 }.count == 6)
            server.stop()

            // The party log, as the gateway appends it: through the commands, on the store.
            let opened = try PlayheadStore(directory: store)
            let commands = WatchPartyCommands(runner: CommandRunner(store: opened), clock: { Timestamp.now() })
            let partyId = try #require(UUID(uuidString: parties[0]))
            let members = try (0..<5).map { try UserID("user-\($0)") }
            // An administrator acts for the members: which five of the eight buyers got a seat is the race's.
            let operatorCaller = Caller(userId: "root", isAdmin: true)
            for member in members {
                _ = try await commands.log(
                    .init(userId: member, eventType: .join, username: member.text),
                    in: partyId,
                    caller: operatorCaller,
                    correlation: UUID()
                )
            }
            for step in 0..<1_500 {
                let member = members[step % members.count]
                let request: WatchPartyDecider.LogRequest
                switch step % 10 {
                case 3: request = .init(userId: member, eventType: .pause)
                case 4: request = .init(userId: member, eventType: .seek, videoTimeMillis: UInt64(step) * 1_000)
                case 5: request = .init(userId: member, eventType: .play)
                default: request = .init(userId: member, eventType: .message, message: "message \(step), \"quoted\"\nsecond line")
                }
                _ = try await commands.log(request, in: partyId, caller: operatorCaller, correlation: UUID())
            }
            _ = try await commands.log(.init(userId: members[0], eventType: .leave), in: partyId, caller: operatorCaller, correlation: UUID())
            await opened.close()

            let verify = try playhead(["verify", "--projections", "--data-dir", store])
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("watch-parties"), "\(verify.stdout)")
            let export = try playhead(["export", "--data-dir", store])
            let lines = try tailLines(export.stdout)
            #expect(lines.filter { $0["type"] as? String == PartyLogged.eventType }.count == 1_506)
            #expect(lines.allSatisfy { $0["payloadBase64"] == nil }, "every event has a JSON payload")
            let file = directory + "/export.ndjson"
            try export.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            let copy = directory + "/copy"
            #expect(try playhead(["import", "--data-dir", copy, file]).status == 0)
            #expect(try playhead(["export", "--data-dir", copy]).stdout == export.stdout)
            #expect(try playhead(["verify", "--projections", "--data-dir", copy]).status == 0)
        }
    }

    @Test("an export of domain events shows their JSON payloads and round-trips byte for byte")
    func domainExportRoundTrip() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let token = try server.token("carol")
            let session = try #require(try await server.send("POST", "/user-sessions", token: token).json["sessionId"] as? String)
            _ = try await server.send("POST", "/user-sessions/heartbeat/\(session)", token: token)
            _ = try await server.send("POST", "/user-sessions/end/\(session)", token: token)
            let metricsPath = "/metrics/sessions/daily?startDate=2026-01-01&endDate=2027-12-31"
            let served = try await server.send("GET", metricsPath, token: try server.token("root", admin: true))
            #expect(served.status == 200)
            server.stop()

            let export = try playhead(["export", "--data-dir", store])
            #expect(export.status == 0)
            let lines = try tailLines(export.stdout)
            #expect(lines.count == 3)
            let payload = try #require(lines.first?["payload"] as? [String: Any])
            #expect(payload["userId"] as? String == "carol")
            #expect(lines.allSatisfy { $0["payloadBase64"] == nil })

            let file = directory + "/export.ndjson"
            try export.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            let copy = directory + "/copy"
            #expect(try playhead(["import", "--data-dir", copy, file]).status == 0)
            #expect(try playhead(["export", "--data-dir", copy]).stdout == export.stdout)

            // Served from the imported log, the figures are those the live server gave: they
            // come from the events' recorded-at times, which the import kept.
            let replayed = try ServerProcess(store: copy)
            let answer = try await replayed.send("GET", metricsPath, token: try replayed.token("root", admin: true))
            replayed.stop()
            #expect(NSDictionary(dictionary: answer.json) == NSDictionary(dictionary: served.json))
            #expect((served.json["data"] as? [[String: Any]])?.compactMap { $0["totalSessions"] as? Int }.reduce(0, +) == 1)

            // An event of another session's stream, or with a user id too long to key, is refused.
            let session2 = UUID().uuidString.lowercased()
            let moved = export.stdout.replacingOccurrences(
                of: "\"stream\":\"user-session/\(session)\"",
                with: "\"stream\":\"user-session/\(session2)\""
            )
            try moved.write(toFile: file, atomically: true, encoding: .utf8)
            let wrongStream = try playhead(["import", "--data-dir", directory + "/moved", file])
            #expect(wrongStream.status != 0)
            #expect(wrongStream.stderr.contains("line 1: payload is not a valid user-session.started event"), "\(wrongStream.stderr)")
            let long = export.stdout.replacingOccurrences(of: "\"userId\":\"carol\"", with: "\"userId\":\"\(String(repeating: "c", count: 300))\"")
            try long.write(toFile: file, atomically: true, encoding: .utf8)
            let tooLong = try playhead(["import", "--data-dir", directory + "/long", file])
            #expect(tooLong.stderr.contains("userId must be 1 to 256 bytes"), "\(tooLong.stderr)")

            // A payload that does not fit its type is refused, naming the line and field.
            let bad = export.stdout.replacingOccurrences(of: "\"userId\":\"carol\"", with: "\"userId\":7")
            try bad.write(toFile: file, atomically: true, encoding: .utf8)
            let refused = try playhead(["import", "--data-dir", directory + "/other", file])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("line 1: payload does not match user-session.started"), "\(refused.stderr)")
        }
    }
}

@Suite("playhead verify --projections", .timeLimit(.minutes(5)))
struct VerifyProjectionsTests {
    @Test("views that do not match the log fail verify, naming the database and key")
    func mismatchedViewsFail() async throws {
        try await withTemporaryDirectory { directory in
            let original = directory + "/original"
            let server = try ServerProcess(store: original)
            let token = try server.token("dave")
            let session = try #require(try await server.send("POST", "/user-sessions", token: token).json["sessionId"] as? String)
            _ = try await server.send("POST", "/user-sessions/heartbeat/\(session)", token: token)
            server.stop()
            #expect(try playhead(["verify", "--projections", "--data-dir", original]).status == 0)

            // The same events but another user's: same positions, different rows.
            let export = try playhead(["export", "--data-dir", original]).stdout
            let altered = directory + "/altered.ndjson"
            try export.replacingOccurrences(of: "\"userId\":\"dave\"", with: "\"userId\":\"erin\"").write(
                toFile: altered,
                atomically: true,
                encoding: .utf8
            )
            let other = directory + "/other"
            #expect(try playhead(["import", "--data-dir", other, altered]).status == 0)
            #expect(try playhead(["verify", "--projections", "--data-dir", other]).stdout.contains("no views yet"))
            #expect(!FileManager.default.fileExists(atPath: other + "/views"))
            #expect(try playhead(["rebuild", "--data-dir", other]).status == 0)

            // Serve the original log with the other store's views.
            let generation = try String(contentsOfFile: other + "/views.current", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            try FileManager.default.copyItem(atPath: other + "/" + generation, toPath: original + "/" + generation)
            try FileManager.default.copyItem(atPath: other + "/views.current", toPath: original + "/views.current")
            let verify = try playhead(["verify", "--projections", "--data-dir", original])
            #expect(verify.status == 1)
            #expect(verify.stderr.contains("verify: projections differ: user-sessions.sessions key"), "\(verify.stderr)")
            #expect(verify.stderr.contains("user-sessions.open_by_user key"), "\(verify.stderr)")
        }
    }
}
