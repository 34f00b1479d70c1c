import EventLog
import Foundation
import Synchronization
import TestSupport
import Testing
import WatchDomain

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The repository's root (for `tools/`).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Waits until `condition` holds, for at most `timeout`; answers whether it held.
private func eventually(_ timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// The events of the log at `url`, as `playhead export --log` writes them.
private func exported(_ url: String) throws -> [[String: Any]] {
    let export = try playhead(["export", "--log", url])
    #expect(export.status == 0, "\(export.stderr)")
    return try tailLines(export.stdout)
}

/// Several `playhead serve --log` nodes over one PostgreSQL database (`tools/test` starts the
/// server; each test makes a database of its own).
@Suite(
    "Several nodes over one PostgreSQL log",
    .serialized,
    .enabled(if: TestPostgres.isAvailable, "needs PLAYHEAD_TEST_POSTGRES_URL (tools/test starts PostgreSQL)"),
    .timeLimit(.minutes(5))
)
struct MultiNodeTests {
    @Test("two nodes: writes through either are read on both, no ticket is oversold, a chat through A reaches a member on B, both equal a rebuild")
    func twoNodes() async throws {
        try await TestPostgres.withDatabase { url in
            try await withTemporaryDirectory { directory in
                let a = try ServerProcess(store: directory + "/a", arguments: ["--log", url])
                let b = try ServerProcess(store: directory + "/b", arguments: ["--log", url])
                let alice = try a.token("alice")

                // A session started through A, kept alive through B, read through both.
                let started = try await a.send("POST", "/user-sessions", token: alice)
                #expect(started.status == 201)
                let session = try #require(started.json["sessionId"] as? String)
                #expect(try await b.send("POST", "/user-sessions/heartbeat/\(session)", token: alice).status == 200)
                for node in [a, b] {
                    #expect(try await eventually { try await node.sessions(alice).contains(session) })
                }

                // Progress reported through B, read through A.
                let report: [String: Any] = ["userId": "alice", "videoId": "film", "watchedDuration": 42]
                #expect(try await b.send("POST", "/progress/update", token: alice, json: report).status == 200)
                #expect(
                    try await eventually {
                        (try await a.send("GET", "/progress/alice/film", token: alice).json["watchedDuration"] as? Double) == 42
                    }
                )

                // A purchase storm through both nodes: 16 buyers for 5 seats.
                let admin = try a.token("root", admin: true)
                let ticket = try await a.filmAndTicket(admin: admin, price: "4.50")
                let now = Timestamp.now().microsecondsSince1970
                let party: [String: Any] = [
                    "movie_id": "film", "start_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 120_000_000)),
                    "end_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 7_200_000_000)), "max_participants": 5,
                ]
                let scheduled = try await b.send("POST", "/watch-parties", token: admin, json: party)
                #expect(scheduled.status == 201, "\(scheduled.json)")
                let partyId = try #require(scheduled.json["id"] as? String)
                // Both nodes know the party and the ticket before the storm.
                for node in [a, b] {
                    #expect(try await eventually { try await node.send("GET", "/watch-parties/\(partyId)", token: admin).status == 200 })
                    #expect(try await eventually { try await node.send("GET", "/tickets/\(ticket)", token: admin).status == 200 })
                }
                let answers = try await storm(partyId, ticket: ticket, buyers: 16, through: [a, b])
                #expect(answers.filter { $0.status == 201 }.count == 5, "\(answers)")
                // Every refusal is the party's being sold out, not a conflict between the buyers.
                #expect(answers.filter { $0.status == 409 && $0.detail.contains("sold out") }.count == 11, "\(answers)")

                // A rush that the seats suffice for: every buyer gets one, through either node,
                // though all of them change the same party's stream at once.
                let roomy = try await b.send("POST", "/watch-parties", token: admin, json: party.merging(["max_participants": 100]) { $1 })
                let roomyId = try #require(roomy.json["id"] as? String)
                for node in [a, b] {
                    #expect(try await eventually { try await node.send("GET", "/watch-parties/\(roomyId)", token: admin).status == 200 })
                }
                let rush = try await storm(roomyId, ticket: ticket, buyers: 30, through: [a, b])
                #expect(rush.allSatisfy { $0.status == 201 }, "\(rush.filter { $0.status != 201 })")

                // A chat through A reaches a member connected to B.
                if let python = ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"] {
                    let sender = try a.token("chat-a")
                    let listener = try b.token("chat-b")
                    // The stormed party is sold out: the chatters meet at another one.
                    let chatParty = try await a.send(
                        "POST",
                        "/watch-parties",
                        token: admin,
                        json: party.merging(["max_participants": 10]) { $1 }
                    )
                    let chatPartyId = try #require(chatParty.json["id"] as? String)
                    for (node, token) in [(a, sender), (b, listener)] {
                        #expect(try await eventually { try await node.send("GET", "/watch-parties/\(chatPartyId)", token: admin).status == 200 })
                        let bought = try await node.send("POST", "/watch-parties/\(chatPartyId)/purchase", token: token, json: ["ticket_id": ticket])
                        #expect(bought.status == 201, "\(bought.json)")
                    }
                    let chat = Process()
                    chat.executableURL = URL(fileURLWithPath: python)
                    chat.arguments = [
                        repository.appendingPathComponent("tools/socketio-cross-node-chat.py").path, "http://127.0.0.1:\(a.port)",
                        "http://127.0.0.1:\(b.port)", chatPartyId, sender, listener, "6",
                    ]
                    let output = Pipe()
                    chat.standardOutput = output
                    chat.standardError = output
                    try chat.run()
                    let printed = PipeReader(output.fileHandleForReading)
                    await printed.waitForEnd()
                    chat.waitUntilExit()
                    let lines = printed.text.split(separator: "\n").map(String.init)
                    let acked = Set(lines.filter { $0.hasPrefix("acked ") }.map { $0.dropFirst(6) })
                    let received = Set(lines.filter { $0.hasPrefix("received ") }.map { $0.dropFirst(9) })
                    #expect(acked.count == 6, "\(lines)")
                    #expect(acked.isSubset(of: received), "\(lines)")
                }

                // Every position once, in order; both nodes caught up, then equal to a rebuild.
                let events = try exported(url)
                #expect(events.compactMap { $0["position"] as? Int } == Array(1...events.count))
                for node in [a, b] {
                    #expect(
                        try await eventually {
                            let ready = try await node.send("GET", "/ready", token: alice).json
                            return ready["projectionLag"] as? Int == 0 && ready["head"] as? Int == events.count
                        }
                    )
                }
                a.stop()
                b.stop()
                for node in [a, b] {
                    let verify = try playhead(["verify", "--projections", "--log", url, "--data-dir", node.store])
                    #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
                    #expect(verify.stdout.contains("verify: OK: projections"), "\(verify.stdout)")
                    #expect(verify.stdout.contains("verify: OK: asynchronous projections"), "\(verify.stdout)")
                }
                let sold = events.filter {
                    $0["type"] as? String == TicketPurchased.eventType && ($0["stream"] as? String)?.hasSuffix(partyId) == true
                }
                #expect(sold.count == 5)
            }
        }
    }

    @Test("SIGKILL one node under load: the other serves on, nothing acknowledged is lost, the restarted node catches up")
    func killedNode() async throws {
        try await TestPostgres.withDatabase { url in
            try await withTemporaryDirectory { directory in
                let a = try ServerProcess(store: directory + "/a", arguments: ["--log", url])
                let b = try ServerProcess(store: directory + "/b", arguments: ["--log", url])
                let token = try a.token("alice")
                var sessions: [String] = []
                for index in 0..<6 {
                    let node = index % 2 == 0 ? a : b
                    sessions.append(try #require(try await node.send("POST", "/user-sessions", token: token).json["sessionId"] as? String))
                }
                for session in sessions {
                    #expect(try await eventually { try await b.sessions(token).contains(session) })
                }
                let acknowledged = Acknowledgements()
                let afterKill = Shared(0)
                let killed = Shared(false)
                await withTaskGroup(of: Void.self) { group in
                    for (index, session) in sessions.enumerated() {
                        group.addTask {
                            // Bounded: 150 heartbeats a session; those on A stop at its kill.
                            for _ in 0..<150 {
                                let node = index % 2 == 0 ? a : b
                                guard let reply = try? await node.send("POST", "/user-sessions/heartbeat/\(session)", token: token) else {
                                    if node === a { return }
                                    continue
                                }
                                guard reply.status == 200 else { continue }
                                acknowledged.add(session)
                                if node === b && killed.value { afterKill.update { $0 += 1 } }
                            }
                        }
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(500))
                        a.stop(signal: SIGKILL)
                        killed.update { $0 = true }
                    }
                }
                #expect(a.process.terminationReason == .uncaughtSignal)
                #expect(afterKill.value > 0, "node B acknowledged heartbeats after A was killed")
                let counts = acknowledged.all
                let events = try exported(url)
                for session in sessions {
                    let heartbeats = events.filter {
                        $0["stream"] as? String == "user-session/\(session)" && $0["type"] as? String == "user-session.heartbeat"
                    }.count
                    #expect(heartbeats >= counts[session, default: 0], "session \(session)")
                }

                // Restarted on its directory, A catches up with what B appended meanwhile.
                let restarted = try ServerProcess(store: a.store, arguments: ["--log", url])
                #expect(
                    try await eventually {
                        let ready = try await restarted.send("GET", "/ready", token: token).json
                        return ready["projectionLag"] as? Int == 0 && ready["head"] as? Int == events.count
                    }
                )
                restarted.stop()
                b.stop()
                let verify = try playhead(["verify", "--projections", "--log", url, "--data-dir", a.store])
                #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            }
        }
    }

    @Test("a store moves from LMDB to PostgreSQL and back byte for byte; verify and rebuild work on it")
    func moveAStore() async throws {
        try await TestPostgres.withDatabase { url in
            try await withTemporaryDirectory { directory in
                let store = directory + "/store"
                let demo = try playhead(["demo", "--data-dir", store, "--users", "6", "--days", "3", "--last-day", "2026-11-30", "--seed", "3"])
                #expect(demo.status == 0, "\(demo.stderr)")
                let original = try playhead(["export", "--data-dir", store])
                let file = directory + "/store.ndjson"
                try original.stdout.write(toFile: file, atomically: true, encoding: .utf8)
                let imported = try playhead(["import", "--log", url, file])
                #expect(imported.status == 0, "\(imported.stderr)")
                // Into PostgreSQL and out again: the same bytes.
                let fromPostgres = try playhead(["export", "--log", url])
                #expect(fromPostgres.stdout == original.stdout)
                // The same file again is refused whole: its times go back before the log's last.
                let again = try playhead(["import", "--log", url, file])
                #expect(again.status != 0)
                #expect(again.stderr.contains("nothing imported"), "\(again.stderr)")
                #expect(try playhead(["export", "--log", url]).stdout == original.stdout)
                // Back into a new embedded store: the same bytes.
                let back = directory + "/back"
                #expect(try playhead(["import", "--data-dir", back, file]).status == 0)
                #expect(try playhead(["export", "--data-dir", back]).stdout == original.stdout)
                let verified = try playhead(["verify", "--log", url])
                #expect(verified.status == 0 && verified.stdout.contains("verify: OK"), "\(verified.stdout)\(verified.stderr)")
                // A node's views rebuilt from PostgreSQL equal a fold of the log, and answer as the embedded store's.
                let node = directory + "/node"
                let rebuilt = try playhead(["rebuild", "--log", url, "--data-dir", node])
                #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
                let checked = try playhead(["verify", "--projections", "--log", url, "--data-dir", node])
                #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
                let embedded = try playhead(["query", "top-videos", "--data-dir", store, "--format", "json"])
                let fromNode = try playhead(["query", "top-videos", "--data-dir", node, "--format", "json"])
                #expect(embedded.status == 0 && !embedded.stdout.isEmpty, "\(embedded.stderr)")
                #expect(fromNode.stdout == embedded.stdout, "\(fromNode.stderr)")
            }
        }
    }

    @Test("the README's two-node set-up runs as written and prints what it shows")
    func readmeTwoNodes() throws {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Several nodes over PostgreSQL").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first)
        let lines = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let expected = lines.filter { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) }
        let commands = lines.filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        try withTemporaryDirectoryBlocking { directory in
            // The block's relative paths (tools/, data/) from a directory of its own.
            try FileManager.default.createSymbolicLink(
                atPath: directory + "/tools",
                withDestinationPath: repository.appendingPathComponent("tools").path
            )
            let run = try command(
                "/bin/bash",
                ["-c", "set -e; cd '\(directory)'; playhead='\(playheadBinary)'\n" + commands],
                environment: ["PLAYHEAD_LOG_URL": "", "PLAYHEAD_JWT_SECRET": ""]
            )
            #expect(run.status == 0, "\(run.stderr)")
            let printed = run.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(printed == expected, "\(run.stdout)\n\(run.stderr)")
        }
    }

    @Test("PostgreSQL stopped under load: writes fail with 503, none acknowledged is lost, service resumes by itself")
    func postgresStopped() async throws {
        // A server of this test's own: stopping the shared one would fail the other tests.
        try await withTemporaryDirectory { directory in
            let cluster = directory + "/postgres"
            let tool = repository.appendingPathComponent("tools/postgres").path
            let started = try command(tool, ["start", cluster])
            #expect(started.status == 0, "\(started.stderr)")
            let url = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { _ = try? command(tool, ["stop", cluster]) }
            let node = try ServerProcess(store: directory + "/node", arguments: ["--log", url])
            let token = try node.token("alice")
            let session = try #require(try await node.send("POST", "/user-sessions", token: token).json["sessionId"] as? String)
            let statuses = Shared<[Int]>([])
            let acknowledged = Shared(0)
            let load = Task {
                // Bounded: at most 20 s of heartbeats, one at a time.
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: .seconds(20))
                while clock.now < deadline && !Task.isCancelled {
                    guard let reply = try? await node.send("POST", "/user-sessions/heartbeat/\(session)", token: token) else { continue }
                    statuses.update { $0.append(reply.status) }
                    if reply.status == 200 { acknowledged.update { $0 += 1 } }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(try command(tool, ["stop", cluster]).status == 0)
            let stoppedAt = statuses.value.count
            try await Task.sleep(for: .seconds(3))
            let ready = try await node.send("GET", "/ready", token: token)
            #expect(ready.status == 503, "\(ready.json)")
            #expect(try command(tool, ["start", cluster]).status == 0)
            // Service resumes by itself: heartbeats are acknowledged again.
            let resumedFrom = statuses.value.count
            #expect(await eventually(.seconds(15)) { statuses.value.dropFirst(resumedFrom).contains(200) })
            load.cancel()
            await load.value
            let during = Array(statuses.value[stoppedAt..<resumedFrom])
            #expect(during.contains(503), "\(during)")
            #expect(during.allSatisfy { $0 == 503 || $0 == 200 }, "\(during)")
            node.stop()
            let heartbeats = try exported(url).filter { $0["type"] as? String == "user-session.heartbeat" }.count
            #expect(heartbeats >= acknowledged.value)
        }
    }
}

/// `buyers` users buying a ticket of the party at once, through the nodes in turn: each answer's
/// status and detail.
private func storm(_ party: String, ticket: String, buyers: Int, through nodes: [ServerProcess]) async throws -> [(status: Int, detail: String)] {
    try await withThrowingTaskGroup(of: (status: Int, detail: String).self) { group in
        for buyer in 0..<buyers {
            group.addTask {
                let node = nodes[buyer % nodes.count]
                let token = try node.token("buyer-\(party.prefix(8))-\(buyer)")
                let answer = try await node.send("POST", "/watch-parties/\(party)/purchase", token: token, json: ["ticket_id": ticket])
                return (answer.status, answer.json["detail"] as? String ?? "")
            }
        }
        var answers: [(status: Int, detail: String)] = []
        for try await answer in group { answers.append(answer) }
        return answers
    }
}

extension ServerProcess {
    /// The ids of the caller's sessions (`GET /user-sessions`).
    func sessions(_ token: String) async throws -> [String] {
        let listed = try await send("GET", "/user-sessions", token: token)
        return ((listed.json["data"] as? [[String: Any]]) ?? []).compactMap { $0["sessionId"] as? String }
    }
}

/// A fresh directory (readable by the `postgres` user, which a cluster in it runs as),
/// removed after `body`.
private func withTemporaryDirectoryBlocking(_ body: (String) throws -> Void) throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-readme-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

/// A value the load's tasks share.
private final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value { state.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { state.withLock { body(&$0) } }
}

/// Runs `executable` to completion. Its output goes through files, not pipes: a server it
/// starts (PostgreSQL) would inherit a pipe's write end and keep it open, and a read to the
/// pipe's end would never return.
private func command(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandOutput {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-command-\(UUID().uuidString)").path
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    try process.run()
    process.waitUntilExit()
    return CommandOutput(
        status: process.terminationStatus,
        stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    )
}
