import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import Views

/// `playhead query party`: a party's analytics read from the store's asynchronous views.
@Suite("playhead query", .timeLimit(.minutes(5)))
struct QueryCommandTests {
    /// The replay tests' party (finished: it ran for an hour on 2026-11-29), with its analytics folded.
    static func store(at directory: String) async throws -> String {
        let party = try await ReplayCommandTests.store(at: directory)
        let store = try PlayheadStore(directory: directory)
        try store.log.withReader { _ = try store.asyncProjections.catchUp($0) }
        await store.close()
        return party.uuidString.lowercased()
    }

    @Test("a table for people, the API's JSON when piped, the timeline as CSV, the chart as SVG")
    func formats() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let party = try await Self.store(at: store)
            let table = try playhead(["query", "party", party, "--data-dir", store, "--format", "table"])
            #expect(table.status == 0, "\(table.stderr)")
            for line in [
                "participants        2", "online now          0", "peak online         2 at 00:02:30", "average online      1.00",
                "stayed to the end   1", "messages            2", "player actions      play 1, pause 1, seek 1",
            ] {
                #expect(table.stdout.contains(line), "\(line) in \(table.stdout)")
            }
            #expect(table.stdout.contains("Alice (alice)"))

            let json = try playhead(["query", "party", party, "--data-dir", store])
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(answer["watch_party_id"] as? String == party)
            #expect(answer["status"] as? String == "finished")
            #expect(answer["peak_participants"] as? Int == 2)
            #expect(answer["stayed_to_end"] as? Int == 1)
            // Alice all hour, bob 10 s: 3,610 participant-seconds over 3,600.
            #expect(answer["average_participants"] as? Double == 1)
            let timeline = try #require(answer["timeline"] as? [[String: Any]])
            #expect(timeline.count == 62)  // two lobby minutes and the hour
            #expect(timeline.first?["minute"] as? Int == -2 && timeline.last?["minute"] as? Int == 59)

            let svgPath = directory + "/party.svg"
            let csv = try playhead(["query", "party", party, "--data-dir", store, "--format", "csv", "--svg", svgPath])
            let rows = csv.stdout.split(separator: "\n")
            #expect(rows.first == "minute,time,participants,messages,joins,leaves,player_actions")
            #expect(rows.count == 63)
            #expect(rows.contains("2,2026-11-29T20:02:00.000000Z,2,1,1,1,1"), "\(rows.prefix(6))")
            let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains("participants online") && svg.contains("messages per minute"))
        }
    }

    @Test("bad ids, unknown parties and stores without analytics are refused with a message")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let party = try await Self.store(at: store)
            for (arguments, message) in [
                (["query", "party", "tonight", "--data-dir", store], "not a watch party id"),
                (["query", "party", UUID().uuidString, "--data-dir", store], "no watch party"),
                (["query", "party", party, "--data-dir", directory + "/none"], "no analytics views"),
                (["query", "party", party, "--data-dir", store, "--format", "xml"], "format"),
                (["query", "party", party, "--data-dir", store, "--svg", directory + "/missing/dir/x.svg"], "could not write"),
            ] {
                let output = try playhead(arguments)
                #expect(output.status != 0 && output.stderr.contains(message), "\(arguments): \(output.stderr)")
            }
        }
    }
}
