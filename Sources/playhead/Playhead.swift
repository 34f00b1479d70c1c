import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadBench
import PlayheadCore
import Views

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
            ReplayCommand.self,
            QueryCommand.self,
            ExportCommand.self,
            ImportCommand.self,
            BenchCommand.self,
            DemoCommand.self,
            AppendLoopCommand.self,
        ]
    )

    /// Parses the arguments and runs the command, telling usage errors from runtime errors.
    ///
    /// A usage error (an unknown option, a value `validate()` refuses) prints the message
    /// and the usage and exits 64. A runtime error prints one line, `Error: ` and the
    /// error's description, and exits 1, without the usage: a `ValidationError` thrown by a
    /// command's `run()` counts as a runtime error too, since the arguments were fine.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                var command = command
                try command.run()
            }
        } catch let error as ValidationError {
            exit(withError: RuntimeError(error.message))
        } catch {
            exit(withError: error)
        }
    }
}

/// A command that could not do its work: what is wrong and what to do, on one line.
struct RuntimeError: Error, CustomStringConvertible {
    /// The message, e.g. "there is no Playhead store at data/store; create one with `playhead init`".
    var message: String

    init(_ message: String) { self.message = message }

    var description: String { message }
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

    /// The log's head, read from the log opened read-only (also while `serve` runs).
    func logHead() async throws -> LogPosition {
        let log = try openLog(.readOnly)
        let head = try log.head
        await log.close()
        return head
    }

    /// Opens the log.
    ///
    /// - Throws: ``RuntimeError`` saying what is wrong with the store and what to do: none
    ///   there (`playhead init` makes one), another process writing it (stop it), a directory
    ///   that is not a store, a log of a newer format.
    func openLog(_ mode: LMDBEventLog.OpenMode, configuration: LMDBEventLog.Configuration = .init()) throws -> LMDBEventLog {
        if mode == .readWrite && LMDBEventLog.hasWriter(directory: logDirectory) {
            throw storeInUse()
        }
        do {
            return try LMDBEventLog(directory: logDirectory, mode: mode, configuration: configuration)
        } catch let error as EventLogError {
            throw explain(error)
        }
    }

    /// The error for a store another process has open for writing.
    func storeInUse() -> RuntimeError {
        RuntimeError(
            "another process has the log at \(logDirectory) open for writing (a running `playhead serve`, `import` or bench); "
                + "stop it first, or choose another store with --data-dir"
        )
    }

    /// `error`, from opening this store, with what to do about it.
    func explain(_ error: EventLogError) -> RuntimeError {
        let store = resolvedDataDirectory
        switch error.code {
        case .notALog
        where !FileManager.default.fileExists(atPath: logDirectory + "/data.mdb")
            && error.message.hasPrefix("there is no Playhead log"):
            return RuntimeError(
                "there is no Playhead log at \(logDirectory); create the store with `playhead init --data-dir \(store)`, "
                    + "or choose an existing one with --data-dir"
            )
        case .notALog:
            return RuntimeError("\(error.message); choose a Playhead store with --data-dir")
        case .newerFormat:
            return RuntimeError("\(error.message); run a newer playhead on this store")
        case .storage where error.message.hasPrefix("another process has the log"):
            return storeInUse()
        default:
            return RuntimeError("\(error.message) (store \(store))")
        }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
