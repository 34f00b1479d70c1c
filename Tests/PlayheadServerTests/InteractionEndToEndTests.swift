import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Testing
import Views
import WatchDomain

@testable import PlayheadServer

@Suite("Content interactions over HTTP", .timeLimit(.minutes(5)))
struct InteractionEndToEndTests {
    static var example: [String: Any] {
        [
            "userId": 1, "contentId": "123", "interactionType": "like", "interactionValue": 5, "moodAtInteraction": "happy",
            "moodIntensityAtInteraction": 8, "interactionDurationSeconds": 120, "context": "evening relaxation",
            "notes": "Really enjoyed this content",
        ]
    }

    @Test("track as the spec's example does; ids as numbers or strings are one id; the same triple updates one interaction")
    func track() async throws {
        try await TestServer.run { server in
            let user = try await server.token("1")
            let created = try await server.send("POST", "/interactions/track", token: user, json: Self.example)
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["userId"] as? String == "1")
            #expect(created.json["contentId"] as? String == "123")
            #expect(created.json["interactionType"] as? String == "like")
            #expect(created.json["moodAtInteraction"] as? String == "happy")
            #expect(created.json["count"] as? Int == 1)
            let id = try #require(created.json["id"] as? String)

            var again = Self.example
            again["userId"] = "1"
            again["contentId"] = 123
            again["interactionValue"] = 9
            server.clock.advance(.seconds(60))
            let updated = try await server.send("POST", "/interactions/track", token: user, json: again)
            #expect(updated.status == 200, "\(updated.text)")
            #expect(updated.json["id"] as? String == id)
            #expect(updated.json["count"] as? Int == 2)
            #expect(updated.json["interactionValue"] as? Int == 9)
            #expect(updated.json["createdAt"] as? String == created.json["createdAt"] as? String)
            #expect(updated.json["updatedAt"] as? String != created.json["updatedAt"] as? String)
            // The log keeps both trackings.
            #expect(try server.store.log.read(from: 1, limit: 10).filter { $0.type == "interaction.tracked" }.count == 2)

            let history = try await server.send("GET", "/interactions/history/1", token: user)
            #expect(history.json["total"] as? Int == 1)
            // The answer, made from the decision and the append, is the stored row.
            let stored = try #require((history.json["data"] as? [[String: Any]])?.first)
            #expect(NSDictionary(dictionary: stored) == NSDictionary(dictionary: updated.json))
        }
    }

    @Test("every bad field is a 400 naming it; other users' data is refused; nothing is stored")
    func validation() async throws {
        try await TestServer.run { server in
            let user = try await server.token("1")
            let head = try server.store.log.head
            func with(_ key: String, _ value: Any?) -> [String: Any] {
                var body = Self.example
                body[key] = value
                return body
            }
            let cases: [([String: Any], String)] = [
                (with("interactionType", "love"), "interactionType"),
                (with("interactionValue", 0), "interactionValue"),
                (with("interactionValue", 11), "interactionValue"),
                (with("moodIntensityAtInteraction", 11), "moodIntensityAtInteraction"),
                (with("interactionDurationSeconds", -1), "interactionDurationSeconds"),
                (with("moodAtInteraction", String(repeating: "m", count: 51)), "moodAtInteraction"),
                (with("context", String(repeating: "c", count: 1_001)), "context"),
                (with("notes", String(repeating: "n", count: 4_001)), "notes"),
                (with("userId", 1.5), "userId"),
                (with("userId", nil), "userId"),
                (with("contentId", ""), "contentId"),
                (with("interactionValue", "five"), "interactionValue"),
            ]
            for (body, field) in cases {
                let reply = try await server.send("POST", "/interactions/track", token: user, json: body)
                #expect(reply.status == 400, "\(field): \(reply.text)")
                #expect(reply.json["field"] as? String == field, "\(reply.text)")
            }
            #expect(try await server.send("POST", "/interactions/track", token: user, json: with("userId", 2)).status == 403)
            #expect(try server.store.log.head == head, "nothing was stored")
            for path in ["/interactions/history/2", "/interactions/patterns/2", "/interactions/export/2"] {
                #expect(try await server.send("GET", path, token: user).status == 403, "\(path)")
                #expect(try await server.send("GET", path).status == 401, "\(path)")
                #expect(try await server.send("GET", path, token: try await server.token("root", admin: true)).status == 200, "\(path)")
            }
            let queries: [(String, String)] = [
                ("/interactions/history/1?limit=0", "limit"), ("/interactions/history/1?limit=201", "limit"),
                ("/interactions/history/1?offset=-1", "offset"),
                ("/interactions/history/1?interactionType=love", "interactionType"), ("/interactions/history/1?startDate=yesterday", "startDate"),
                ("/interactions/history/1?startDate=2026-02-01&endDate=2026-01-01", "endDate"), ("/interactions/patterns/1?tz=Mars/Olympus", "tz"),
                ("/interactions/export/1?format=xml", "format"), ("/interactions/export/1?includeMoodData=maybe", "includeMoodData"),
            ]
            for (path, field) in queries {
                let reply = try await server.send("GET", path, token: user)
                #expect(reply.status == 400, "\(path): \(reply.text)")
                #expect(reply.json["field"] as? String == field, "\(path): \(reply.text)")
            }
        }
    }

    @Test("history pages newest first with filters and totals; patterns of nobody are zeros and nulls")
    func historyAndPatterns() async throws {
        try await TestServer.run { server in
            let user = try await server.token("7")
            for index in 0..<5 {
                server.clock.advance(.seconds(3_600 * 7))
                let body: [String: Any] = [
                    "userId": 7, "contentId": index, "interactionType": index % 2 == 0 ? "play" : "skip", "interactionDurationSeconds": 10 * index,
                ]
                #expect(try await server.send("POST", "/interactions/track", token: user, json: body).status == 201)
            }
            let page = try await server.send("GET", "/interactions/history/7?limit=2&offset=1", token: user)
            #expect(page.json["total"] as? Int == 5)
            #expect(page.json["limit"] as? Int == 2)
            #expect((page.json["data"] as? [[String: Any]])?.map { $0["contentId"] as? String } == ["3", "2"])
            let plays = try await server.send("GET", "/interactions/history/7?interactionType=play", token: user)
            #expect(plays.json["total"] as? Int == 3)
            let first = try #require((plays.json["data"] as? [[String: Any]])?.last?["createdAt"] as? String)
            let since = try await server.send("GET", "/interactions/history/7?startDate=\(first)", token: user)
            #expect(since.json["total"] as? Int == 5, "the first interaction was created at that instant: included")
            let before = try await server.send("GET", "/interactions/history/7?endDate=\(first)", token: user)
            #expect(before.json["total"] as? Int == 0, "the end is exclusive")

            let patterns = try await server.send("GET", "/interactions/patterns/7?tz=Europe/Paris", token: user)
            #expect(patterns.status == 200, "\(patterns.text)")
            #expect(patterns.json["totalInteractions"] as? Int == 5)
            let figures = try #require(patterns.json["patterns"] as? [String: Any])
            #expect(figures["mostCommonType"] as? String == "play")
            #expect(figures["averageDuration"] as? Double == 20)
            #expect(figures["moodCorrelation"] is NSNull)
            #expect(patterns.json["timeZone"] as? String == "Europe/Paris")

            let offset = try await server.send("GET", "/interactions/patterns/7?tz=%2B05:30", token: user)
            #expect(offset.json["timeZone"] as? String == "+05:30")
            #expect(try await server.send("GET", "/interactions/patterns/7?tz=%2B-5:30", token: user).json["field"] as? String == "tz")

            let nobody = try await server.send("GET", "/interactions/patterns/8", token: try await server.token("8"))
            #expect(nobody.status == 200)
            #expect(nobody.json["timeZone"] as? String == "UTC")
            #expect(nobody.json["totalInteractions"] as? Int == 0)
            let empty = try #require(nobody.json["patterns"] as? [String: Any])
            #expect(empty["mostCommonType"] is NSNull)
            #expect(empty["averageDuration"] as? Double == 0)
            #expect(empty["timeOfDayPattern"] is NSNull)
            #expect(empty["contentTypePreference"] is NSNull)
            #expect((nobody.json["dateRange"] as? [String: Any])?["start"] is NSNull)
            #expect((nobody.json["trends"] as? [String: Any])?["interactionFrequency"] as? String == "stable")
            #expect((nobody.json["trends"] as? [String: Any])?["moodCorrelation"] as? String == "neutral")
        }
    }

    @Test("export: RFC 4180 CSV that Python's csv module reads back to the same values, and JSON as an array")
    func export() async throws {
        try await TestServer.run { server in
            let user = try await server.token("9")
            let notes = ["plain", "with, comma", "with \"quotes\"", "two\nlines", "crlf\r\nend", "ünïcødé, \"all\"\r\nof it"]
            for (index, note) in notes.enumerated() {
                server.clock.advance(.seconds(60))
                let body: [String: Any] = [
                    "userId": "9", "contentId": "c\(index)", "interactionType": "rate", "interactionValue": index + 1,
                    "moodAtInteraction": "calm", "moodIntensityAtInteraction": 3, "notes": note,
                ]
                #expect(try await server.send("POST", "/interactions/track", token: user, json: body).status == 201)
            }
            let csv = try await server.send("GET", "/interactions/export/9?format=csv&includeMoodData=true", token: user)
            #expect(csv.status == 200)
            #expect(csv.header("Content-Disposition") == "attachment; filename=\"interactions-9.csv\"")
            #expect(csv.header("Content-Type")?.hasPrefix("text/csv") == true)
            let rows = try Self.pythonCSV(csv.body)
            #expect(
                rows.first == [
                    "id", "userId", "contentId", "interactionType", "interactionValue", "moodAtInteraction", "moodIntensityAtInteraction",
                    "interactionDurationSeconds", "context", "notes", "contentType", "count", "createdAt", "updatedAt",
                ]
            )
            #expect(rows.count == notes.count + 1)
            // Newest first: the last tracked comes first.
            #expect(rows.dropFirst().map { $0[9] } == notes.reversed())
            #expect(rows.dropFirst().map { $0[5] } == Array(repeating: "calm", count: notes.count))
            #expect(rows.dropFirst().map { $0[2] } == (0..<notes.count).reversed().map { "c\($0)" })

            let withoutMood = try Self.pythonCSV(try await server.send("GET", "/interactions/export/9?format=csv", token: user).body)
            #expect(withoutMood.first?.contains("moodAtInteraction") == false)
            #expect(withoutMood.dropFirst().map { $0[7] } == notes.reversed())

            let json = try await server.send("GET", "/interactions/export/9?format=json", token: user)
            #expect(json.header("Content-Disposition") == "attachment; filename=\"interactions-9.json\"")
            let array = try #require(try JSONSerialization.jsonObject(with: json.body) as? [[String: Any]])
            #expect(array.map { $0["notes"] as? String } == notes.reversed())
            #expect(array.allSatisfy { $0["moodAtInteraction"] == nil })
            let empty = try await server.send("GET", "/interactions/export/9?format=json&startDate=2000-01-01&endDate=2000-01-02", token: user)
            #expect((try JSONSerialization.jsonObject(with: empty.body) as? [Any])?.isEmpty == true)
        }
    }

    /// The rows Python's standard csv module reads from `data`.
    static func pythonCSV(_ data: Data) throws -> [[String]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import csv, io, json, sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.buffer.read().decode('utf-8'), newline='')))))",
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(data)
        try input.fileHandleForWriting.close()
        let result = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try #require(try JSONSerialization.jsonObject(with: result) as? [[String]])
    }
}

@Suite("Hand-written JSON")
struct JSONTextTests {
    @Test("an interaction written by hand is byte for byte what the server's JSONEncoder writes")
    func sameAsEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let awkward = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\"\\/ é 😀 \u{7F} end"
        let variants: [InteractionDetails] = [
            InteractionDetails(),
            InteractionDetails(
                interactionValue: 10,
                moodAtInteraction: "happy",
                moodIntensityAtInteraction: 1,
                interactionDurationSeconds: 0,
                context: "a, b",
                notes: awkward,
                contentType: "movies"
            ),
            InteractionDetails(interactionValue: -3, notes: "line\nbreak", contentType: "tab\there"),
        ]
        for (index, details) in variants.enumerated() {
            let event = InteractionTracked(
                interactionId: UUID(),
                userId: "user \"\(index)\"",
                contentId: awkward,
                interactionType: .rate,
                details: details
            )
            let row = Interaction(event, at: Timestamp(microsecondsSince1970: 1_700_000_000_123_456), position: 3)
            for includeMood in [true, false] {
                let body = InteractionBody(row, includeMood: includeMood)
                var json = JSONText()
                body.write(to: &json)
                #expect(json.text == String(decoding: try encoder.encode(body), as: UTF8.self))
            }
        }
    }
}

extension JSONTextTests {
    @Test("a history page written by hand is what the encoder writes for the same page")
    func historyPage() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct Page: Encodable {
            var data: [InteractionBody]
            var limit: Int
            var offset: Int
            var total: Int
            var userId: String
        }
        let rows = (0..<3).map { index in
            let event = InteractionTracked(
                interactionId: UUID(),
                userId: "u",
                contentId: "c\(index)",
                interactionType: .like,
                details: InteractionDetails(interactionValue: Int64(index + 1))
            )
            return InteractionBody(Interaction(event, at: Timestamp(microsecondsSince1970: Int64(index)), position: UInt64(index)))
        }
        for data in [rows, []] {
            let page = InteractionRoutes.History(userId: "u", data: data, total: 7, limit: 50, offset: 2)
            let expected = try encoder.encode(Page(data: data, limit: 50, offset: 2, total: 7, userId: "u"))
            #expect(page.json == String(decoding: expected, as: UTF8.self))
        }
    }
}
