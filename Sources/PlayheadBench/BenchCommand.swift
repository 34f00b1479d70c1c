public import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Synchronization

/// `playhead bench`: the built-in workloads, one JSON object per run on standard output.
///
/// The `playhead` command line registers it as a subcommand; the workloads are its
/// subcommands, each in this module.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark workload and print one JSON object with its figures.",
        discussion: "tools/bench-log runs these next to raw liblmdb in the same run and prints the ratios.",
        subcommands: [
            AppendBench.self, ScanBench.self, ReadBench.self, ExportBench.self, RebuildBench.self, ProgressBench.self, InteractionsBench.self,
            PartyLogBench.self, ReplayBench.self, VideoAnalyticsBench.self, PostgresBench.self,
        ]
    )

    public init() {}
}

/// Options shared by the workloads.
struct WorkloadOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Events to append.")
    var events = 2_000_000

    @Option(help: "Events per append request.")
    var batchSize = 10_000

    @Option(help: "Payload bytes per event.")
    var eventSize = 200

    @Option(help: "Streams the events are spread over at random.")
    var streams = 10_000

    @Option(help: "Concurrent callers; each appends its share of the events.")
    var callers = 1

    func validate() throws {
        guard events >= 1, batchSize >= 1, eventSize >= 0, streams >= 1, callers >= 1 else {
            throw ValidationError("--events, --batch-size, --streams and --callers must be at least 1")
        }
    }

    /// Runs `body` on the log directory, removing a temporary one afterwards.
    func withLogDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        if let dataDirectory { return try await body(dataDirectory + "/log") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory + "/log")
    }
}

/// Appends generated events through the full `LMDBEventLog` API.
struct AppendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append events in batches through the event log API (durable commits)."
    )

    @OptionGroup var options: WorkloadOptions

    func run() async throws {
        try await options.withLogDirectory { directory in
            let result = try await Self.measure(options, directory: directory)
            print(result.json)
        }
    }

    /// Appends `options.events` events into the log at `directory` and reports the figures.
    static func measure(_ options: WorkloadOptions, directory: String) async throws -> BenchResult {
        let commits = Mutex<[Double]>([])
        var configuration = LMDBEventLog.Configuration()
        configuration.commitObserver = { report in
            commits.withLock { $0.append(report.duration.seconds * 1000) }
        }
        let log = try LMDBEventLog(directory: directory, mode: .readWrite, configuration: configuration)
        let generator = EventGenerator(options: options)
        let requestsPerCaller = (options.events / options.batchSize + options.callers - 1) / options.callers
        // A handful of distinct requests per caller, built before the clock starts, reused in turn.
        let templates = (0..<options.callers).map { caller in generator.requests(count: min(requestsPerCaller, 8), seed: UInt64(caller)) }

        let started = ContinuousClock.now
        let appended = try await withThrowingTaskGroup(of: Int.self) { group in
            for caller in 0..<options.callers {
                group.addTask {
                    var events = 0
                    let mine = templates[caller]
                    for index in 0..<requestsPerCaller {
                        let result = try await log.append(mine[index % mine.count])
                        events += result.positions.count
                    }
                    return events
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = (ContinuousClock.now - started).seconds
        await log.close()
        let recordBytes = try log.withReader { reader in try reader.record(at: 1)?.bytes.count ?? 0 }
        let durations = commits.withLock { $0 }.sorted()
        return BenchResult(
            workload: "append",
            events: appended,
            eventBytes: options.eventSize,
            recordBytes: recordBytes,
            streams: options.streams,
            batchSize: options.batchSize,
            callers: options.callers,
            seconds: seconds,
            payloadMegabytes: Double(appended * options.eventSize) / 1e6,
            commitP50: percentile(durations, 0.50),
            commitP99: percentile(durations, 0.99),
            commits: durations.count
        )
    }
}

/// Scans the whole log, decoding each record's header.
struct ScanBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Scan the log from the first event, decoding each header (one warm-up pass, median of three)."
    )

    @OptionGroup var options: WorkloadOptions

    @Option(help: "Timed passes; the median is reported.")
    var passes = 3

    func run() async throws {
        try await options.withLogDirectory { directory in
            if !FileManager.default.fileExists(atPath: directory + "/data.mdb") {
                _ = try await AppendBench.measure(options, directory: directory)
            }
            let log = try LMDBEventLog(directory: directory, mode: .readOnly)
            var times: [Double] = []
            var events = 0
            var bytes = 0
            for pass in 0...max(1, passes) {
                let started = ContinuousClock.now
                (events, bytes) = try Self.scan(log)
                if pass > 0 { times.append((ContinuousClock.now - started).seconds) }
            }
            times.sort()
            let seconds = times[times.count / 2]
            print(
                BenchResult(
                    workload: "scan",
                    events: events,
                    eventBytes: nil,
                    recordBytes: events > 0 ? bytes / events : 0,
                    streams: nil,
                    batchSize: nil,
                    callers: nil,
                    seconds: seconds,
                    payloadMegabytes: Double(bytes) / 1e6,
                    commitP50: nil,
                    commitP99: nil,
                    commits: nil
                ).json
            )
        }
    }

    /// One pass: the header fields a projection dispatches on, decoded from every record.
    static func scan(_ log: LMDBEventLog) throws -> (events: Int, bytes: Int) {
        try log.withReader { reader in
            var events = 0
            var bytes = 0
            var checksum: UInt64 = 0
            try reader.visit(from: 1) { record in
                events += 1
                bytes += record.bytes.count
                checksum &+= record.streamVersion &+ UInt64(bitPattern: record.recordedAt.microsecondsSince1970)
                checksum &+= UInt64(record.typeBytes.count &+ record.streamBytes.count &+ record.payload.count)
                return true
            }
            if checksum == 42 { printError("") }  // keeps the decode from being optimised away
            return (events, bytes)
        }
    }
}

/// Reads streams: their info, whole streams forward, and the newest events backward.
struct ReadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read streams (info, whole streams forward, newest 10 backward) from a store append writes first.",
        discussion: "Prints one JSON object per read pattern, each the median of three passes over every stream."
    )

    @OptionGroup var options: WorkloadOptions

    func run() async throws {
        try await options.withLogDirectory { directory in
            if !FileManager.default.fileExists(atPath: directory + "/data.mdb") {
                _ = try await AppendBench.measure(options, directory: directory)
            }
            let log = try LMDBEventLog(directory: directory, mode: .readOnly)
            let streams = (0..<options.streams).map { String(format: "stream-%06d", $0) }
            // The baseline: the same events in log order, copied the same way (one pass per stream count of them).
            let head = try log.head
            let chunk = Int(max(1, head / UInt64(streams.count)))
            let patterns: [(String, (String) throws -> Int)] = [
                (
                    "log-order-copied",
                    { stream in
                        let index = Int(stream.suffix(6)) ?? 0
                        return try log.read(from: UInt64(index * chunk + 1), limit: chunk).count
                    }
                ),
                ("stream-info", { stream in try log.streamInfo(stream).version > 0 ? 1 : 0 }),
                ("stream-forward", { stream in try log.readStream(stream, from: 1, limit: .max).count }),
                ("stream-newest-10", { stream in try log.readStream(stream, from: .max, direction: .backward, limit: 10).count }),
            ]
            for (name, read) in patterns {
                var times: [Double] = []
                var events = 0
                for pass in 0...3 {
                    let started = ContinuousClock.now
                    events = 0
                    for stream in streams { events += try read(stream) }
                    if pass > 0 { times.append((ContinuousClock.now - started).seconds) }
                }
                times.sort()
                let seconds = times[1]
                print(
                    "{\"workload\":\"\(name)\",\"implementation\":\"playhead\",\"streams\":\(streams.count),"
                        + "\"events\":\(events),\"seconds\":\(String(format: "%.6f", seconds)),"
                        + "\"reads_per_second\":\(Int(Double(streams.count) / max(seconds, 1e-9))),"
                        + "\"events_per_second\":\(Int(Double(events) / max(seconds, 1e-9)))}"
                )
            }
        }
    }
}

/// One benchmark run's figures, printed as a JSON object with the keys of tools/lmdb-raw-bench.c.
struct BenchResult {
    var workload: String
    var events: Int
    var eventBytes: Int?
    var recordBytes: Int
    var streams: Int?
    var batchSize: Int?
    var callers: Int?
    var seconds: Double
    var payloadMegabytes: Double
    var commitP50: Double?
    var commitP99: Double?
    var commits: Int?

    var json: String {
        var fields: [(String, String)] = [("workload", "\"\(workload)\""), ("implementation", "\"playhead\""), ("events", "\(events)")]
        if let eventBytes { fields.append(("event_bytes", "\(eventBytes)")) }
        fields.append(("record_bytes", "\(recordBytes)"))
        if let streams { fields.append(("streams", "\(streams)")) }
        if let batchSize { fields.append(("batch_size", "\(batchSize)")) }
        if let callers { fields.append(("callers", "\(callers)")) }
        if workload == "append" { fields.append(("durable", "true")) }
        fields.append(("seconds", String(format: "%.6f", seconds)))
        fields.append(("events_per_second", "\(Int(Double(events) / max(seconds, 1e-9)))"))
        fields.append(("mb_per_second", String(format: "%.3f", payloadMegabytes / max(seconds, 1e-9))))
        if let commitP50 { fields.append(("batch_commit_p50_ms", String(format: "%.3f", commitP50))) }
        if let commitP99 { fields.append(("batch_commit_p99_ms", String(format: "%.3f", commitP99))) }
        if let commits { fields.append(("commits", "\(commits)")) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// The value at fraction `p` of sorted `values` (nearest rank), 0 when empty.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let rank = Int((p * Double(values.count)).rounded(.up)) - 1
    return values[min(max(rank, 0), values.count - 1)]
}

/// Makes benchmark requests: events spread over the streams at random, random payloads.
struct EventGenerator {
    let options: WorkloadOptions
    let streamNames: [String]

    init(options: WorkloadOptions) {
        self.options = options
        streamNames = (0..<options.streams).map { String(format: "stream-%06d", $0) }
    }

    func requests(count: Int, seed: UInt64) -> [AppendRequest] {
        var random = SplitMix64(seed: seed &+ 0x9E37_79B9)
        return (0..<max(count, 1)).map { _ in
            let events = (0..<options.batchSize).map { _ in
                let stream = streamNames[Int(random.next() % UInt64(streamNames.count))]
                var payload = [UInt8](repeating: 0, count: options.eventSize)
                for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: random.next()) }
                return ProposedEvent(type: "bench.event", stream: stream, payload: payload)
            }
            return AppendRequest(events: events)
        }
    }
}

/// A small deterministic generator for benchmark data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
