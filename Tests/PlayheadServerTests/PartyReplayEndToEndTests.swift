import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import WatchDomain

/// Replay of a finished party over REST and over the socket, against the running server.
@Suite("Watch-party replay")
struct PartyReplayEndToEndTests {
    typealias Client = PartyRoomEndToEndTests.Client

    /// A party of alice and bob: alice joins and chats in the lobby, the film starts, bob
    /// joins, alice seeks to 100 s, bob chats; the clock then stands 61 s past the start.
    static func party(_ server: TestServer, admin: String) async throws -> (party: String, tokens: [String]) {
        let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice", "bob"])
        var alice = try await Client.connect(server, token: tokens[0])
        try await alice.join(party, "alice", as: "Alice")
        try await alice.send("42/watch-party,2[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"one\"}]")
        _ = try await alice.wait { $0.hasPrefix("43/watch-party,2[") }
        server.clock.advance(.seconds(61))
        var bob = try await Client.connect(server, token: tokens[1])
        try await bob.join(party, "bob", as: "Bob")
        try await alice.send("42/watch-party,3[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":100}]")
        _ = try await alice.wait { $0.hasPrefix("43/watch-party,3[") }
        try await bob.send("42/watch-party,2[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"two\"}]")
        _ = try await bob.wait { $0.hasPrefix("43/watch-party,2[") }
        return (party, tokens)
    }

    @Test("GET /watch-parties/{id}/replay: the timeline as JSON or NDJSON, windows of event and video time, and who may read it when")
    func rest() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin)
            let early = try await server.send("GET", "/watch-parties/\(party)/replay", token: tokens[0])
            #expect(early.status == 409, "\(early.text)")
            #expect((early.json["detail"] as? String)?.contains("once it has finished") == true)
            let running = try await server.send("GET", "/watch-parties/\(party)/replay", token: admin)
            #expect(running.status == 200, "an administrator may replay a party that is still on")

            server.clock.advance(.seconds(7_200))
            let replay = try await server.send("GET", "/watch-parties/\(party)/replay", token: tokens[0])
            #expect(replay.status == 200 && replay.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(replay.json["watch_party_id"] as? String == party && replay.json["movie_id"] as? String == "film")
            let items = replay.json["data"] as? [[String: Any]] ?? []
            #expect(items.compactMap { $0["event_type"] as? String } == ["join", "message", "join", "seek", "message"], "\(replay.text)")
            #expect(items.compactMap { $0["username"] as? String } == ["Alice", "Alice", "Bob", "Alice", "Bob"])
            #expect(items.compactMap { $0["participants_online"] as? Int } == [1, 2], "after each join")
            #expect(items.last?["video_time"] as? Double == 100 && items.last?["playing"] as? Bool == true)
            #expect((items[1]["content"] as? [String: Any])?["message"] as? String == "one" && items[1]["event_time"] as? Double == -60)

            // The same items, one per line.
            let lines = try await server.send("GET", "/watch-parties/\(party)/replay", token: tokens[0], headers: ["Accept": "application/x-ndjson"])
            #expect(lines.header("Content-Type") == "application/x-ndjson")
            // Weights count: NDJSON refused (q=0) or outweighed is JSON.
            for (accept, type) in [
                ("application/json;q=1, application/x-ndjson;q=0", "application/json; charset=utf-8"),
                ("application/x-ndjson;q=0.5, application/json", "application/json; charset=utf-8"),
                ("application/json;q=0.5, application/x-ndjson", "application/x-ndjson"),
                ("*/*", "application/json; charset=utf-8"),
                ("application/x-ndjson, application/json", "application/x-ndjson"),
                // The most specific range decides each type's weight, not the largest.
                ("application/x-ndjson;q=0.8, application/json;q=0.5, */*;q=0.9", "application/x-ndjson"),
                ("application/x-ndjson;q=0.5, */*;q=0.9", "application/json; charset=utf-8"),
                ("application/*;q=0.2, application/json;q=0.1", "application/x-ndjson"),
                ("application/x-ndjson;q=0, */*", "application/json; charset=utf-8"),
                ("text/html", "application/json; charset=utf-8"),
                // Quoted parameter values separate nothing; a q that is not a qvalue drops its range.
                ("application/json;foo=\"a,application/x-ndjson,b\"", "application/json; charset=utf-8"),
                ("application/json;foo=\"x;q=0\", application/x-ndjson;q=0.5", "application/json; charset=utf-8"),
                ("application/x-ndjson, application/json;q=nan", "application/x-ndjson"),
                ("application/x-ndjson;q=0.5, application/json;q=2", "application/x-ndjson"),
            ] {
                let answer = try await server.send("GET", "/watch-parties/\(party)/replay", token: tokens[0], headers: ["Accept": accept])
                #expect(answer.header("Content-Type") == type, "Accept: \(accept)")
                #expect(answer.header("Vary") == "Accept")
            }
            let parsed = lines.text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(parsed.compactMap { $0["id"] as? String } == items.compactMap { $0["id"] as? String })

            func types(_ query: String) async throws -> [String] {
                let answer = try await server.send("GET", "/watch-parties/\(party)/replay?\(query)", token: tokens[0])
                #expect(answer.status == 200, "\(query): \(answer.text)")
                return (answer.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String }
            }
            #expect(try await types("from=0") == ["join", "seek", "message"])
            #expect(try await types("from=-60&to=0") == ["join", "message"])
            #expect(try await types("video_from=100") == ["seek", "message"], "after the seek, the film was at 100 s")
            #expect(try await types("video_to=1") == ["join", "message"], "bob joined at 1 s of the film")
            #expect(try await types("video_to=1.001") == ["join", "message", "join"])

            for (query, field) in [
                ("from=soon", "from"), ("from=5&to=5", "to"), ("video_from=-1", "video_from"), ("video_from=9&video_to=2", "video_to"),
            ] {
                let refused = try await server.send("GET", "/watch-parties/\(party)/replay?\(query)", token: tokens[0])
                #expect(refused.status == 400 && refused.json["field"] as? String == field, "\(query): \(refused.text)")
            }
            let carol = try await server.token("carol")
            #expect(try await server.send("GET", "/watch-parties/\(party)/replay", token: carol).status == 403)
            #expect(try await server.send("GET", "/watch-parties/\(UUID())/replay", token: admin).status == 404)
        }
    }

    @Test("replay_party re-emits the party's events to that client alone, marked, paced by speed, steered by replay_control")
    func socket() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin)
            var viewer = try await Client.connect(server, token: tokens[0])
            try await viewer.send("42/watch-party,1[\"replay_party\",{\"partyId\":\"\(party)\"}]")
            #expect(try await viewer.wait { $0.hasPrefix("43/watch-party,1[") }.contains("once it has finished"))
            try await viewer.send("42/watch-party,2[\"replay_control\",{\"action\":\"pause\"}]")
            #expect(try await viewer.wait { $0.hasPrefix("43/watch-party,2[") }.contains("no replay is running"))
            server.clock.advance(.seconds(7_200))
            try await viewer.send("42/watch-party,3[\"replay_party\",{\"partyId\":\"\(party)\",\"speed\":0}]")
            #expect(try await viewer.wait { $0.hasPrefix("43/watch-party,3[") }.contains("\"field\":\"speed\""))

            // At speed 1 the lobby's two entries come at once, then 61 s of quiet: the client
            // speeds it up, and the rest follows.
            try await viewer.send("42/watch-party,4[\"replay_party\",{\"partyId\":\"\(party)\",\"speed\":1}]")
            #expect(try await viewer.wait { $0.hasPrefix("43/watch-party,4[") }.contains("\"ok\":true"))
            let lobby = try await viewer.nextEvents(3)
            #expect(lobby.map(\.name) == ["user_joined", "participant_list", "new_message"])
            #expect(lobby.allSatisfy { $0.argument["replayed"] as? Bool == true }, "\(lobby)")
            try await viewer.send("42/watch-party,5[\"replay_control\",{\"action\":\"speed\",\"speed\":10000}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,5[") }
            let rest = try await viewer.nextEvents(5)
            #expect(rest.map(\.name) == ["user_joined", "participant_list", "sync_player", "new_message", "replay_finished"], "\(rest)")
            #expect((rest[1].argument["participants"] as? [[String: Any]])?.compactMap { $0["username"] as? String } == ["Alice", "Bob"])
            #expect(rest[2].argument["videoTime"] as? Double == 100 && rest[3].argument["message"] as? String == "two")

            // A seek goes back: from the start of the film, bob's join and what followed again.
            try await viewer.send("42/watch-party,6[\"replay_party\",{\"partyId\":\"\(party)\",\"speed\":10000,\"from\":0}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,6[") }
            let again = try await viewer.nextEvents(5)
            #expect(again.map(\.name) == ["user_joined", "participant_list", "sync_player", "new_message", "replay_finished"], "\(again)")
            try await viewer.send("42/watch-party,7[\"replay_control\",{\"action\":\"rewind\"}]")
            #expect(try await viewer.wait { $0.hasPrefix("43/watch-party,7[") }.contains("no replay is running"), "it has finished")
        }
    }

    @Test("a paused replay sends nothing, not even at a seek's point, until it resumes")
    func pausedSeek() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin)
            server.clock.advance(.seconds(7_200))
            var viewer = try await Client.connect(server, token: tokens[0])
            try await viewer.send("42/watch-party,1[\"replay_party\",{\"partyId\":\"\(party)\",\"speed\":1,\"from\":-60}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,1[") }
            #expect(try await viewer.nextEvents(3).map(\.name) == ["user_joined", "participant_list", "new_message"])
            try await viewer.send("42/watch-party,2[\"replay_control\",{\"action\":\"pause\"}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,2[") }
            // Bob joined 1 s after the start: the seek lands on his join.
            try await viewer.send("42/watch-party,3[\"replay_control\",{\"action\":\"seek\",\"to\":1}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,3[") }
            try await Task.sleep(for: .milliseconds(300))
            try await viewer.send("42/watch-party,4[\"replay_control\",{\"action\":\"speed\",\"speed\":10000}]")
            _ = try await viewer.wait { $0.hasPrefix("43/watch-party,4[") }
            #expect(!viewer.received.contains { $0.hasPrefix("42/watch-party,") }, "sent while paused: \(viewer.received)")
            try await viewer.send("42/watch-party,5[\"replay_control\",{\"action\":\"resume\"}]")
            let rest = try await viewer.nextEvents(5)
            #expect(rest.map(\.name) == ["user_joined", "participant_list", "sync_player", "new_message", "replay_finished"], "\(rest)")
        }
    }

    @Test("a replay faster than its client reads waits for it: all of a 5,000-entry burst arrives, and the client stays connected")
    func backpressure() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin)
            let partyId = try #require(UUID(uuidString: party))
            // 5,000 messages in one append, all at the same instant: due at once in a replay.
            let burst = (0..<5_000).map { index in
                PartyLogged(entryId: UUID(), partyId: partyId, userId: "alice", eventType: .message, message: "burst \(index)").proposed(
                    actor: "alice"
                )
            }
            _ = try await server.store.log.append(AppendRequest(events: burst))
            server.clock.advance(.seconds(7_200))
            var viewer = try await Client.connect(server, token: tokens[0])
            try await viewer.send("42/watch-party,1[\"replay_party\",{\"partyId\":\"\(party)\",\"speed\":10000}]")
            // Not read for a while: the server would drop a client with 4,096 packets waiting.
            try await Task.sleep(for: .seconds(2))
            var messages = 0
            var finished = false
            while !finished {
                let event = try await viewer.nextEvents(1)
                guard let name = event.first?.name else { break }
                if name == "new_message" { messages += 1 }
                finished = name == "replay_finished"
            }
            #expect(finished && messages == 5_002, "the fixture's two messages and the burst")
        }
    }
}
