import ArgumentParser
import EventLog
import Foundation
import LMDBKit
import LMDBLog
import PlayheadCore
import PostgresLog
import Projections
import Views

#if canImport(Glibc)
import Glibc
#endif

/// `playhead verify`: checks the data file's structure, every record and every index entry;
/// exits 1 naming the first damage.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the data file's structure, every checksum, that positions are contiguous and every stream index entry is consistent.",
        discussion: """
            Exits 0 when the store is sound, 1 naming the first damage otherwise (a position, \
            or a page of data.mdb). The check runs in a child process, so that damage LMDB \
            itself cannot survive is reported, not a crash. With --projections, also folds the \
            log into a scratch views environment and compares it with the live views key by \
            key, at the position the live views have applied.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var postgres: PostgresLogOption

    @Flag(help: "Also rebuild the projections into a scratch environment and compare them with the live ones.")
    var projections = false

    @Flag(help: .hidden)
    var inProcess = false

    @Flag(help: .hidden)
    var byteMap = false

    func run() async throws {
        if byteMap { return try printByteMap() }
        if let url = postgres.resolved { return try await verifyPostgres(url) }
        guard inProcess else {
            // No store at all is the user's mistake, said as every command says it, not damage.
            if !FileManager.default.fileExists(atPath: store.logDirectory) {
                throw store.explain(EventLogError(.notALog, "there is no Playhead log at \(store.logDirectory)"))
            }
            var arguments = ["verify", "--in-process", "--data-dir", store.resolvedDataDirectory]
            if projections { arguments.append("--projections") }
            let outcome = try IsolatedCheck.run(arguments, captureOutput: false)
            FileHandle.standardError.write(Data(outcome.stderr.utf8))
            if let failure = outcome.failure {
                printError("verify: FAILED: \(failure)")
                throw ExitCode(1)
            }
            if outcome.status != 0 { throw ExitCode(outcome.status) }
            return
        }
        IsolatedCheck.stopWithParent()
        do {
            try await verify()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("verify: FAILED: \(error)")
            throw ExitCode(1)
        }
    }

    private func verify() async throws {
        let log: LMDBEventLog
        do {
            log = try LMDBEventLog(directory: store.logDirectory, mode: .readOnly)
        } catch {
            // Opening reads the log through LMDB. When that fails on a damaged file, the
            // structure check, which reads the file itself, says where.
            let message = (error as? EventLogError)?.message ?? "\(error)"
            let damage = (error as? EventLogError)?.code == .alreadyOpen ? nil : LMDBEventLog.structureDamage(directory: store.logDirectory)
            printError("verify: FAILED: " + (damage.map { "the LMDB structure of data.mdb is damaged: \($0)" } ?? message))
            throw ExitCode(1)
        }
        let started = ContinuousClock.now
        let report = try log.verify()
        let seconds = (ContinuousClock.now - started).seconds
        if let problem = report.problem {
            if problem.position > 0 {
                printError("verify: FAILED at \(problem)")
                printError("verify: \(report.eventsChecked) events were sound before it")
            } else {
                printError("verify: FAILED: \(problem)")
            }
            throw ExitCode(1)
        }
        print(
            "verify: OK: \(report.eventsChecked) events, \(report.streamsChecked) streams, "
                + "\(report.checkpointsChecked) stream checkpoints, \(report.pagesChecked) pages checked in \(String(format: "%.2f", seconds)) s"
        )
        if projections {
            try await ViewsMaintenance.verify(
                ViewsLocation(store: store.resolvedDataDirectory),
                whose: "live",
                server: "server",
                makers: "serve or rebuild",
                fold: { directory, projectors, through in
                    try log.withReader { _ = try InlineProjections.build(directory: directory, projectors: projectors, from: $0, through: through) }
                },
                head: { try log.head }
            )
        }
    }

    /// `verify --log postgres://…`: PostgreSQL's own counts of the log's rules and, with
    /// --projections, the node's views (the data directory) against a rebuild.
    private func verifyPostgres(_ url: String) async throws {
        let log = try await postgres.open(url)
        do {
            let started = ContinuousClock.now
            let (events, streams, problems) = try await PostgresLogCommands.verify(log)
            guard problems.isEmpty else {
                for problem in problems { printError("verify: FAILED: \(problem)") }
                throw ExitCode(1)
            }
            print("verify: OK: \(events) events, \(streams) streams checked in \(String(format: "%.2f", (ContinuousClock.now - started).seconds)) s")
            if projections {
                try await ViewsMaintenance.verify(
                    ViewsLocation(store: store.resolvedDataDirectory),
                    whose: "node's",
                    server: "node",
                    makers: "serve --log or rebuild --log",
                    fold: { directory, projectors, through in
                        try await PlayheadNode.fold(log, into: directory, projectors: projectors, through: through)
                    },
                    head: { try await log.currentHead() }
                )
            }
        } catch {
            await log.close()
            if let exit = error as? ExitCode { throw exit }
            printError("verify: FAILED: \(error)")
            throw ExitCode(1)
        }
        await log.close()
    }

    /// Prints how every byte of the log's data file is used, one range a line: offset,
    /// length, use (`checked`, `separator`, `freelist-txnid`, `unprotected`, `unused`) and
    /// what the bytes are. `tools/flip-bytes` picks its offsets from it.
    private func printByteMap() throws {
        let log: LMDBEventLog
        do {
            log = try LMDBEventLog(directory: store.logDirectory, mode: .readOnly)
        } catch let error as EventLogError {
            printError("verify: \(error.message)")
            throw ExitCode(1)
        }
        var ranges: [(offset: UInt64, count: Int, use: String, what: String)] = []
        try log.mapDataFile { range in ranges.append((range.offset, range.count, range.use.name, range.what)) }
        ranges.sort { $0.offset < $1.offset }
        var text = ""
        for range in ranges {
            text += "\(range.offset) \(range.count) \(range.use) \(range.what)\n"
            if text.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(text.utf8))
                text = ""
            }
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Runs a check of the log in a child process (this binary, `verify --in-process`), so that
/// damage LMDB does not survive (an assertion that aborts, a page it reads past the end of
/// the file) ends the child, and the caller reports it instead of crashing.
enum IsolatedCheck {
    /// The environment variable that names the parent, so that the child stops with it.
    static let parentVariable = "PLAYHEAD_CHECK_PARENT"

    /// How a check ended.
    struct Outcome {
        /// The exit status, when the child exited.
        var status: Int32
        /// What the child printed on standard output, when captured.
        var stdout: String
        /// What the child printed on standard error.
        var stderr: String
        /// Why the check failed without exiting (a signal), for a message; nil when it exited.
        var failure: String?
    }

    /// Runs this binary with `arguments` and waits for it. Its standard output is captured
    /// when `captureOutput`, else it goes to this process's.
    /// This binary's path, to run it again as a child.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func run(_ arguments: [String], captureOutput: Bool) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment[parentVariable] = "\(getpid())"
        // A crash here is expected damage, not a bug to backtrace.
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let errors = Pipe()
        let output = Pipe()
        process.standardError = errors
        process.standardOutput = captureOutput ? output : FileHandle.standardOutput
        try process.run()
        // Read both pipes to their ends before waiting, so that the child never blocks on a full one.
        let collected = OutputCollector(output: captureOutput ? output.fileHandleForReading : nil)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stdout = collected.finish()
        process.waitUntilExit()
        guard process.terminationReason == .uncaughtSignal else {
            return Outcome(status: process.terminationStatus, stdout: stdout, stderr: stderr, failure: nil)
        }
        let signal = process.terminationStatus
        let name = signalNames[signal].map { "SIG\($0)" } ?? "signal \(signal)"
        let assertion = stderr.split(separator: "\n").last { $0.contains("Assertion") }
        let failure: String
        switch signal {
        case SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGPIPE:
            failure = "the check was stopped by \(name) before it finished"
        default:
            failure =
                "the check of the log died of \(name)"
                + (assertion.map { " on an LMDB assertion (\($0))" } ?? "")
                + ": the data file is damaged in a way LMDB does not survive. See Docs/operations.md, \"A damaged log\""
        }
        return Outcome(status: 1, stdout: stdout, stderr: stderr, failure: failure)
    }

    private static let signalNames: [Int32: String] = [
        SIGABRT: "ABRT", SIGBUS: "BUS", SIGSEGV: "SEGV", SIGFPE: "FPE", SIGILL: "ILL", SIGTRAP: "TRAP", SIGKILL: "KILL",
        SIGTERM: "TERM", SIGINT: "INT", SIGHUP: "HUP", SIGPIPE: "PIPE",
    ]

    /// In the child: ends this process if the parent that started it goes away (killed), so
    /// that a check never outlives the command that asked for it.
    static func stopWithParent() {
        guard let text = ProcessInfo.processInfo.environment[parentVariable], let parent = pid_t(text) else { return }
        let watcher = Thread {
            while getppid() == parent { usleep(100_000) }
            _exit(1)
        }
        watcher.start()
    }

    /// Reads a pipe to its end on its own thread.
    private final class OutputCollector: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        private let reading: Bool

        init(output: FileHandle?) {
            reading = output != nil
            guard let output else { return }
            Thread { [self] in
                data = output.readDataToEndOfFile()
                done.signal()
            }.start()
        }

        func finish() -> String {
            guard reading else { return "" }
            done.wait()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
