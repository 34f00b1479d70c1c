import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Views
import WatchDomain

/// `playhead bench interactions`: one user with many interactions, and the history queries.
struct InteractionsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interactions",
        abstract: "Track generated interactions for one user, then time history pages.",
        discussion: """
            Appends --interactions first trackings for --user (spread evenly over \
            the year before now, nine types, a tenth with mood data), through the store's write \
            path with the projections inline, in batches of 10,000. Then times --queries history \
            pages of 50: the newest, one type, and the last 30 days. As the baseline in the same \
            run, the newest page is also computed by reading all the user's interactions, which \
            is what the page would cost without its index. Prints one JSON object. With \
            --data-dir the store is kept (and reused when it already has events), so that \
            `playhead serve` can serve it: tools/bench-http -w history and tools/bench-export use it.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Interactions to generate.")
    var interactions = 100_000

    @Option(help: "Whose interactions.")
    var user = "bench-user"

    @Option(help: "History pages to time per query shape.")
    var queries = 2_000

    func validate() throws {
        guard interactions >= 1, queries >= 1 else { throw ValidationError("--interactions and --queries must be at least 1") }
        if let problem = ClientIdentifier.problem(user, maxBytes: UserSessionEvents.maxUserIdBytes) { throw ValidationError("--user \(problem)") }
    }

    func run() async throws {
        let directory =
            dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        // Recorded-at times spread evenly over the year before now, as an import keeps them.
        let now = Timestamp.now().microsecondsSince1970
        let step = max(365 * 86_400_000_000 / Int64(interactions), 1)
        let first = now - Int64(interactions) * step
        let store = try PlayheadStore(directory: directory)
        var ingestSeconds: Double?
        if try store.log.head == 0 {
            let started = ContinuousClock.now
            var random = SplitMix64(seed: 5)
            var appended = 0
            let types = InteractionType.allCases
            while appended < interactions {
                let count = min(10_000, interactions - appended)
                let batch = (0..<count).map { offset in
                    let index = appended + offset
                    let mood = index % 10 == 0
                    let details = InteractionDetails(
                        interactionValue: Int64(1 + random.next() % 10),
                        moodAtInteraction: mood ? "calm" : nil,
                        moodIntensityAtInteraction: mood ? Int64(1 + random.next() % 10) : nil,
                        interactionDurationSeconds: Int64(random.next() % 3_600),
                        context: "benchmark",
                        notes: index % 100 == 0 ? "a note, with \"quotes\"" : nil,
                        contentType: ["movies", "series", "music"][index % 3]
                    )
                    let event = InteractionTracked(
                        interactionId: UUID(),
                        userId: user,
                        contentId: "content-\(index)",
                        interactionType: types[index % types.count],
                        details: details
                    )
                    var proposed = event.proposed(actor: user)
                    proposed.recordedAt = Timestamp(microsecondsSince1970: first + Int64(index) * step)
                    return proposed
                }
                _ = try await store.log.append(AppendRequest(events: batch))
                appended += count
            }
            ingestSeconds = (ContinuousClock.now - started).seconds
        }
        let head = try store.log.head
        let queries = InteractionQueries(views: store.projections)
        let end = try store.log.withReader { try $0.record(at: head)?.recordedAt } ?? Timestamp.now()
        let monthAgo = Timestamp(microsecondsSince1970: end.microsecondsSince1970 - 30 * 86_400_000_000)
        let shapes: [(name: String, filter: InteractionFilter)] = [
            ("newest", InteractionFilter(userId: user)),
            ("one_type", InteractionFilter(userId: user, type: .rate)),
            ("last_30_days", InteractionFilter(userId: user, start: monthAgo, end: Timestamp(microsecondsSince1970: end.microsecondsSince1970 + 1))),
        ]
        var fields: [(String, String)] = [("workload", "\"interaction-history\""), ("implementation", "\"playhead\""), ("events", "\(head)")]
        if let ingestSeconds {
            fields.append(("ingest_seconds", String(format: "%.3f", ingestSeconds)))
            fields.append(("ingest_events_per_second", "\(Int(Double(head) / max(ingestSeconds, 1e-9)))"))
        }
        var newestP99 = 0.0
        for shape in shapes {
            var latencies: [Double] = []
            var total = 0
            for _ in 0..<self.queries {
                let started = ContinuousClock.now
                total = try queries.history(shape.filter, limit: 50, offset: 0).total
                latencies.append((ContinuousClock.now - started).seconds * 1_000_000)
            }
            latencies.sort()
            if shape.name == "newest" { newestP99 = percentile(latencies, 0.99) }
            fields.append(("\(shape.name)_total", "\(total)"))
            fields.append(("\(shape.name)_p50_us", String(format: "%.1f", percentile(latencies, 0.5))))
            fields.append(("\(shape.name)_p99_us", String(format: "%.1f", percentile(latencies, 0.99))))
        }
        let scanStarted = ContinuousClock.now
        var all: [Interaction] = []
        try queries.forEach(user: user) { all.append($0) }
        all.sort { $0.createdAt > $1.createdAt }
        let scanMillis = (ContinuousClock.now - scanStarted).seconds * 1_000
        fields += [
            ("baseline", "\"the newest page from reading all the user's interactions\""), ("scan_ms", String(format: "%.1f", scanMillis)),
            ("scan_to_newest_p99_ratio", String(format: "%.0f", scanMillis * 1_000 / max(newestP99, 1e-9))),
        ]
        await store.close()
        print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    }
}
