import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import PostgresLog
import Synchronization
import Views
import WatchDomain

/// `playhead export`: the log as NDJSON, one event per line.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the log as NDJSON (Docs/events.md), from --from to --to inclusive.",
        discussion: """
            Importing an export into an empty store and exporting again gives the same bytes. \
            Shows a progress bar on standard error when that is a terminal (and the output is not).
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var postgres: PostgresLogOption

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
        if let url = postgres.resolved { return try await exportPostgres(url) }
        try CrashGuard.runGuarded("export")
        let log = try store.openLog(.readOnly)
        let last = try min(to ?? .max, log.head)
        let file = try output.map(OutputFile.init(creating:)) ?? .standardOutput()
        let started = ContinuousClock.now
        let total = last >= from ? last - from + 1 : 0
        // Not over the output itself, when that is the same terminal.
        let bar = ProgressBar(total: total, label: "export", enabled: output != nil || !file.isTerminal)
        let written: Int
        do {
            written = try EventLine.write(from: log, first: from, last: last, to: file) { bar.advance(by: UInt64($0)) }
        } catch let damage as RecordFormatError {
            bar.finish()
            printError(
                "export: stopped: the log is damaged at position \(damage.position): \(damage.reason); the export is "
                    + "incomplete. See Docs/operations.md, \"A damaged log\"."
            )
            throw ExitCode(1)
        }
        bar.finish()
        if let output {
            let seconds = (ContinuousClock.now - started).seconds
            printError("export: \(written) events to \(output) in \(String(format: "%.2f", seconds)) s")
        }
    }
}

extension ExportCommand {
    /// `export --log postgres://…`: the same lines, read from the PostgreSQL log.
    private func exportPostgres(_ url: String) async throws {
        let log = try await postgres.open(url)
        let file = try output.map(OutputFile.init(creating:)) ?? .standardOutput()
        let started = ContinuousClock.now
        let head = try await log.currentHead()
        let last = min(to ?? .max, head)
        let bar = ProgressBar(total: last >= from ? last - from + 1 : 0, label: "export", enabled: output != nil || !file.isTerminal)
        let written: Int
        do {
            written = try await PostgresLogCommands.export(log, first: from, last: last, to: file, progress: bar)
        } catch {
            bar.finish()
            await log.close()
            throw RuntimeError("export: stopped: \(error)")
        }
        bar.finish()
        await log.close()
        if let output {
            printError("export: \(written) events to \(output) in \(String(format: "%.2f", (ContinuousClock.now - started).seconds)) s")
        }
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
            is wrong, nothing is imported and the error names the line. Needs the store to \
            itself: stop the server first. Shows a progress bar on standard error when that is \
            a terminal.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var postgres: PostgresLogOption

    @Argument(help: "The NDJSON file.")
    var file: String

    @Option(help: "Events per durable append.")
    var batchSize = 10_000

    @Option(help: "MiB of checked events to keep in memory, so that they need not be read again to be appended.")
    var checkMemory = 512

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard checkMemory >= 0 else { throw ValidationError("--check-memory must be at least 0") }
    }

    func run() async throws {
        let input = try InputFile(path: file)
        if let url = postgres.resolved {
            let log = try await postgres.open(url)
            try await importChecked(input, into: log, lastRecordedAt: { try await log.lastRecordedAt() }, close: { await log.close() })
        } else {
            let log = try store.openLog(.readWrite)
            try await importChecked(input, into: log, lastRecordedAt: { try log.statistics().lastRecordedAt }, close: { await log.close() })
        }
    }

    /// Checks the whole file against the log's last recorded-at, then appends it in batches of
    /// `--batch-size` (on a PostgreSQL log, each one transaction); closes the log either way.
    private func importChecked(
        _ input: InputFile,
        into log: some EventStore,
        lastRecordedAt: () async throws -> Timestamp?,
        close: () async -> Void
    ) async throws {
        let started = ContinuousClock.now
        let checked: EventImport.CheckedFile
        do {
            checked = try EventImport.check(input.bytes, after: try await lastRecordedAt(), memoryBudget: checkMemory << 20)
        } catch {
            await close()
            throw RuntimeError("import: nothing imported: \(error)")
        }
        let count = checked.events
        let imported: ClosedRange<LogPosition>?
        do {
            imported = try await EventImport.append(checked, from: input.bytes, to: log, batchSize: batchSize)
        } catch {
            // Earlier batches are durable: say exactly what is in the log now.
            await close()
            let done = error.imported.map { "\($0.count) events at positions \($0.lowerBound)...\($0.upperBound)" } ?? "nothing"
            throw RuntimeError("import: stopped after importing \(done): \(error.cause)")
        }
        await close()
        let seconds = (ContinuousClock.now - started).seconds
        let range = imported.map { " at positions \($0.lowerBound)...\($0.upperBound)" } ?? ""
        printError("import: \(count) events\(range) in \(String(format: "%.2f", seconds)) s")
    }
}
