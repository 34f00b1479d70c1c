import ArgumentParser
import EventLog
import Foundation

/// The `playhead` command line.
@main
struct Playhead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "playhead",
        abstract: "Playhead: an event-sourced backend for recording and understanding how people watch video.",
        subcommands: [
            ServeCommand.self,
            TokenCommand.self,
            InitCommand.self,
            StatsCommand.self,
            VerifyCommand.self,
            RebuildCommand.self,
            TailCommand.self,
            ExportCommand.self,
            ImportCommand.self,
            BenchCommand.self,
            AppendLoopCommand.self,
        ]
    )
}

/// Where the store lives: `--data-dir`, else `PLAYHEAD_DATA_DIR`, else `data/store`.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The store's directory (default: $PLAYHEAD_DATA_DIR, else data/store).")
    var dataDirectory: String?

    /// The store directory.
    var resolvedDataDirectory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["PLAYHEAD_DATA_DIR"] ?? "data/store"
    }

    /// The event log's directory inside the store.
    var logDirectory: String { resolvedDataDirectory + "/log" }

    /// Opens the log; a missing or foreign store is a clean error, not a trap.
    func openLog(_ mode: LMDBEventLog.OpenMode, configuration: LMDBEventLog.Configuration = .init()) throws -> LMDBEventLog {
        do {
            return try LMDBEventLog(directory: logDirectory, mode: mode, configuration: configuration)
        } catch let error as EventLogError {
            throw ValidationError(error.message)
        }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
