import ArgumentParser
import EventLog
import Foundation

/// `playhead verify`: checks every record and index entry; exits 1 naming the first bad position.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every checksum, that positions are contiguous and every stream index entry is consistent.",
        discussion: "Exits 0 when the store is sound, 1 naming the first bad position otherwise."
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let log = try store.openLog(.readOnly)
        let started = ContinuousClock.now
        let report = try log.verify()
        let seconds = (ContinuousClock.now - started).seconds
        if let problem = report.problem {
            printError("verify: FAILED at \(problem)")
            printError("verify: \(report.eventsChecked) events were sound before it")
            throw ExitCode(1)
        }
        print(
            "verify: OK: \(report.eventsChecked) events, \(report.streamsChecked) streams, "
                + "\(report.checkpointsChecked) stream checkpoints checked in \(String(format: "%.2f", seconds)) s"
        )
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
