import EventLog
import Foundation
import PlayheadCore
import PlayheadServer
import SocketIO
import Testing
import WatchDomain

/// Faults found in the gateway, each held to its right behaviour: a room the feed dropped
/// catches up from the log; members a stopped server left online are logged out at start;
/// two devices of one user joining at once each know their own join; refused messages do
/// not count against the rate; bad field types, oversized catch-ups and floods are refused.
@Suite("Watch-party gateway: faults found")
struct PartyGatewayFaultTests {
    typealias Client = PartyRoomEndToEndTests.Client

    @Test("a room the live feed drops (a burst past its capacity) reads what it missed from the log: every member hears every message, in log order")
    func roomCatchesUpAfterTheFeedDropsIt() async throws {
        // A room may hold one unread entry; short long-polls, so that a message that never
        // comes fails the test in seconds.
        let configure: (inout ServerConfiguration) -> Void = { configuration in
            configuration.partyRoomFeedCapacity = 1
            configuration.socketIO.pingInterval = .milliseconds(500)
        }
        try await TestServer.run(configure: configure) { server in
            let admin = try await server.token("root", admin: true)
            let users = (0..<8).map { "user\($0)" }
            let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: users)
            var clients: [Client] = []
            for (user, token) in zip(users, tokens) {
                var client = try await Client.connect(server, token: token)
                #expect(try await client.join(party, user, as: user).contains("\"ok\":true"))
                clients.append(client)
            }
            // Eight members send five messages each at once: batches of several entries
            // reach a room that may hold one unread.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        let packets = (0..<5).map {
                            "42/watch-party,\(10 + $0)[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"m\(index)-\($0)\"}]"
                        }
                        try await client.send(packets.joined(separator: "\u{1E}"))
                    }
                }
                try await group.waitForAll()
            }
            // The posts return once their packets are queued: the entries follow.
            var stored: [String] = []
            for _ in 0..<250 where stored.count < 40 {
                try await Task.sleep(for: .milliseconds(20))
                let log = try await server.send("GET", "/watch-parties/\(party)/logs?event_type=message&limit=100", token: admin)
                stored = (log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(stored.count == 40)
            var watcher = clients[0]
            var heard: [String] = []
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while heard.count < 40, ContinuousClock.now < deadline {
                let message = try await watcher.event("new_message")
                guard let id = message["id"] as? String else { break }
                heard.append(id)
            }
            #expect(heard == stored, "every message once, in log order")
            #expect(!watcher.received.contains { $0.contains("the room's feed ended") })
            let metrics = try await server.send("GET", "/metrics", token: admin)
            let recoveries = metrics.text.split(separator: "\n").first { $0.hasPrefix("playhead_party_room_recoveries_total") }
            #expect(
                recoveries.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true,
                "the feed did drop the room: \(String(describing: recoveries))"
            )
        }
    }

    @Test("members a server left online when it stopped without logging their leaves are logged out when it starts again")
    func ghostsLeaveAtStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-ghosts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = TestClock()
        var party = ""
        try await TestServer.run(store: directory, clock: clock) { server in
            let admin = try await server.token("root", admin: true)
            (party, _) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice"])
            // A join with no socket behind it: what a killed server leaves.
            let commands = WatchPartyCommands(runner: CommandRunner(store: server.store), clock: { clock.now })
            let partyId = try #require(UUID(uuidString: party))
            for _ in 0..<2 {
                _ = try await commands.log(
                    .init(userId: try UserID("alice"), eventType: .join, username: "Alice"),
                    in: partyId,
                    caller: Caller(userId: "alice"),
                    correlation: UUID()
                )
            }
            #expect(try await server.send("GET", "/watch-parties/\(party)", token: admin).json["participants_online"] as? Int == 1)
        }
        try await TestServer.run(store: directory, clock: clock) { server in
            let admin = try await server.token("root", admin: true)
            #expect(try await server.send("GET", "/watch-parties/\(party)", token: admin).json["participants_online"] as? Int == 0)
            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            #expect((log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String } == ["join", "join", "leave", "leave"])
        }
    }

    @Test("two devices of one user joining at once: neither is told of its own join as user_joined")
    func twoDevicesJoinAtOnce() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice"])
            for _ in 0..<5 {
                let first = try await Client.connect(server, token: tokens[0])
                let second = try await Client.connect(server, token: tokens[0])
                let packet = "42/watch-party,1[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"alice\",\"username\":\"Alice\"}]"
                async let a: Void = first.send(packet)
                async let b: Void = second.send(packet)
                _ = try await (a, b)
                var devices = [first, second]
                var ownIds: [String] = []
                for index in devices.indices {
                    let ack = try await devices[index].wait { $0.hasPrefix("43/watch-party,1[") }
                    let body = try #require(
                        try JSONSerialization.jsonObject(with: Data(ack.dropFirst("43/watch-party,1".count).utf8)) as? [[String: Any]]
                    )
                    ownIds.append(try #require((body.first?["entry"] as? [String: Any])?["id"] as? String))
                }
                for index in devices.indices {
                    _ = try await devices[index].event("sync_player")
                }
                // Whichever joined first may hear the other's join; neither hears its own.
                for index in devices.indices {
                    let joined = devices[index].received.filter { $0.contains("\"user_joined\"") }
                    #expect(!joined.contains { $0.contains(ownIds[index]) }, "device \(index) was told of its own join")
                }
                for index in devices.indices { try await devices[index].close() }
                // Both leaves are in before the next round.
                for _ in 0..<100 {
                    if try await server.send("GET", "/watch-parties/\(party)", token: admin).json["participants_online"] as? Int == 0 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    @Test(
        "refused messages and player actions do not use up the rate; a user id or name that is not a string is refused; a catch-up of over 1,000 entries is refused"
    )
    func refusals() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice"])
            var alice = try await Client.connect(server, token: tokens[0])
            try await alice.send("42/watch-party,1[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":42}]")
            #expect(try await alice.wait { $0.hasPrefix("43/watch-party,1[") }.contains("\"field\":\"userId\""))
            try await alice.send("42/watch-party,2[\"join_party\",{\"partyId\":\"\(party)\",\"username\":[\"A\"]}]")
            #expect(try await alice.wait { $0.hasPrefix("43/watch-party,2[") }.contains("\"field\":\"username\""))
            #expect(try await alice.join(party, "alice", as: "alice", ack: 3).contains("\"ok\":true"))
            let long = String(repeating: "x", count: 2_001)
            for ack in 4..<10 {
                try await alice.send("42/watch-party,\(ack)[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"\(long)\"}]")
                #expect(try await alice.wait { $0.hasPrefix("43/watch-party,\(ack)[") }.contains("\"code\":\"invalid\""))
            }
            try await alice.send("42/watch-party,10[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"short\"}]")
            #expect(try await alice.wait { $0.hasPrefix("43/watch-party,10[") }.contains("\"ok\":true"), "six refusals counted nothing")
            let first = try #require(try await alice.event("new_message")["id"] as? String)
            // Player actions refused by the log's rules (past the film's end) do not count either.
            for ack in 20..<32 {
                try await alice.send("42/watch-party,\(ack)[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":6000}]")
                #expect(try await alice.wait { $0.hasPrefix("43/watch-party,\(ack)[") }.contains("past the end of the movie"))
            }
            try await alice.send("42/watch-party,32[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"play\"}]")
            #expect(try await alice.wait { $0.hasPrefix("43/watch-party,32[") }.contains("\"ok\":true"), "twelve refusals counted nothing")
            // Over a thousand entries after `first`: a rejoin with it is refused; read the log instead.
            let commands = WatchPartyCommands(runner: CommandRunner(store: server.store), clock: { server.clock.now })
            let partyId = try #require(UUID(uuidString: party))
            for index in 0..<1_001 {
                _ = try await commands.log(
                    .init(userId: try UserID("alice"), eventType: .message, message: "n\(index)"),
                    in: partyId,
                    caller: Caller(userId: "root", isAdmin: true),
                    correlation: UUID()
                )
            }
            var back = try await Client.connect(server, token: tokens[0])
            try await back.send("42/watch-party,1[\"join_party\",{\"partyId\":\"\(party)\",\"lastEntryId\":\"\(first)\"}]")
            let refused = try await back.wait { $0.hasPrefix("43/watch-party,1[") }
            #expect(refused.contains("more than 1000 entries") && refused.contains("\"field\":\"lastEntryId\""), "\(refused)")
        }
    }

    @Test("a client that floods the server with more packets than it handles is closed, and what it queued is dropped")
    func flooding() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await PartyRoomEndToEndTests.party(server, admin: admin, users: ["alice"])
            var alice = try await Client.connect(server, token: tokens[0])
            #expect(try await alice.join(party, "alice", as: "alice").contains("\"ok\":true"))
            let flood = (0..<1_500).map { "42/watch-party,[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":\($0)}]" }
            let posted = try await server.send(
                "POST",
                "/socket.io/?EIO=4&transport=polling&sid=\(alice.sid)",
                rawBody: flood.joined(separator: "\u{1E}")
            )
            #expect(posted.status == 200 || posted.status == 400)
            var closed = false
            for _ in 0..<50 where !closed {
                let poll = try await server.send("GET", "/socket.io/?EIO=4&transport=polling&sid=\(alice.sid)")
                closed = poll.status == 400 || poll.text.split(separator: "\u{1E}").contains("1")
            }
            #expect(closed, "the flooding session is closed")
            let log = try await server.send("GET", "/watch-parties/\(party)/logs?event_type=seek&limit=1000", token: admin)
            #expect((log.json["data"] as? [[String: Any]] ?? []).count <= 10, "at most the rate's ten seeks: \(log.text.prefix(300))")
        }
    }
}
