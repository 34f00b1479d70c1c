import EventLog
import Foundation
import LMDBLog
import TestSupport
import Testing
import WatchDomain

/// The gateway's durability promise with a stock client: a message is acknowledged, and
/// delivered to anyone, only once it is in the log. python-socketio members chat while
/// `playhead serve` is killed with SIGKILL; every message any of them got an ack for or
/// received is in the party log afterwards. Needs `PLAYHEAD_SOCKETIO_PYTHON` (set by
/// `tools/test` and CI).
@Suite(
    "Watch-party gateway under SIGKILL",
    .serialized,
    .timeLimit(.minutes(5)),
    .enabled(if: ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"] != nil)
)
struct PartyGatewayCrashTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/socketio-chat-until-killed.py").path

    /// The whole lines the script printed (a line still being written is left out).
    struct Lines {
        let all: [String]
        init(_ text: String) {
            all = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        func ids(_ kind: String) -> Set<String> { Set(all.filter { $0.hasPrefix(kind + " ") }.map { String($0.dropFirst(kind.count + 1)) }) }
    }

    @Test("kill -9 while six members chat: every message acknowledged or received is in the party log after the restart")
    func killedWhileChatting() async throws {
        let python = try #require(ProcessInfo.processInfo.environment["PLAYHEAD_SOCKETIO_PYTHON"])
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let admin = try server.token("root", admin: true)
            let ticket = try await server.filmAndTicket(admin: admin, price: "1")
            let now = Timestamp.now().microsecondsSince1970
            let body: [String: Any] = [
                "movie_id": "film", "start_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 60_000_000)),
                "end_time": ISO8601Micros.format(Timestamp(microsecondsSince1970: now + 7_200_000_000)),
            ]
            let party = try #require(try await server.send("POST", "/watch-parties", token: admin, json: body).json["id"] as? String)
            var tokens: [String] = []
            for index in 0..<6 {
                let token = try server.token("member-\(index)")
                #expect(try await server.send("POST", "/watch-parties/\(party)/purchase", token: token, json: ["ticket_id": ticket]).status == 201)
                tokens.append(token)
            }

            let chat = Process()
            chat.executableURL = URL(fileURLWithPath: python)
            chat.arguments = [Self.script, "http://127.0.0.1:\(server.port)", party] + tokens
            let output = Pipe()
            let errors = Pipe()
            chat.standardOutput = output
            chat.standardError = errors
            try chat.run()
            let printed = PipeReader(output.fileHandleForReading)
            _ = PipeReader(errors.fileHandleForReading)

            // Killed in the middle of the chat: once members have had 20 acks (bounded: 20 s).
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(20))
            while Lines(printed.text).ids("acked").count < 20, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            server.stop(signal: SIGKILL)
            // Every member ends once its connection is gone (a call times out in 5 s at most).
            while chat.isRunning, clock.now < deadline.advanced(by: .seconds(15)) { try await Task.sleep(for: .milliseconds(50)) }
            if chat.isRunning { chat.terminate() }
            await printed.waitForEnd()
            let lines = Lines(printed.text)

            let acked = lines.ids("acked")
            let received = lines.ids("received")
            #expect(acked.count >= 20, "\(lines.all.suffix(20))")
            #expect(received.count >= acked.count, "each acknowledged message reached six members")
            #expect(lines.ids("joined").count == 6, "\(lines.all.filter { !$0.hasPrefix("acked") && !$0.hasPrefix("received") })")
            #expect(lines.ids("refused").isEmpty)

            let log = try LMDBEventLog(directory: store + "/log", mode: .readOnly)
            let events = try log.readStream("watch-party-log/\(party)", from: 1, limit: 100_000)
            await log.close()
            let messages = Set(
                try events.filter { $0.type == PartyLogged.eventType }.map { try PartyLogged.decode($0.payload) }
                    .filter { $0.eventType == .message }.map { $0.entryId.uuidString.lowercased() }
            )
            #expect(acked.subtracting(messages).isEmpty, "acknowledged and lost: \(acked.subtracting(messages))")
            #expect(received.subtracting(messages).isEmpty, "delivered and lost: \(received.subtracting(messages))")

            // Restarted, the server's read model holds them too.
            let restarted = try ServerProcess(store: store)
            let page = try await restarted.send("GET", "/watch-parties/\(party)/logs?event_type=message&limit=1000", token: admin)
            let stored = Set((page.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
            #expect(stored == messages, "\(page.json)")
            restarted.stop()
        }
    }
}
