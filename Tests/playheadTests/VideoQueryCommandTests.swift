import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import Views
import WatchDomain

/// `playhead query video|retention|seeks|concurrent|top-videos`: the video analytics read
/// from the store's asynchronous views, in every format.
@Suite("playhead query: video analytics", .timeLimit(.minutes(5)))
struct VideoQueryCommandTests {
    /// A 10-minute lecture and alice's view of it on 2026-11-20 (Docs/api.md's example):
    /// 0:00-2:00, a seek ahead to 5:00, 5:00-6:00, a seek back to 4:00, 4:00-6:00.
    static func store(at directory: String) async throws {
        let store = try PlayheadStore(directory: directory)
        let session = UUID()
        func time(_ text: String) -> Timestamp { ISO8601Micros.parse("2026-11-20T\(text)Z") ?? Timestamp(microsecondsSince1970: 0) }
        func player(_ kind: PlayerEventKind, _ at: String, _ seconds: UInt64) -> ProposedEvent {
            PlayerEventRecorded(sessionId: session, event: PlayerEvent(event: kind, eventTime: time(at), videoTimeMillis: seconds * 1_000))
                .proposed(actor: "alice")
        }
        let started = WatchSessionStarted(
            sessionId: session,
            userId: "alice",
            userSessionId: nil,
            isGuest: false,
            videoId: "lecture",
            startTime: time("09:00:00"),
            endTime: nil,
            actualTimeWatchedMillis: 0,
            percentageWatched: 0,
            userMetadata: ClientMetadata()
        )
        _ = try await store.log.append(
            AppendRequest(events: [
                VideoRegistered(videoId: "lecture", durationMillis: 600_000, title: "Lecture", completionThreshold: 0.9).proposed(actor: "ops"),
                started.proposed(actor: "alice"),
                player(.play, "09:00:00", 0), player(.seek, "09:02:00", 300), player(.seek, "09:03:00", 240), player(.pause, "09:05:00", 360),
            ])
        )
        try store.log.withReader { _ = try store.asyncProjections.catchUp($0) }
        await store.close()
    }

    static let day = ["--start-date", "2026-11-20", "--end-date", "2026-11-20"]

    @Test("a video's summary as the API's JSON, a table, and its days as CSV and NDJSON")
    func summary() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            try await Self.store(at: store)
            let json = try playhead(["query", "video", "lecture", "--data-dir", store] + Self.day)
            #expect(json.status == 0, "\(json.stderr)")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let data = try #require(answer["data"] as? [String: Any])
            #expect(data["views"] as? Int == 1 && data["watchTimeSeconds"] as? Double == 300 && data["averagePercentageViewed"] as? Double == 50)

            let table = try playhead(["query", "video", "lecture", "--data-dir", store, "--format", "table"] + Self.day)
            for line in [
                "Video lecture, 2026-11-20 to 2026-11-20", "views                   1", "average % viewed        50.0%", "plays that count        1",
            ] {
                #expect(table.stdout.contains(line), "\(line) in \(table.stdout)")
            }
            let csv = try playhead(["query", "video", "lecture", "--data-dir", store, "--format", "csv"] + Self.day)
            #expect(csv.stdout == "date,views,uniqueViewers,watchTimeSeconds,countedPlays,completions\n2026-11-20,1,1,300,1,0\n")
            let ndjson = try playhead(["query", "video", "lecture", "--data-dir", store, "--format", "ndjson"] + Self.day)
            #expect(
                ndjson.stdout
                    == "{\"date\":\"2026-11-20\",\"views\":1,\"uniqueViewers\":1,\"watchTimeSeconds\":300,\"countedPlays\":1,\"completions\":0}\n"
            )
        }
    }

    @Test("retention, seeks, concurrent viewers and top videos; the chart the API draws")
    func curves() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            try await Self.store(at: store)
            let svgPath = directory + "/retention.svg"
            let retention = try playhead(["query", "retention", "lecture", "--data-dir", store, "--format", "ndjson", "--svg", svgPath] + Self.day)
            let lines = retention.stdout.split(separator: "\n")
            #expect(lines.count == 100, "\(retention.stderr)")
            #expect(
                lines.count == 100
                    && lines[50] == "{\"point\":50,\"videoTime\":300,\"watched\":1,\"rewatched\":1,\"audienceRetention\":1,\"rewatchRate\":1}"
            )
            #expect(
                lines.count == 100
                    && lines[20] == "{\"point\":20,\"videoTime\":120,\"watched\":0,\"rewatched\":0,\"audienceRetention\":0,\"rewatchRate\":0}"
            )
            let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains("audience retention"))

            let seeks = try playhead(["query", "seeks", "lecture", "--data-dir", store, "--format", "csv"] + Self.day)
            let rows = seeks.stdout.split(separator: "\n")
            #expect(rows.first == "bucket,from,to,seeksFrom,seeksTo,skipped")
            #expect(rows.contains("20,120,126,1,0,1") && rows.contains("60,360,366,1,0,0") && rows.contains("40,240,246,0,1,1"), "\(rows)")

            let concurrent = try playhead([
                "query", "concurrent", "--data-dir", store, "--format", "csv", "--start-date", "2026-11-20T09:00:00Z", "--end-date",
                "2026-11-20T09:07:00Z",
            ])
            #expect(
                concurrent.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",").last.map(String.init) } == [
                    "1", "1", "1", "1", "1", "0", "0",
                ]
            )

            let top = try playhead(["query", "top-videos", "--data-dir", store, "--by", "watch_time", "--format", "csv"] + Self.day)
            #expect(top.stdout == "rank,videoId,views,watchTimeSeconds\n1,lecture,1,300\n")
        }
    }

    @Test("unregistered videos, bad ranges, orders and limits are refused with a message")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            try await Self.store(at: store)
            for (arguments, message) in [
                (["query", "retention", "trailer", "--data-dir", store] + Self.day, "video trailer is not registered"),
                (["query", "video", "lecture", "--data-dir", store, "--start-date", "2026-01-01", "--end-date", "2027-12-31"], "at most 366 days"),
                (["query", "video", "lecture", "--data-dir", store, "--start-date", "noon"], "--start-date must be an ISO 8601 date"),
                (["query", "concurrent", "--data-dir", store, "--start-date", "2026-11-01", "--end-date", "2026-11-20"], "at most 7 days"),
                (["query", "top-videos", "--data-dir", store, "--by", "likes"], "--by must be views or watch_time"),
                (["query", "top-videos", "--data-dir", store, "--limit", "0"], "--limit must be a whole number from 1 to 100"),
                (["query", "top-videos", "--data-dir", store, "--svg", directory + "/top.svg"], "no chart"),
                (["query", "video", "lecture", "--data-dir", directory + "/none"], "no analytics views"),
                (["query", "video", "", "--data-dir", store] + Self.day, "videoId must not be empty"),
            ] {
                let output = try playhead(arguments)
                #expect(output.status != 0 && output.stderr.contains(message), "\(arguments): \(output.stderr)")
            }
        }
    }
}
