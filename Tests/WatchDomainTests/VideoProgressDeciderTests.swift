import EventLog
import Foundation
import Testing
import WatchDomain

@Suite("Video-progress decisions and the merge rule")
struct VideoProgressDeciderTests {
    let now = Timestamp(microsecondsSince1970: 1_800_000_000_000_000)

    func time(_ seconds: Int64) -> Timestamp { Timestamp(microsecondsSince1970: now.microsecondsSince1970 + seconds * 1_000_000) }

    @Test("the latest lastWatched wins, then the larger watched duration, whatever the order")
    func mergeRule() {
        let entries = [
            ProgressEntry(watchedDuration: 100, lastWatched: time(-60)),
            ProgressEntry(watchedDuration: 30, lastWatched: time(-10)),
            ProgressEntry(watchedDuration: 50, lastWatched: time(-10)),
            ProgressEntry(watchedDuration: 900, lastWatched: time(-3600)),
        ]
        func merge(_ order: [ProgressEntry]) -> ProgressEntry? {
            order.reduce(nil) { kept, next in next.supersedes(kept) ? next : kept }
        }
        var orders: [[ProgressEntry]] = [[]]
        for entry in entries {
            orders = orders.flatMap { order in
                (0...order.count).map {
                    var copy = order
                    copy.insert(entry, at: $0)
                    return copy
                }
            }
        }
        #expect(orders.count == 24)
        for order in orders { #expect(merge(order) == entries[2]) }
        #expect(!entries[2].supersedes(entries[2]))
        // Equal times and durations: the entry with the player's (longer) length wins, either way round.
        let withLength = ProgressEntry(watchedDuration: 50, lastWatched: time(-10), videoDurationMillis: 600_000)
        #expect(withLength.supersedes(entries[2]))
        #expect(!entries[2].supersedes(withLength))
    }

    @Test("completion uses the catalogue's length and threshold, else the player's length at 90%")
    func completion() {
        let entry = ProgressEntry(watchedDuration: 540, lastWatched: now, videoDurationMillis: 600_000)
        #expect(entry.isCompleted(video: nil))
        #expect(!ProgressEntry(watchedDuration: 539, lastWatched: now, videoDurationMillis: 600_000).isCompleted(video: nil))
        #expect(!entry.isCompleted(video: VideoInfo(durationMillis: 1_200_000, title: nil, completionThreshold: 0.9)))
        #expect(entry.isCompleted(video: VideoInfo(durationMillis: 1_200_000, title: nil, completionThreshold: 0.45)))
        #expect(!ProgressEntry(watchedDuration: 10_000, lastWatched: now).isCompleted(video: nil), "no known length: not completed")
    }

    @Test("reports are checked field by field, and only the owner or an administrator may write")
    func validation() throws {
        func field(_ body: () throws -> Void) -> String? {
            do { try body() } catch let error as CommandError { return error.field } catch { return "unexpected" }
            return nil
        }
        let alice = Caller(userId: "alice")
        let report = ProgressReport(videoId: try VideoID("v"), watchedDuration: try WatchedDuration(seconds: 10), lastWatched: now)
        func record(_ reports: [ProgressReport], user: String = "alice", caller: Caller = Caller(userId: "alice")) throws {
            _ = try VideoProgressDecider.record(
                reports,
                userId: try UserID(user),
                caller: caller,
                now: now,
                source: .sync,
                fieldPrefix: { "progressData[\($0)]." }
            )
        }
        #expect(field { try record([report]) } == nil)
        #expect(field { try record([report], user: "bob") } == "userId")
        #expect(field { try record([report], user: "bob", caller: Caller(userId: "root", isAdmin: true)) } == nil)
        var future = report
        future.lastWatched = time(601)
        #expect(field { try record([report, future]) } == "progressData[1].lastWatched")
        future.lastWatched = time(600)
        #expect(field { try record([future]) } == nil, "ten minutes of clock skew are allowed")
        // The watched duration and the video id are values checked when parsed (the route
        // names the report at fault), so a decider is never given a bad one.
        #expect(
            field { _ = try WatchedDuration(seconds: Double(VideoProgressEvents.maxWatchedSeconds + 1), field: "progressData[0].watchedDuration") }
                == "progressData[0].watchedDuration"
        )
        #expect(field { _ = try VideoID("", field: "progressData[0].videoId") } == "progressData[0].videoId")
        #expect(field { try record(Array(repeating: report, count: VideoProgressEvents.maxSyncEntries + 1)) } == "progressData")
        #expect(throws: CommandError.self) {
            try VideoProgressDecider.delete(userId: try UserID("alice"), videoId: try VideoID("v"), entry: nil, caller: alice)
        }
        #expect(
            field {
                _ = try VideoProgressDecider.register(
                    videoId: try VideoID("v"),
                    durationMillis: 0,
                    title: nil,
                    completionThreshold: nil,
                    caller: Caller(userId: "r", isAdmin: true)
                )
            } == "duration"
        )
        #expect(
            field {
                _ = try VideoProgressDecider.register(
                    videoId: try VideoID("v"),
                    durationMillis: 5,
                    title: nil,
                    completionThreshold: 1.5,
                    caller: Caller(userId: "r", isAdmin: true)
                )
            } == "completionThreshold"
        )
        #expect(throws: CommandError.self) {
            _ = try VideoProgressDecider.register(videoId: try VideoID("v"), durationMillis: 5, title: nil, completionThreshold: nil, caller: alice)
        }
    }
}
