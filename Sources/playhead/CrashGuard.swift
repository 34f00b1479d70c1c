import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command that reads the log in a child process of the same binary, so that damage
/// LMDB does not survive (an assertion that aborts on a zeroed page) ends in a report and
/// exit 1, never in a crash (issue 11). The child's standard streams are this process's, so
/// its output, progress bar and errors reach the user as they happen.
enum CrashGuard {
    /// Set in the child's environment: it does the work itself.
    static let childVariable = "PLAYHEAD_GUARDED"

    /// Returns in the process that is to do the work: the child, or when guarding is off.
    /// In the parent, runs the child with the same arguments, passes SIGINT, SIGTERM and
    /// SIGHUP on to it, and exits with its status; a child that died of another signal is
    /// reported as damage (exit 1).
    ///
    /// - Parameter command: the command's name, for the report (`export`).
    static func runGuarded(_ command: String) throws {
        let environment = ProcessInfo.processInfo.environment
        if environment[childVariable] != nil {
            IsolatedCheck.stopWithParent()
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: IsolatedCheck.executable)
        process.arguments = Array(CommandLine.arguments.dropFirst())
        var childEnvironment = environment
        childEnvironment[childVariable] = "1"
        childEnvironment[IsolatedCheck.parentVariable] = "\(getpid())"
        // An abort there is expected damage, not a bug to backtrace.
        childEnvironment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = childEnvironment
        try process.run()
        let child = process.processIdentifier
        var forwarders: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { kill(child, signalNumber) }
            source.resume()
            forwarders.append(source)
        }
        process.waitUntilExit()
        for forwarder in forwarders { forwarder.cancel() }
        guard process.terminationReason == .uncaughtSignal else { throw ExitCode(process.terminationStatus) }
        let signalNumber = process.terminationStatus
        if [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGKILL].contains(signalNumber) { throw ExitCode(128 + signalNumber) }
        FileHandle.standardError.write(
            Data(
                ("\(command): stopped: the log's data file is damaged where LMDB cannot read it (the read ended with signal "
                    + "\(signalNumber)); what was written before this is incomplete. `playhead verify` says where; see "
                    + "Docs/operations.md, \"A damaged log\".\n").utf8
            )
        )
        throw ExitCode(1)
    }
}
