import ArgumentParser
import EventLog
import Foundation
import Projections

/// `playhead verify`: checks every record and index entry; exits 1 naming the first bad position.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every checksum, that positions are contiguous and every stream index entry is consistent.",
        discussion: """
            Exits 0 when the store is sound, 1 naming the first bad position otherwise. With \
            --projections, also folds the log into a scratch views environment and compares it \
            with the live views key by key, at the position the live views have applied.
            """
    )

    @OptionGroup var store: StoreOptions

    @Flag(help: "Also rebuild the projections into a scratch environment and compare them with the live ones.")
    var projections = false

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
        if projections { try verifyProjections(log) }
    }

    /// Folds the log into a scratch environment up to the live views' checkpoint and compares
    /// the two; when the live views moved on meanwhile (a running server), the scratch views
    /// follow and the comparison is made again.
    private func verifyProjections(_ log: LMDBEventLog) throws {
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        guard FileManager.default.fileExists(atPath: location.current() + "/data.mdb") else {
            // Nothing to compare, and verify must not create views: `serve` or `rebuild` does.
            print("verify: no views yet at \(location.current()) (serve or rebuild makes them)")
            return
        }
        let live = try InlineProjections(directory: location.current(), projectors: PlayheadStore.projectors, readOnly: true)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-verify-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var through = try live.appliedPosition()
        for _ in 0..<10 {
            try log.withReader { reader in
                _ = try InlineProjections.build(directory: scratch, projectors: PlayheadStore.projectors, from: reader, through: through)
            }
            let (position, differences) = try live.differences(from: scratch)
            guard position == through else {
                through = position
                continue
            }
            if let first = differences.first {
                for difference in differences { printError("verify: projections differ: \(difference)") }
                printError("verify: FAILED: the live views differ from a rebuild at position \(position) (first: \(first))")
                throw ExitCode(1)
            }
            let head = try log.head
            print(
                "verify: OK: projections (\(PlayheadStore.projectors.map(\.name).joined(separator: ", "))) equal a rebuild at position \(position) of \(head)"
            )
            return
        }
        printError("verify: the live views kept moving; run it again when the server is quieter")
        throw ExitCode(1)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
