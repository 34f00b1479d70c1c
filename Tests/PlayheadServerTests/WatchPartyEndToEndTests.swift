import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Testing
import WatchDomain

/// The watch-party routes on the real server: every route, its bodies in snake_case, and
/// each refusal with its status and field.
@Suite("Watch parties end to end")
struct WatchPartyEndToEndTests {
    /// An ISO 8601 time `seconds` from the server's clock.
    func at(_ server: TestServer, _ seconds: Int64) -> String {
        ISO8601Micros.format(Timestamp(microsecondsSince1970: server.clock.now.microsecondsSince1970 + seconds * 1_000_000))
    }

    /// Registers the movie `film` (90 minutes) and schedules a party of it.
    func schedule(
        _ server: TestServer,
        _ admin: String,
        start: Int64 = 3_600,
        end: Int64 = 9_000,
        extra: [String: Any] = [:]
    ) async throws -> [String: Any] {
        let video = try await server.send("PUT", "/videos/film", token: admin, json: ["duration": 5_400, "title": "Film"])
        #expect(video.status == 200, "\(video.text)")
        var body: [String: Any] = ["movie_id": "film", "start_time": at(server, start), "end_time": at(server, end)]
        body.merge(extra) { $1 }
        let reply = try await server.send("POST", "/watch-parties", token: admin, json: body)
        #expect(reply.status == 201, "\(reply.text)")
        return reply.json
    }

    func ticket(_ server: TestServer, _ admin: String) async throws -> String {
        let reply = try await server.send(
            "POST",
            "/tickets",
            token: admin,
            json: ["name": "Standard", "price": ["amount": "12.50", "currency": "EUR"], "description": "One seat"]
        )
        #expect(reply.status == 201, "\(reply.text)")
        return try #require(reply.json["id"] as? String)
    }

    @Test("scheduling a party: the spec's body and answer, defaults, and each refusal")
    func createParty() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let party = try await schedule(server, admin)
            #expect(party["movie_id"] as? String == "film")
            #expect(party["is_featured"] as? Bool == false)
            #expect(party["max_participants"] as? Int == 100)
            #expect(party["status"] as? String == "upcoming")
            #expect(party["tickets_sold"] as? Int == 0 && party["participants_online"] as? Int == 0)
            #expect(party["movie_duration"] as? Double == 5_400)
            for key in ["id", "start_time", "end_time", "created_at", "updated_at"] { #expect(party[key] is String, "\(key)") }

            let base: [String: Any] = ["movie_id": "film", "start_time": at(server, 60), "end_time": at(server, 120)]
            let cases: [([String: Any], Int, String)] = [
                (base.filter { $0.key != "movie_id" }, 400, "movie_id"),
                (base.merging(["start_time": "tomorrow"]) { $1 }, 400, "start_time"),
                (base.merging(["end_time": at(server, 30)]) { $1 }, 400, "end_time"),
                (base.merging(["movie_id": "unknown"]) { $1 }, 400, "movie_id"),
                (base.merging(["max_participants": 0]) { $1 }, 400, "max_participants"),
                (base.merging(["max_participants": -5]) { $1 }, 400, "max_participants"),
                (base.merging(["max_participants": "ten"]) { $1 }, 400, "max_participants"),
                (base.merging(["is_featured": "yes"]) { $1 }, 400, "is_featured"),
            ]
            for (body, status, field) in cases {
                let reply = try await server.send("POST", "/watch-parties", token: admin, json: body)
                #expect(reply.status == status, "\(body): \(reply.text)")
                #expect(reply.json["field"] as? String == field, "\(body): \(reply.text)")
            }
            #expect(try await server.send("POST", "/watch-parties", token: alice, json: base).status == 403)
            #expect(try await server.send("POST", "/watch-parties", json: base).status == 401)
            #expect(try await server.send("POST", "/watch-parties", token: admin, rawBody: "{").status == 400)
            for body in ["[]", "null", "\"text\"", "[1,2]"] {
                let reply = try await server.send(
                    "POST",
                    "/watch-parties",
                    token: admin,
                    rawBody: body,
                    headers: ["Content-Type": "application/json"]
                )
                #expect(reply.status == 400 && reply.json["field"] as? String == "body", "\(body): \(reply.text)")
                #expect(reply.json["detail"] as? String == "the body must be a JSON object", "\(body)")
            }
            let leap = try await server.send(
                "POST",
                "/watch-parties",
                token: admin,
                json: base.merging(["start_time": "2027-06-30T23:59:60Z"]) { $1 }
            )
            #expect(leap.status == 400 && leap.json["field"] as? String == "start_time", "a 60th second is no time here: \(leap.text)")
            let far = try await server.send("POST", "/watch-parties", token: admin, json: base.merging(["end_time": "9999-12-31T12:00:00Z"]) { $1 })
            #expect(far.json["detail"] as? String == "end_time must be from 0001-01-01 to before 9999-12-31", "\(far.text)")
        }
    }

    @Test("listing and reading parties: status from the clock, filters, paging, 404 and 400")
    func listParties() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let soon = try await schedule(server, admin, start: 60, end: 600, extra: ["is_featured": true])
            let later = try await schedule(server, admin, start: 7_200, end: 9_000)
            let soonId = try #require(soon["id"] as? String)
            let laterId = try #require(later["id"] as? String)

            func ids(_ query: String) async throws -> [String] {
                let reply = try await server.send("GET", "/watch-parties\(query)", token: alice)
                #expect(reply.status == 200, "\(query): \(reply.text)")
                return (reply.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await ids("") == [soonId, laterId], "in start order")
            #expect(try await ids("?status=upcoming") == [soonId, laterId])
            #expect(try await ids("?is_featured=true") == [soonId])
            #expect(try await ids("?limit=1&offset=1") == [laterId])
            #expect(try await ids("?from=\(at(server, 3_600))") == [laterId])
            #expect(try await ids("?to=\(at(server, 3_600))") == [soonId])
            let today = String(at(server, 0).prefix(10))
            #expect(try await ids("?from=\(today)&to=\(today)") == [soonId, laterId], "a date alone is the whole day")

            server.clock.advance(.seconds(120))
            // No scheduler tick needed: the status is derived from the clock on every read.
            let read = try await server.send("GET", "/watch-parties/\(soonId)", token: alice)
            #expect(read.json["status"] as? String == "ongoing")
            #expect(try await ids("?status=ongoing") == [soonId])
            #expect(try await ids("?status=finished").isEmpty)

            for (query, field) in [("?status=live", "status"), ("?is_featured=1", "is_featured"), ("?from=yesterday", "from"), ("?limit=0", "limit")]
            {
                let reply = try await server.send("GET", "/watch-parties\(query)", token: alice)
                #expect(reply.status == 400 && reply.json["field"] as? String == field, "\(query): \(reply.text)")
            }
            #expect(try await server.send("GET", "/watch-parties/\(UUID().uuidString)", token: alice).status == 404)
            #expect(try await server.send("GET", "/watch-parties/not-a-uuid", token: alice).status == 400)
            #expect(try await server.send("GET", "/watch-parties").status == 401)
        }
    }

    @Test("changing and cancelling: any subset, 409 naming the field for each rule, cancelled for good")
    func changeAndCancel() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let party = try await schedule(server, admin, start: 60, end: 600, extra: ["max_participants": 2])
            let id = try #require(party["id"] as? String)
            let ticketId = try await ticket(server, admin)
            #expect(try await server.send("POST", "/watch-parties/\(id)/purchase", token: alice, json: ["ticket_id": ticketId]).status == 201)

            let featured = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["is_featured": true])
            #expect(featured.status == 200 && featured.json["is_featured"] as? Bool == true, "\(featured.text)")
            #expect(featured.json["start_time"] as? String == party["start_time"] as? String)

            let below = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["max_participants": 0])
            #expect(below.status == 400 && below.json["field"] as? String == "max_participants", "\(below.text)")
            let belowSold = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["max_participants": 1])
            #expect(belowSold.status == 200, "one ticket sold, one seat kept: \(belowSold.text)")
            let reversed = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["end_time": at(server, 30)])
            #expect(reversed.status == 400 && reversed.json["field"] as? String == "end_time")

            server.clock.advance(.seconds(120))
            let moved = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["start_time": at(server, 60)])
            #expect(moved.status == 409 && moved.json["field"] as? String == "start_time", "\(moved.text)")
            #expect(try await server.send("PATCH", "/watch-parties/\(id)", token: alice, json: ["is_featured": false]).status == 403)
            #expect(try await server.send("PATCH", "/watch-parties/\(UUID().uuidString)", token: admin, json: [:]).status == 404)

            let cancelled = try await server.send("POST", "/watch-parties/\(id)/cancel", token: admin)
            #expect(cancelled.status == 200 && cancelled.json["status"] as? String == "cancelled", "\(cancelled.text)")
            #expect(cancelled.json["cancelled_at"] is String)
            let again = try await server.send("PATCH", "/watch-parties/\(id)", token: admin, json: ["is_featured": false])
            #expect(again.status == 409)
            let mine = try await server.send("GET", "/users/me/tickets", token: alice)
            let entries = mine.json["data"] as? [[String: Any]] ?? []
            #expect((entries.first?["watch_party"] as? [String: Any])?["status"] as? String == "cancelled", "ticket holders see it: \(mine.text)")
            #expect(try await server.send("POST", "/watch-parties/\(id)/cancel", token: alice).status == 403)

            let finished = try await schedule(server, admin, start: 10, end: 20)
            server.clock.advance(.seconds(60))
            let late = try await server.send("POST", "/watch-parties/\(try #require(finished["id"] as? String))/cancel", token: admin)
            #expect(late.status == 409)
        }
    }

    @Test("tickets: create, list, read, change; prices as decimals with a currency")
    func tickets() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let id = try await ticket(server, admin)
            let read = try await server.send("GET", "/tickets/\(id)", token: alice)
            #expect(read.status == 200)
            #expect(read.json["price"] as? [String: String] == ["amount": "12.50", "currency": "EUR"])
            #expect(read.json["is_voucher"] as? Bool == false && read.json["name"] as? String == "Standard")
            let changed = try await server.send(
                "PATCH",
                "/tickets/\(id)",
                token: admin,
                json: ["price": ["amount": 15, "currency": "EUR"], "is_voucher": true]
            )
            #expect(changed.status == 200, "\(changed.text)")
            #expect((changed.json["price"] as? [String: String])?["amount"] == "15.00" && changed.json["is_voucher"] as? Bool == true)
            #expect(changed.json["description"] as? String == "One seat", "a field left out stays")
            let list = try await server.send("GET", "/tickets", token: alice)
            #expect((list.json["data"] as? [[String: Any]])?.count == 1)

            let bad: [([String: Any], String)] = [
                (["name": "X", "price": ["amount": "1.234", "currency": "EUR"]], "price.amount"),
                (["name": "X", "price": ["amount": "1", "currency": "euro"]], "price.currency"),
                (["name": "", "price": ["amount": "1", "currency": "EUR"]], "name"),
                (["name": "X"], "price"),
            ]
            for (body, field) in bad {
                let reply = try await server.send("POST", "/tickets", token: admin, json: body)
                #expect(reply.status == 400 && reply.json["field"] as? String == field, "\(body): \(reply.text)")
            }
            #expect(
                try await server.send("POST", "/tickets", token: alice, json: ["name": "X", "price": ["amount": "1", "currency": "EUR"]]).status
                    == 403
            )
            #expect(try await server.send("GET", "/tickets/\(UUID().uuidString)", token: alice).status == 404)
            #expect(try await server.send("PATCH", "/tickets/\(UUID().uuidString)", token: admin, json: ["name": "Y"]).status == 404)
        }
    }

    @Test("purchases: 201 with the spec's TicketPurchase, 409 with the first one, Idempotency-Key retries, sold out")
    func purchases() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            let party = try await schedule(server, admin, extra: ["max_participants": 1])
            let id = try #require(party["id"] as? String)
            let ticketId = try await ticket(server, admin)

            let bought = try await server.send(
                "POST",
                "/watch-parties/\(id)/purchase",
                token: alice,
                json: ["ticket_id": ticketId],
                headers: ["Idempotency-Key": "k-1"]
            )
            #expect(bought.status == 201, "\(bought.text)")
            #expect(
                bought.json["user_id"] as? String == "alice" && bought.json["watch_party_id"] as? String == id
                    && bought.json["ticket_id"] as? String == ticketId
            )
            #expect(bought.json["id"] is String && bought.json["purchase_date"] is String)
            let retried = try await server.send(
                "POST",
                "/watch-parties/\(id)/purchase",
                token: alice,
                json: ["ticket_id": ticketId],
                headers: ["Idempotency-Key": "k-1"]
            )
            #expect(retried.status == 201 && retried.json["id"] as? String == bought.json["id"] as? String)
            let again = try await server.send("POST", "/watch-parties/\(id)/purchase", token: alice, json: ["ticket_id": ticketId])
            #expect(again.status == 409)
            #expect((again.json["purchase"] as? [String: String])?["id"] == bought.json["id"] as? String, "\(again.text)")
            let soldOut = try await server.send("POST", "/watch-parties/\(id)/purchase", token: bob, json: ["ticket_id": ticketId])
            #expect(soldOut.status == 409 && soldOut.json["purchase"] == nil, "\(soldOut.text)")

            #expect(
                try await server.send("POST", "/watch-parties/\(id)/purchase", token: bob, json: ["ticket_id": "x"]).json["field"] as? String
                    == "ticket_id"
            )
            #expect(try await server.send("POST", "/watch-parties/\(id)/purchase", token: bob, json: ["ticket_id": UUID().uuidString]).status == 404)
            #expect(
                try await server.send("POST", "/watch-parties/\(UUID().uuidString)/purchase", token: bob, json: ["ticket_id": ticketId]).status == 404
            )
            #expect(try await server.send("POST", "/watch-parties/\(id)/purchase", json: ["ticket_id": ticketId]).status == 401)

            let purchases = try await server.send("GET", "/watch-parties/\(id)/purchases", token: admin)
            #expect(purchases.status == 200 && (purchases.json["data"] as? [[String: Any]])?.count == 1)
            #expect(try await server.send("GET", "/watch-parties/\(id)/purchases", token: alice).status == 403)
            let mine = try await server.send("GET", "/users/me/tickets", token: alice)
            #expect(mine.json["user_id"] as? String == "alice" && (mine.json["data"] as? [[String: Any]])?.first?["ticket_id"] as? String == ticketId)
            #expect((try await server.send("GET", "/users/me/tickets", token: bob).json["data"] as? [Any])?.isEmpty == true)
            #expect(try await server.send("GET", "/watch-parties/\(id)", token: bob).json["tickets_sold"] as? Int == 1)
        }
    }

    @Test("the party log: the spec's entity with video time, filters and cursor pages, ticket holders only")
    func logs() async throws {
        try await TestServer.run { server in
            let admin = try await server.token("root", admin: true)
            let alice = try await server.token("alice")
            let bob = try await server.token("bob")
            let party = try await schedule(server, admin, start: 60, end: 6_000)
            let id = try #require(party["id"] as? String)
            let partyId = try #require(UUID(uuidString: id))
            let ticketId = try await ticket(server, admin)
            #expect(try await server.send("POST", "/watch-parties/\(id)/purchase", token: alice, json: ["ticket_id": ticketId]).status == 201)

            // The socket gateway appends these; the commands append them without it.
            let commands = WatchPartyCommands(runner: CommandRunner(store: server.store), clock: { server.clock.now })
            let aliceCaller = Caller(userId: "alice")
            func log(_ type: PartyLogEventType, message: String? = nil, videoTime: UInt64? = nil, username: String? = nil) async throws {
                _ = try await commands.log(
                    WatchPartyDecider.LogRequest(
                        userId: try UserID("alice"),
                        eventType: type,
                        username: username,
                        message: message,
                        videoTimeMillis: videoTime
                    ),
                    in: partyId,
                    caller: aliceCaller,
                    correlation: UUID()
                )
            }
            try await log(.join, username: "Alice")
            server.clock.advance(.seconds(90))
            try await log(.message, message: "hello")
            try await log(.seek, videoTime: 600_000)
            server.clock.advance(.seconds(5))
            try await log(.message, message: "later")

            let all = try await server.send("GET", "/watch-parties/\(id)/logs", token: alice)
            #expect(all.status == 200, "\(all.text)")
            let entries = all.json["data"] as? [[String: Any]] ?? []
            #expect(entries.map { $0["event_type"] as? String } == ["join", "message", "seek", "message"])
            #expect(entries[0]["event_time"] as? Double == -60 && (entries[0]["content"] as? [String: Any])?["username"] as? String == "Alice")
            #expect(entries[1]["event_time"] as? Double == 30 && entries[1]["video_time"] as? Double == 30)
            #expect((entries[1]["content"] as? [String: Any])?["message"] as? String == "hello")
            #expect((entries[2]["content"] as? [String: Any])?["action"] as? String == "seek")
            #expect(entries[3]["video_time"] as? Double == 605, "five seconds after the seek to 600 s")
            for key in ["id", "watch_party_id", "user_id", "real_time"] { #expect(entries[0][key] is String, "\(key)") }
            #expect(all.json["next"] == nil)

            let first = try await server.send("GET", "/watch-parties/\(id)/logs?limit=3", token: alice)
            let next = try #require(first.json["next"] as? String)
            let second = try await server.send("GET", "/watch-parties/\(id)/logs?limit=3&cursor=\(next)", token: alice)
            #expect((second.json["data"] as? [[String: Any]])?.map { $0["event_type"] as? String } == ["message"])
            let messages = try await server.send("GET", "/watch-parties/\(id)/logs?event_type=message&from=0&to=31", token: admin)
            #expect((messages.json["data"] as? [[String: Any]])?.count == 1)

            #expect(try await server.send("GET", "/watch-parties/\(id)/logs", token: bob).status == 403)
            let badBounds = ["?from=0x10", "?from=+5", "?from=.5", "?from=5.", "?from=1.2345", "?from=1e3", "?from=1234567890"].map { ($0, "from") }
            for (query, field) in [("?event_type=dance", "event_type"), ("?cursor=abc", "cursor"), ("?limit=5000", "limit"), ("?from=x", "from")]
                + badBounds
            {
                let reply = try await server.send("GET", "/watch-parties/\(id)/logs\(query)", token: alice)
                #expect(reply.status == 400 && reply.json["field"] as? String == field, "\(query): \(reply.text)")
            }
            #expect(try await server.send("GET", "/watch-parties/\(UUID().uuidString)/logs", token: admin).status == 404)
            let fine = try await server.send("GET", "/watch-parties/\(id)/logs?from=-60.5&to=30.001", token: admin)
            #expect((fine.json["data"] as? [[String: Any]])?.count == 3, "\(fine.text)")

            #expect(try await server.send("GET", "/watch-parties/\(id)", token: alice).json["participants_online"] as? Int == 1)
            server.clock.advance(.seconds(6_000))
            let over = try await server.send("GET", "/watch-parties/\(id)", token: alice)
            #expect(over.json["status"] as? String == "finished" && over.json["participants_online"] as? Int == 0, "the room is closed: \(over.text)")
        }
    }

    @Test("a party whose whole life passed while the server was down is finished on start, both transitions logged once")
    func schedulerCatchesUp() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-party-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = TestClock()
        var partyId = ""
        try await TestServer.run(store: directory, clock: clock) { server in
            let admin = try await server.token("root", admin: true)
            partyId = try #require(try await schedule(server, admin, start: 600, end: 1_200)["id"] as? String)
        }
        clock.advance(.seconds(3_600))
        try await TestServer.run(store: directory, clock: clock) { server in
            let alice = try await server.token("alice")
            #expect(try await server.send("GET", "/watch-parties/\(partyId)", token: alice).json["status"] as? String == "finished")
            // The scheduler ran on start; give it a moment, then count.
            var transitions: [String] = []
            for _ in 0..<100 {
                transitions = try await server.store.log.events(from: 1, direction: .forward, limit: 1_000).map(\.type).filter {
                    $0.hasPrefix("watch-party.started") || $0.hasPrefix("watch-party.finished")
                }
                if transitions.count == 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(transitions == [WatchPartyStarted.eventType, WatchPartyFinished.eventType])
        }
        try await TestServer.run(store: directory, clock: clock) { server in
            try await Task.sleep(for: .milliseconds(300))
            let transitions = try await server.store.log.events(from: 1, direction: .forward, limit: 1_000).map(\.type).filter {
                $0.hasPrefix("watch-party.started") || $0.hasPrefix("watch-party.finished")
            }
            #expect(transitions.count == 2, "a second start appends none again")
        }
    }
}
