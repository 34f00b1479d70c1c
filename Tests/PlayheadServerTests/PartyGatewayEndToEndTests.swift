import Foundation
import PlayheadServer
import Testing

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

    @Test("the room's events are not served yet: an event is answered as unknown, in its ack")
    func unknownEvents() async throws {
        try await TestServer.run { server in
            let alice = try await server.token("alice")
            let sid = try await session(server)
            _ = try await exchange(server, sid, "40/watch-party,{\"token\":\"\(alice)\"}")
            let answer = try await exchange(server, sid, "42/watch-party,7[\"dance\",{}]")
            #expect(answer == "43/watch-party,7[{\"error\":\"unknown event dance\"}]")
            #expect(
                try await server.send("GET", "/socket.io/?EIO=3&transport=polling").status == 400,
                "the Engine.IO rules hold on the server's port"
            )
        }
    }
}
