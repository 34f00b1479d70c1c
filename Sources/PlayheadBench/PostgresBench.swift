import ArgumentParser
import EventLog
import Foundation
import Logging
import PostgresLog
import PostgresNIO
import Synchronization

/// `playhead bench postgres`: appends through the PostgreSQL log against the same rows written
/// with PostgreSQL's fastest path, `COPY … FROM STDIN`, in batches of the same size, in the
/// same run, on databases of its own (created and dropped on the server `--log` names).
struct PostgresBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Append through the PostgreSQL log and COPY the same rows, in turn; print one JSON object with both and their ratio.",
        discussion: """
            Each round makes two fresh databases on the server of --log (its user must be allowed to \
            create databases), appends --events events through the log in batches of --batch-size \
            from --callers concurrent callers, and copies the same rows into a table of the same \
            columns and indexes with one COPY per batch (each its own transaction, committed). \
            Rounds alternate which goes first; the figures are the medians.
            """
    )

    @Option(name: .customLong("log"), help: "A PostgreSQL URL; the bench's databases are made on its server.")
    var url: String

    @Option(help: "Events per run.")
    var events = 200_000

    @Option(help: "Events per append (and per COPY).")
    var batchSize = 1_000

    @Option(help: "Concurrent callers (and COPY connections).")
    var callers = 4

    @Option(help: "Payload bytes per event.")
    var eventSize = 200

    @Option(help: "Rounds; the order of the two runs alternates.")
    var rounds = 3

    func validate() throws {
        guard events >= 1, batchSize >= 1, callers >= 1, rounds >= 1, eventSize >= 0 else {
            throw ValidationError("--events, --batch-size, --callers and --rounds must be at least 1")
        }
    }

    func run() async throws {
        let location = try PostgresLocation(url: url)
        var logRates: [Double] = []
        var copyRates: [Double] = []
        for round in 0..<rounds {
            let order = round % 2 == 0 ? ["log", "copy"] : ["copy", "log"]
            for side in order {
                let rate = try await withScratchDatabase(location) { scratch in
                    side == "log" ? try await appendThroughLog(scratch) : try await copyRows(scratch)
                }
                if side == "log" { logRates.append(rate) } else { copyRates.append(rate) }
                printError("bench postgres: round \(round + 1) \(side): \(Int(rate)) events/s")
            }
        }
        let log = Self.median(logRates)
        let copy = Self.median(copyRates)
        let object: [String: Any] = [
            "workload": "postgres-append", "events": events, "batchSize": batchSize, "callers": callers, "eventSize": eventSize,
            "rounds": rounds, "logEventsPerSecond": Int(log), "copyEventsPerSecond": Int(copy),
            "ratio": (log / copy * 1000).rounded() / 1000, "logRuns": logRates.map { Int($0) }, "copyRuns": copyRates.map { Int($0) },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The indexes of the events caller `caller` writes.
    private func share(_ caller: Int) -> Range<Int> {
        let per = events / callers
        let start = caller * per
        return start..<(caller == callers - 1 ? events : start + per)
    }

    private func event(_ index: Int, payload: [UInt8]) -> ProposedEvent {
        ProposedEvent(type: "bench.event", stream: "stream-\(index % 10_000)", payload: payload, actor: "bench")
    }

    private func appendThroughLog(_ url: String) async throws -> Double {
        var configuration = PostgresEventLog.Configuration()
        configuration.logger.logLevel = .warning
        configuration.operationTimeout = .seconds(60)
        let log = try await PostgresEventLog.open(PostgresLocation(url: url), configuration: configuration)
        let payload = [UInt8](repeating: 0x61, count: eventSize)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                let range = share(caller)
                group.addTask {
                    var index = range.lowerBound
                    while index < range.upperBound {
                        let end = min(range.upperBound, index + batchSize)
                        _ = try await log.append(AppendRequest(events: (index..<end).map { event($0, payload: payload) }))
                        index = end
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = (ContinuousClock.now - started).seconds
        let head = try await log.currentHead()
        await log.close()
        guard head == LogPosition(events) else { throw BenchError("the log holds \(head) events, not \(events)") }
        return Double(events) / seconds
    }

    private func copyRows(_ url: String) async throws -> Double {
        let location = try PostgresLocation(url: url)
        let logger = Logger(label: "playhead.bench.postgres")
        let setup = try await PostgresConnection.connect(configuration: location.connection, id: 0, logger: logger)
        try await setup.query(
            """
            CREATE TABLE bench_copy (position bigint PRIMARY KEY, stream text NOT NULL, stream_version bigint NOT NULL, type text NOT NULL,
                recorded_at bigint NOT NULL, occurred_at bigint, event_id uuid NOT NULL, correlation_id uuid, causation_id uuid,
                actor text NOT NULL, payload bytea NOT NULL, UNIQUE (stream, stream_version))
            """,
            logger: logger
        )
        try await setup.close()
        let payloadHex = "\\\\x" + String(repeating: "61", count: eventSize)
        let recordedAt = Timestamp.now().microsecondsSince1970
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                let range = share(caller)
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: location.connection, id: caller + 1, logger: logger)
                    var index = range.lowerBound
                    while index < range.upperBound {
                        let end = min(range.upperBound, index + batchSize)
                        var text = ""
                        text.reserveCapacity((end - index) * (eventSize * 2 + 120))
                        for position in index..<end {
                            // The row the log writes for such an event (its stream version is
                            // the position here: unique per stream, as the index needs).
                            text += "\(position + 1)\tstream-\(position % 10_000)\t\(position + 1)\tbench.event\t\(recordedAt)\t\\N"
                            text += "\t\(UUID().uuidString.lowercased())\t\\N\t\\N\tbench\t\(payloadHex)\n"
                        }
                        let buffer = ByteBuffer(string: text)
                        try await connection.copyFrom(
                            table: "bench_copy",
                            columns: PostgresEventLog.columns.components(separatedBy: ", "),
                            logger: logger
                        ) {
                            try await $0.write(buffer)
                        }
                        index = end
                    }
                    try await connection.close()
                }
            }
            try await group.waitForAll()
        }
        return Double(events) / (ContinuousClock.now - started).seconds
    }

    /// Runs `body` with the URL of a new database on the server of `location`, dropped after.
    private func withScratchDatabase<T>(_ location: PostgresLocation, _ body: (String) async throws -> T) async throws -> T {
        let logger = Logger(label: "playhead.bench.postgres")
        let name = "playhead_bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        var admin = location.connection
        admin.database = "postgres"
        func administer(_ sql: String) async throws {
            let connection = try await PostgresConnection.connect(configuration: admin, id: 0, logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            try await connection.close()
        }
        try await administer("CREATE DATABASE \(name)")
        guard var components = URLComponents(string: url) else { throw BenchError("bad URL") }
        components.path = "/" + name
        do {
            let result = try await body(components.string ?? url)
            try await administer("DROP DATABASE \(name) WITH (FORCE)")
            return result
        } catch {
            try? await administer("DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
    }
}
