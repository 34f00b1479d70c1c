import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Views
import WatchDomain

/// `playhead bench progress`: a video with many progress reports, and its summary query.
struct ProgressBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Ingest generated progress reports for one video, then time its summary query.",
        discussion: """
            Registers one video and appends --events progress reports for it from --users users \
            (through the store's write path, projections inline, in batches of 10,000), then \
            answers the video's summary --queries times from the read model. As the baseline in \
            the same run, the same summary is computed by folding the log, which is what the \
            query would cost without its read model. Prints one JSON object. With --data-dir the \
            store is kept (and reused when it already has events), so that `playhead serve` can \
            serve it: tools/bench-http --workload summary does that.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Progress reports to generate.")
    var events = 1_000_000

    @Option(help: "Distinct users the reports come from.")
    var users = 100_000

    @Option(help: "The video's id.")
    var video = "bench-video"

    @Option(help: "Summary queries to time.")
    var queries = 20_000

    func validate() throws {
        guard events >= 1, users >= 1, queries >= 1 else { throw ValidationError("--events, --users and --queries must be at least 1") }
        if let problem = ClientIdentifier.problem(video) { throw ValidationError("--video \(problem)") }
    }

    func run() async throws {
        let directory =
            dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try PlayheadStore(directory: directory)
        var ingestSeconds: Double?
        if try store.log.head == 0 {
            let started = ContinuousClock.now
            let registration = VideoRegistered(videoId: video, durationMillis: 3_600_000, title: "Benchmark", completionThreshold: 0.9)
            _ = try await store.log.append(AppendRequest(events: [registration.proposed(actor: "bench")]))
            var random = SplitMix64(seed: 11)
            var appended = 0
            let base: Int64 = 1_700_000_000_000_000
            while appended < events {
                let count = min(10_000, events - appended)
                let batch = (0..<count).map { offset in
                    let user = "user-\(random.next() % UInt64(users))"
                    // Mostly increasing client times, with some reports arriving late.
                    let jitter = Int64(random.next() % 600) * 1_000_000
                    let event = ProgressRecorded(
                        userId: user,
                        videoId: video,
                        watchedDuration: random.next() % 3_600,
                        lastWatched: Timestamp(microsecondsSince1970: base + Int64(appended + offset) * 1_000_000 - jitter),
                        videoDurationMillis: nil,
                        source: .realtime
                    )
                    return event.proposed(actor: user)
                }
                _ = try await store.log.append(AppendRequest(events: batch))
                appended += count
            }
            ingestSeconds = (ContinuousClock.now - started).seconds
        }
        let head = try store.log.head
        let queries = VideoProgressQueries(views: store.projections)
        var latencies: [Double] = []
        latencies.reserveCapacity(self.queries)
        var summary = try queries.summary(video: video)
        for _ in 0..<self.queries {
            let started = ContinuousClock.now
            summary = try queries.summary(video: video)
            latencies.append((ContinuousClock.now - started).seconds * 1_000_000)
        }
        latencies.sort()

        let foldStarted = ContinuousClock.now
        let folded = try foldSummary(store.log)
        let foldSeconds = (ContinuousClock.now - foldStarted).seconds
        await store.close()

        let p50 = percentile(latencies, 0.5)
        let p99 = percentile(latencies, 0.99)
        var fields: [(String, String)] = [
            ("workload", "\"progress-summary\""), ("implementation", "\"playhead\""), ("events", "\(head)"),
            ("viewers", "\(summary.totals.viewers)"), ("completed", "\(summary.totals.completed)"),
        ]
        if let ingestSeconds {
            fields.append(("ingest_seconds", String(format: "%.3f", ingestSeconds)))
            fields.append(("ingest_events_per_second", "\(Int(Double(head) / max(ingestSeconds, 1e-9)))"))
        }
        fields += [
            ("queries", "\(self.queries)"), ("summary_p50_us", String(format: "%.2f", p50)), ("summary_p99_us", String(format: "%.2f", p99)),
            ("baseline", "\"the same summary folded from the log\""), ("fold_ms", String(format: "%.1f", foldSeconds * 1_000)),
            ("fold_to_p99_ratio", String(format: "%.0f", foldSeconds * 1_000_000 / max(p99, 1e-9))),
            ("answers_equal", folded == summary.totals ? "true" : "false"),
        ]
        print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        if folded != summary.totals { throw ExitCode(1) }
    }

    /// The video's totals computed from the log alone, applying the same merge rule.
    private func foldSummary(_ log: LMDBEventLog) throws -> ProgressTotals {
        // Keyed and compared by bytes, as the projector keys its views.
        var entries: [UTF8Key: ProgressEntry] = [:]
        let target = UTF8Key(self.video)
        var video: VideoInfo?
        try log.withReader { reader in
            _ = try reader.visit(from: 1, direction: .forward, limit: .max) { record in
                let type = String(decoding: record.typeBytes, as: UTF8.self)
                if type == ProgressRecorded.eventType {
                    let event = try ProgressRecorded.decode(record.payload)
                    guard UTF8Key(event.videoId) == target else { return true }
                    let entry = ProgressEntry(event)
                    if entry.supersedes(entries[UTF8Key(event.userId)]) { entries[UTF8Key(event.userId)] = entry }
                } else if type == ProgressDeleted.eventType {
                    let event = try ProgressDeleted.decode(record.payload)
                    if UTF8Key(event.videoId) == target { entries[UTF8Key(event.userId)] = nil }
                } else if type == VideoRegistered.eventType {
                    let event = try VideoRegistered.decode(record.payload)
                    if UTF8Key(event.videoId) == target {
                        video = VideoInfo(durationMillis: event.durationMillis, title: event.title, completionThreshold: event.completionThreshold)
                    }
                }
                return true
            }
        }
        var totals = ProgressTotals()
        for entry in entries.values {
            totals.viewers += 1
            totals.watchedDuration += entry.watchedDuration
            if entry.isCompleted(video: video) { totals.completed += 1 }
        }
        return totals
    }
}
