import ArgumentParser
import EventLog
import Foundation
import WatchDomain

/// `playhead export`: the log as NDJSON, one event per line.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the log as NDJSON (Docs/events.md), from --from to --to inclusive.",
        discussion: "Importing an export into an empty store and exporting again gives the same bytes."
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "The first position to export.")
    var from: UInt64 = 1

    @Option(help: "The last position to export (default: the head).")
    var to: UInt64?

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    func validate() throws {
        if let to, to < from { throw ValidationError("--to (\(to)) is before --from (\(from))") }
    }

    func run() async throws {
        let log = try store.openLog(.readOnly)
        let last = try min(to ?? .max, log.head)
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                throw ValidationError("cannot create \(output)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            handle = FileHandle.standardOutput
        }
        do {
            try EventLine.write(from: log, first: from, last: last, to: handle)
        } catch let damage as RecordFormatError {
            printError(
                "export: stopped: the log is damaged at position \(damage.position): \(damage.reason); the export is "
                    + "incomplete. See Docs/operations.md, \"A damaged log\"."
            )
            throw ExitCode(1)
        }
        if output != nil { try handle.close() }
    }
}

/// `playhead import FILE`: appends an NDJSON export, keeping ids and recorded-at times.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Append the events of an NDJSON file (as export writes it), keeping their ids and recorded-at times.",
        discussion: """
            The whole file is checked first: every line must parse, and recorded-at times must \
            not go back, neither within the file nor before the store's last event. If anything \
            is wrong, nothing is imported and the error names the line.
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The NDJSON file.")
    var file: String

    @Option(help: "Events per durable append.")
    var batchSize = 10_000

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() async throws {
        let log = try store.openLog(.readWrite)
        let started = ContinuousClock.now
        let count: Int
        do {
            count = try check(after: try log.statistics().lastRecordedAt)
        } catch let error as EventLineError {
            await log.close()
            printError("import: nothing imported: \(error)")
            throw ExitCode(1)
        }
        var batch: [ProposedEvent] = []
        batch.reserveCapacity(min(batchSize, count))
        var imported: ClosedRange<LogPosition>?
        func flush() async throws {
            guard !batch.isEmpty else { return }
            let result = try await log.append(AppendRequest(events: batch))
            imported = (imported?.lowerBound ?? result.positions.lowerBound)...result.positions.upperBound
            batch.removeAll(keepingCapacity: true)
        }
        do {
            try await forEachEvent { event in
                batch.append(event)
                if batch.count >= batchSize { try await flush() }
            }
            try await flush()
        } catch {
            // Earlier batches are durable: say exactly what is in the store now.
            await log.close()
            let done = imported.map { "\($0.count) events at positions \($0.lowerBound)...\($0.upperBound)" } ?? "nothing"
            printError("import: stopped after importing \(done): \(error)")
            throw ExitCode(1)
        }
        await log.close()
        let seconds = (ContinuousClock.now - started).seconds
        let range = imported.map { " at positions \($0.lowerBound)...\($0.upperBound)" } ?? ""
        printError("import: \(count) events\(range) in \(String(format: "%.2f", seconds)) s")
    }

    /// Reads the whole file once: every line parses and recorded-at never goes back.
    private func check(after storeLast: Timestamp?) throws -> Int {
        var count = 0
        var previous = storeLast
        var lineNumber = 0
        let reader = try LineReader(path: file)
        while let line = reader.next() {
            lineNumber += 1
            if line.isEmpty { continue }
            let event = try EventLine.decode(line, lineNumber: lineNumber)
            if let previous, let recordedAt = event.recordedAt, recordedAt < previous {
                throw EventLineError(
                    line: lineNumber,
                    field: "recordedAt",
                    reason: "\(ISO8601Micros.format(recordedAt)) goes back before \(ISO8601Micros.format(previous))"
                        + (count == 0 && storeLast != nil ? ", the store's last event" : "")
                )
            }
            previous = event.recordedAt
            count += 1
        }
        return count
    }

    private func forEachEvent(_ body: (ProposedEvent) async throws -> Void) async throws {
        let reader = try LineReader(path: file)
        var lineNumber = 0
        while let line = reader.next() {
            lineNumber += 1
            if line.isEmpty { continue }
            try await body(try EventLine.decode(line, lineNumber: lineNumber))
        }
    }
}
