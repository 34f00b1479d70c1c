import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Synchronization
import Testing
import WatchDomain

/// `playhead replay`: a party's log read back from the store's views, as text or NDJSON.
@Suite("playhead replay", .timeLimit(.minutes(5)))
struct ReplayCommandTests {
    /// A store holding one party of `film` (10 minutes), starting at 2026-11-24T20:00:00Z: alice
    /// joins two minutes early, chats at the start, pauses at 1:40, seeks back to 0:40, plays,
    /// chats; bob joins and leaves. Returns the party's id.
    static func store(at directory: String) async throws -> UUID {
        let start: Int64 = 1_795_982_400_000_000
        let now = Mutex(start - 600_000_000)
        let clock: @Sendable () -> Timestamp = { Timestamp(microsecondsSince1970: now.withLock { $0 }) }
        func at(_ seconds: Int64) { now.withLock { $0 = start + seconds * 1_000_000 } }
        let opened = try PlayheadStore(directory: directory) { $0.clock = clock }
        let runner = CommandRunner(store: opened)
        let admin = Caller(userId: "root", isAdmin: true)
        _ = try await VideoProgressCommands(runner: runner, clock: clock)
            .registerVideo(try VideoID("film"), durationMillis: 600_000, title: nil, completionThreshold: nil, caller: admin, correlation: UUID())
        let commands = WatchPartyCommands(runner: runner, clock: clock)
        let party = try await commands.schedule(
            movieId: try VideoID("film"),
            startTime: Timestamp(microsecondsSince1970: start),
            endTime: Timestamp(microsecondsSince1970: start + 3_600_000_000),
            isFeatured: false,
            maxParticipants: 10,
            caller: admin,
            correlation: UUID()
        )
        func log(_ seconds: Int64, _ user: String, _ type: PartyLogEventType, message: String? = nil, videoTime: UInt64? = nil) async throws {
            at(seconds)
            let username = type == .join ? user.capitalized : nil
            _ = try await commands.log(
                .init(userId: try UserID(user), eventType: type, username: username, message: message, videoTimeMillis: videoTime),
                in: party.partyId,
                caller: admin,
                correlation: UUID()
            )
        }
        try await log(-120, "alice", .join)
        try await log(30, "alice", .message, message: "It starts!")
        try await log(100, "alice", .pause)
        try await log(110, "alice", .seek, videoTime: 40_000)
        try await log(120, "alice", .play)
        try await log(150, "bob", .join)
        try await log(151, "bob", .message, message: "Hi, \"all\"")
        try await log(160, "bob", .leave)
        await opened.close()
        return party.partyId
    }

    @Test("text and NDJSON, the whole party or from a point of the party or of the film")
    func formats() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let party = try await Self.store(at: store).uuidString.lowercased()
            let text = try playhead(["replay", party, "--data-dir", store, "--instant", "--format", "text"])
            #expect(text.status == 0, "\(text.stderr)")
            #expect(
                text.stdout.split(separator: "\n") == [
                    "-00:02:00  film 00:00:00  Alice joined (1 online)",
                    "+00:00:30  film 00:00:30  Alice: It starts!",
                    "+00:01:40  film 00:01:40  Alice paused",
                    "+00:01:50  film 00:00:40  Alice sought to 00:00:40",
                    "+00:02:00  film 00:00:40  Alice played",
                    "+00:02:30  film 00:01:10  Bob joined (2 online)",
                    "+00:02:31  film 00:01:11  Bob: Hi, \"all\"",
                    "+00:02:40  film 00:01:20  Bob left (1 online)",
                ],
                "\(text.stdout)"
            )
            // Piped without --format: NDJSON, at once, the REST replay's items.
            let lines = try playhead(["replay", party, "--data-dir", store])
            let items = try tailLines(lines.stdout)
            #expect(items.count == 8 && items.allSatisfy { $0["watch_party_id"] as? String == party })
            #expect(items.compactMap { $0["username"] as? String } == ["Alice", "Alice", "Alice", "Alice", "Alice", "Bob", "Bob", "Bob"])
            #expect(items[6]["video_time"] as? Double == 71 && items[6]["event_time"] as? Double == 151)
            #expect((items[6]["content"] as? [String: Any])?["message"] as? String == "Hi, \"all\"")

            let later = try playhead(["replay", party, "--data-dir", store, "--instant", "--format", "text", "--from", "00:02:30"])
            #expect(later.stdout.split(separator: "\n").count == 3, "\(later.stdout)")
            let film = try playhead(["replay", party, "--data-dir", store, "--instant", "--format", "text", "--from", "00:01:00", "--video-time"])
            #expect(film.stdout.split(separator: "\n").map { $0.split(separator: " ").last ?? "" } == ["paused", "online)", "\"all\"", "online)"])
            let lobby = try playhead(["replay", party, "--data-dir", store, "--format", "ndjson", "--from=-00:05:00", "--speed", "10000"])
            #expect(try tailLines(lobby.stdout).count == 8, "paced at 10000 times: 160 s of party in 16 ms")
        }
    }

    @Test("bad arguments and unknown parties are refused with a message and a failing status")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let party = try await Self.store(at: store).uuidString.lowercased()
            for (arguments, message) in [
                (["replay", "tonight", "--data-dir", store], "not a watch party id"),
                (["replay", UUID().uuidString, "--data-dir", store], "no watch party"),
                (["replay", party, "--data-dir", store, "--from", "1:2"], "--from must be HH:MM:SS"),
                (["replay", party, "--data-dir", store, "--speed", "0"], "--speed must be from 0.1 to 10000"),
                (["replay", party, "--data-dir", store, "--video-time"], "--video-time needs --from"),
                (["replay", party, "--data-dir", directory + "/none"], "no views"),
            ] {
                let output = try playhead(arguments)
                #expect(output.status != 0 && output.stderr.contains(message), "\(arguments): \(output.stderr)")
            }
        }
    }

    @Test("events the views have not folded (imported while no server ran) are named on standard error")
    func saysWhenTheViewsTrailTheLog() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let party = try await Self.store(at: store).uuidString.lowercased()
            // Appended by the log alone, as an import does: the views do not see it.
            let log = try LMDBEventLog(directory: store + "/log")
            _ = try await log.append(AppendRequest(events: [ProposedEvent(type: "note.imported", stream: "note-1", payload: [])]))
            await log.close()
            let replay = try playhead(["replay", party, "--data-dir", store, "--instant", "--format", "text"])
            #expect(replay.status == 0 && replay.stderr.contains("the views are 1 events behind the log"), "\(replay.stderr)")
        }
    }
}
