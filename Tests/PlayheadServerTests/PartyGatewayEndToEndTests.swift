import EventLog
import Foundation
import PlayheadServer
import Testing
import WatchDomain

/// The Socket.IO gateway on the server's own port: who may connect to `/watch-party`,
/// spoken over Engine.IO long-polling as a stock client starts.
@Suite("Watch-party gateway: connecting")
struct PartyGatewayEndToEndTests {
    /// A new Engine.IO session (no token needed for it), its handshake read.
    func session(_ server: TestServer, headers: [String: String] = [:]) async throws -> String {
        let open = try await server.send("GET", "/socket.io/?EIO=4&transport=polling", headers: headers)
        #expect(open.status == 200 && open.text.hasPrefix("0"), "\(open.text)")
        let handshake = try #require(try JSONSerialization.jsonObject(with: Data(open.text.dropFirst().utf8)) as? [String: Any])
        return try #require(handshake["sid"] as? String)
    }

    /// Sends `packets` and returns what the next poll answers, without pings.
    func exchange(_ server: TestServer, _ sid: String, _ packets: String) async throws -> String {
        let posted = try await server.send("POST", "/socket.io/?EIO=4&transport=polling&sid=\(sid)", rawBody: packets)
        #expect(posted.status == 200 && posted.text == "ok", "\(posted.text)")
        var answer = ""
        while answer.isEmpty {
            let poll = try await server.send("GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)")
            #expect(poll.status == 200)
            answer = poll.text.split(separator: "\u{1E}").filter { $0 != "2" }.joined(separator: "\u{1E}")
        }
        return answer
    }

    @Test(
        "a token in the CONNECT auth or the handshake's Authorization header connects; none, a bad one or an expired one is a CONNECT_ERROR saying which"
    )
    func connect() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let sid = try await session(server)
            let accepted = try await exchange(server, sid, "40/watch-party,{\"token\":\"\(alice)\"}")
            #expect(accepted.hasPrefix("40/watch-party,{\"sid\":"), "\(accepted)")

            let header = try await session(server, headers: ["Authorization": "Bearer \(alice)"])
            #expect(try await exchange(server, header, "40/watch-party,").hasPrefix("40/watch-party,{\"sid\":"))

            let expired = try await server.authority.token(
                userId: "alice",
                admin: false,
                lifetime: .seconds(60),
                now: Date(timeIntervalSinceNow: -3_600)
            )
            let refusals: [(String, String)] = [
                ("40/watch-party,", "a bearer token is required"),
                ("40/watch-party,{\"token\":\"abc\"}", "the bearer token is not valid"),
                ("40/watch-party,{\"token\":\"\(expired)\"}", "the bearer token has expired"),
                ("40/watch-party,{\"token\":7}", "auth.token must be a bearer token (a string)"),
            ]
            for (packet, message) in refusals {
                let answer = try await exchange(server, try await session(server), packet)
                #expect(answer.hasPrefix("44/watch-party,{\"message\":\"\(message)"), "\(packet): \(answer)")
            }
            let unknown = try await exchange(server, try await session(server), "40")
            #expect(unknown == "44{\"message\":\"Invalid namespace\"}")
        }
    }

    @Test("an unknown event is refused in its ack, naming it; time_sync answers the server's clock")
    func unknownEvents() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let sid = try await session(server)
            _ = try await exchange(server, sid, "40/watch-party,{\"token\":\"\(alice)\"}")
            let answer = try await exchange(server, sid, "42/watch-party,7[\"dance\",{}]")
            #expect(answer == "43/watch-party,7[{\"error\":\"unknown event dance\",\"code\":\"invalid\",\"field\":\"event\"}]")
            #expect(
                try await server.send("GET", "/socket.io/?EIO=3&transport=polling").status == 400,
                "the Engine.IO rules hold on the server's port"
            )
            let synced = try await exchange(server, sid, "42/watch-party,8[\"time_sync\",{\"clientTime\":1234}]")
            let millis = server.clock.now.microsecondsSince1970 / 1_000
            let time = ISO8601Micros.format(server.clock.now)
            #expect(synced == "43/watch-party,8[{\"serverTime\":\"\(time)\",\"serverTimeMillis\":\(millis),\"clientTime\":1234}]", "\(synced)")
        }
    }
}

/// The party room over the gateway: two members, their joins, a message, a player action
/// and a leave, each durable before anyone hears of it, heard by both.
@Suite("Watch-party gateway: the room")
struct PartyRoomEndToEndTests {
    /// A connected `/watch-party` client over long-polling, collecting what it receives.
    struct Client {
        let server: TestServer
        let sid: String
        var received: [String] = []

        static func connect(_ server: TestServer, token: String) async throws -> Client {
            let open = try await server.send("GET", "/socket.io/?EIO=4&transport=polling")
            let handshake = try #require(try JSONSerialization.jsonObject(with: Data(open.text.dropFirst().utf8)) as? [String: Any])
            var client = Client(server: server, sid: try #require(handshake["sid"] as? String))
            try await client.send("40/watch-party,{\"token\":\"\(token)\"}")
            try await client.wait { $0.hasPrefix("40/watch-party,") }
            return client
        }

        func send(_ packets: String) async throws {
            let posted = try await server.send("POST", "/socket.io/?EIO=4&transport=polling&sid=\(sid)", rawBody: packets)
            #expect(posted.status == 200, "\(posted.text)")
        }

        /// Polls until a received packet satisfies `match`; returns it (answering pings).
        @discardableResult
        mutating func wait(_ match: (String) -> Bool) async throws -> String {
            for _ in 0..<200 {
                if let index = received.firstIndex(where: match) { return received.remove(at: index) }
                let poll = try await server.send("GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)")
                #expect(poll.status == 200)
                for packet in poll.text.split(separator: "\u{1E}").map(String.init) {
                    if packet == "2" { try await send("3") } else { received.append(packet) }
                }
            }
            Issue.record("no packet matched; received \(received)")
            return ""
        }

        /// The event `name`'s first argument, once it arrives.
        mutating func event(_ name: String, where condition: ([String: Any]) -> Bool = { _ in true }) async throws -> [String: Any] {
            var found: [String: Any] = [:]
            _ = try await wait { packet in
                guard packet.hasPrefix("42/watch-party,"),
                    let array = try? JSONSerialization.jsonObject(with: Data(packet.dropFirst("42/watch-party,".count).utf8)) as? [Any],
                    array.first as? String == name
                else { return false }
                let argument = array.count > 1 ? (array[1] as? [String: Any] ?? ["value": array[1]]) : [:]
                guard condition(argument) else { return false }
                found = argument
                return true
            }
            return found
        }

        /// The next `count` events, in the order they arrived (other packets are kept).
        mutating func nextEvents(_ count: Int) async throws -> [(name: String, argument: [String: Any])] {
            var events: [(name: String, argument: [String: Any])] = []
            while events.count < count {
                let packet = try await wait { $0.hasPrefix("42/watch-party,") }
                guard !packet.isEmpty else { break }
                let array = try #require(try JSONSerialization.jsonObject(with: Data(packet.dropFirst("42/watch-party,".count).utf8)) as? [Any])
                let argument = array.count > 1 ? (array[1] as? [String: Any] ?? ["value": array[1]]) : [:]
                events.append((try #require(array.first as? String), argument))
            }
            return events
        }

        /// Joins `party` as `user` named `username` with ack id `ack`; returns the ack packet.
        @discardableResult
        mutating func join(_ party: String, _ user: String, as username: String, ack: Int = 1) async throws -> String {
            try await send("42/watch-party,\(ack)[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"\(user)\",\"username\":\"\(username)\"}]")
            return try await wait { $0.hasPrefix("43/watch-party,\(ack)[") }
        }

        /// Closes the Engine.IO session, as a client that goes away does.
        func close() async throws { try await send("1") }
    }

    /// A party starting a minute after the server's clock, with tickets bought for `users`.
    static func party(_ server: TestServer, admin: String, users: [String]) async throws -> (party: String, tokens: [String]) {
        #expect(try await server.send("PUT", "/videos/film", token: admin, json: ["duration": 5_400]).status == 200)
        let start = ISO8601Micros.format(Timestamp(microsecondsSince1970: server.clock.now.microsecondsSince1970 + 60_000_000))
        let end = ISO8601Micros.format(Timestamp(microsecondsSince1970: server.clock.now.microsecondsSince1970 + 7_200_000_000))
        let party = try #require(
            try await server.send("POST", "/watch-parties", token: admin, json: ["movie_id": "film", "start_time": start, "end_time": end])
                .json["id"] as? String
        )
        let ticket = try #require(
            try await server.send("POST", "/tickets", token: admin, json: ["name": "Seat", "price": ["amount": "1", "currency": "EUR"]]).json["id"]
                as? String
        )
        var tokens: [String] = []
        for user in users {
            let token = try await server.token(user)
            #expect(try await server.send("POST", "/watch-parties/\(party)/purchase", token: token, json: ["ticket_id": ticket]).status == 201)
            tokens.append(token)
        }
        return (party, tokens)
    }

    @Test("a late joiner gets the film's position extrapolated to now; player_status is answered by a sync_hint by the two thresholds")
    func lateJoinAndDriftHints() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin, users: ["alice", "bob"])
            var alice = try await Client.connect(server, token: tokens[0])
            try await alice.join(party, "alice", as: "Alice")
            server.clock.advance(.seconds(61))
            try await alice.send("42/watch-party,2[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":100}]")
            let seek = try await alice.wait { $0.hasPrefix("43/watch-party,2[") }
            #expect(seek.contains("\"playing\":true"), "the film plays from the start, and a seek keeps it playing: \(seek)")
            server.clock.advance(.seconds(30))

            var bob = try await Client.connect(server, token: tokens[1])
            try await bob.send("42/watch-party,1[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"bob\",\"username\":\"Bob\"}]")
            let welcome = try await bob.nextEvents(2)
            #expect(welcome.map(\.name) == ["participant_list", "sync_player"])
            #expect(welcome.last?.argument["videoTime"] as? Double == 130 && welcome.last?.argument["playing"] as? Bool == true, "\(welcome)")

            func status(_ id: Int, _ fields: String) async throws -> [String: Any] {
                try await bob.send("42/watch-party,\(id)[\"player_status\",{\"partyId\":\"\(party)\",\(fields)}]")
                let ack = try await bob.wait { $0.hasPrefix("43/watch-party,\(id)[") }
                let hint = try await bob.event("sync_hint")
                let acked = try #require(
                    try JSONSerialization.jsonObject(with: Data(ack.dropFirst("43/watch-party,\(id)".count).utf8)) as? [[String: Any]]
                )
                #expect(acked.first?["action"] as? String == hint["action"] as? String, "the ack and the event agree")
                return hint
            }
            #expect(try await status(10, "\"videoTime\":130.05")["action"] as? String == "none")
            let slower = try await status(11, "\"videoTime\":131")
            #expect(slower["action"] as? String == "adjust_rate" && slower["playbackRate"] as? Double == 0.9 && slower["duration"] as? Double == 10)
            #expect(slower["drift"] as? Double == 1 && slower["videoTime"] as? Double == 130)
            #expect(try await status(12, "\"videoTime\":129.5")["playbackRate"] as? Double == 1.05)
            let far = try await status(13, "\"videoTime\":140")
            #expect(far["action"] as? String == "seek" && far["videoTime"] as? Double == 130)
            #expect(try await status(14, "\"videoTime\":10,\"buffering\":true")["action"] as? String == "wait")

            try await alice.send("42/watch-party,3[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"pause\"}]")
            _ = try await bob.event("sync_player") { $0["action"] as? String == "pause" }
            #expect(try await status(15, "\"videoTime\":130.5")["action"] as? String == "seek", "paused: a rate moves nothing")

            // Bad reports are refused in the ack, and nothing is logged for any report.
            try await bob.send("42/watch-party,16[\"player_status\",{\"partyId\":\"\(party)\",\"videoTime\":-1}]")
            #expect(try await bob.wait { $0.hasPrefix("43/watch-party,16[") }.contains("\"field\":\"videoTime\""))
            try await bob.send("42/watch-party,17[\"player_status\",{\"partyId\":\"\(party)\",\"videoTime\":1,\"buffering\":\"yes\"}]")
            #expect(try await bob.wait { $0.hasPrefix("43/watch-party,17[") }.contains("\"field\":\"buffering\""))
            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            let types = (log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String }
            #expect(types == ["join", "seek", "join", "pause"], "\(log.text)")
        }
    }

    @Test("a member who reconnects with the last entry it saw gets what it missed from the log, then live entries: no gap, no duplicate")
    func catchUpAfterReconnect() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin, users: ["alice", "bob"])
            var alice = try await Client.connect(server, token: tokens[0])
            try await alice.join(party, "alice", as: "Alice")
            var bob = try await Client.connect(server, token: tokens[1])
            try await bob.join(party, "bob", as: "Bob")
            try await alice.send("42/watch-party,2[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"one\"}]")
            let seen = try await bob.event("new_message") { $0["message"] as? String == "one" }
            let lastSeen = try #require(seen["id"] as? String)

            // Bob's connection drops; the room goes on without him.
            try await bob.close()
            _ = try await alice.event("user_left") { $0["userId"] as? String == "bob" }
            for (index, text) in ["two", "three"].enumerated() {
                try await alice.send("42/watch-party,\(3 + index)[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"\(text)\"}]")
                _ = try await alice.wait { $0.hasPrefix("43/watch-party,\(3 + index)[") }
            }
            try await alice.send("42/watch-party,5[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":7}]")
            _ = try await alice.wait { $0.hasPrefix("43/watch-party,5[") }

            // A wrong lastEntryId is refused before anything is appended.
            var back = try await Client.connect(server, token: tokens[1])
            try await back.send("42/watch-party,1[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"bob\",\"lastEntryId\":\"nope\"}]")
            #expect(try await back.wait { $0.hasPrefix("43/watch-party,1[") }.contains("\"field\":\"lastEntryId\""))
            try await back.send("42/watch-party,2[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"bob\",\"lastEntryId\":\"\(UUID())\"}]")
            let unknown = try await back.wait { $0.hasPrefix("43/watch-party,2[") }
            #expect(unknown.contains("\"code\":\"not found\"") && unknown.contains("\"field\":\"lastEntryId\""), "\(unknown)")

            try await back.send(
                "42/watch-party,3[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"bob\",\"username\":\"Bob\",\"lastEntryId\":\"\(lastSeen)\"}]"
            )
            _ = try await back.wait { $0.hasPrefix("43/watch-party,3[") }
            try await alice.send("42/watch-party,6[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"four\"}]")
            let events = try await back.nextEvents(8)
            #expect(
                events.map(\.name) == [
                    "user_left", "participant_list", "new_message", "new_message", "sync_player", "participant_list", "sync_player", "new_message",
                ],
                "told as they were live (a leave with the list after it), then the welcome, then live: \(events)"
            )
            #expect(events.compactMap { $0.argument["message"] as? String } == ["two", "three", "four"])
            #expect(events[0].argument["userId"] as? String == "bob", "his own connection's leave, which he did not see")
            #expect(events[4].argument["videoTime"] as? Double == 7 && events[6].argument["videoTime"] as? Double == 7)
            let missedList = events[1].argument["participants"] as? [[String: Any]]
            #expect(missedList?.compactMap { $0["userId"] as? String } == ["alice"], "who was online after his old connection left")

            // The catch-up is what the log holds between the two: the same ids, in order.
            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            let entries = log.json["data"] as? [[String: Any]] ?? []
            let ids = entries.compactMap { $0["id"] as? String }
            let from = try #require(ids.firstIndex(of: lastSeen))
            let caughtUp = events.prefix(5).compactMap { $0.argument["id"] as? String }
            #expect(caughtUp == Array(ids[(from + 1)...].prefix(4)))
            #expect(events[6].argument["id"] == nil, "the welcome's film state is no entry")
            #expect(
                entries.compactMap { $0["event_type"] as? String } == [
                    "join", "join", "message", "leave", "message", "message", "seek", "join", "message",
                ]
            )
        }
    }

    @Test("join, chat, player sync and leave reach every member from the log, in order, acknowledged once durable")
    func room() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let (party, tokens) = try await Self.party(server, admin: admin, users: ["alice", "bob"])
            let (aliceToken, bobToken) = (tokens[0], tokens[1])
            let carolToken = try await server.token("carol")

            var alice = try await Client.connect(server, token: aliceToken)
            let joined = try await alice.join(party, "alice", as: "Alice")
            #expect(joined.contains("\"ok\":true") && joined.contains("\"event_type\":\"join\""), "\(joined)")
            let sync = try await alice.event("sync_player")
            #expect(sync["playing"] as? Bool == false && sync["videoTime"] as? Double == 0, "the lobby: paused at 0")

            var bob = try await Client.connect(server, token: bobToken)
            try await bob.join(party, "bob", as: "Bob")
            let bobJoined = try await alice.event("user_joined")
            #expect(bobJoined["userId"] as? String == "bob" && bobJoined["username"] as? String == "Bob")
            let list = try await alice.event("participant_list") { ($0["participants"] as? [[String: Any]])?.count == 2 }
            #expect((list["participants"] as? [[String: Any]])?.compactMap { $0["userId"] as? String } == ["alice", "bob"])
            #expect(list["partyId"] as? String == party)

            try await alice.send("42/watch-party,2[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"hi bob\"}]")
            let acked = try await alice.wait { $0.hasPrefix("43/watch-party,2[") }
            #expect(acked.contains("\"message\":\"hi bob\""), "\(acked)")
            for var member in [alice, bob] {
                let message = try await member.event("new_message")
                #expect(
                    message["message"] as? String == "hi bob" && message["userId"] as? String == "alice" && message["username"] as? String == "Alice"
                )
                #expect(
                    message["event_time"] is Double && message["video_time"] is Double && message["real_time"] is String && message["id"] is String
                )
            }

            try await bob.send("42/watch-party,3[\"player_action\",{\"partyId\":\"\(party)\",\"action\":\"seek\",\"videoTime\":12.5}]")
            let synced = try await alice.event("sync_player") { $0["action"] as? String == "seek" }
            #expect(synced["videoTime"] as? Double == 12.5 && synced["userId"] as? String == "bob")

            // Refusals, in the ack: no ticket, an unknown event, a message before joining.
            var carol = try await Client.connect(server, token: carolToken)
            try await carol.send("42/watch-party,4[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"carol\",\"username\":\"Carol\"}]")
            let refused = try await carol.wait { $0.hasPrefix("43/watch-party,4[") }
            #expect(refused.contains("\"code\":\"forbidden\""), "\(refused)")
            try await carol.send("42/watch-party,5[\"send_message\",{\"partyId\":\"\(party)\",\"message\":\"hello?\"}]")
            #expect(try await carol.wait { $0.hasPrefix("43/watch-party,5[") }.contains("join the watch party first"))
            try await carol.send("42/watch-party,6[\"join_party\",{\"partyId\":\"\(party)\",\"userId\":\"alice\"}]")
            #expect(try await carol.wait { $0.hasPrefix("43/watch-party,6[") }.contains("\"field\":\"userId\""), "acting as someone else")

            try await bob.send("42/watch-party,7[\"leave_party\",{\"partyId\":\"\(party)\"}]")
            _ = try await bob.wait { $0.hasPrefix("43/watch-party,7[") }
            let left = try await alice.event("user_left")
            #expect(left["userId"] as? String == "bob")

            // Everything above is in the party log, durable, in the order members heard it.
            let log = try await server.send("GET", "/watch-parties/\(party)/logs", token: admin)
            let types = (log.json["data"] as? [[String: Any]] ?? []).compactMap { $0["event_type"] as? String }
            #expect(types == ["join", "join", "message", "seek", "leave"], "\(log.text)")
        }
    }
}
