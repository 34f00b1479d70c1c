import ArgumentParser
import EventLog
import EventText
import Foundation
import PlayheadCore
import Views

/// What `rebuild` and `verify --projections` do with views whatever log they are folded from:
/// the embedded store's (read through LMDB) or a node's (read from PostgreSQL in chunks).
enum ViewsMaintenance {
    /// Folds `projectors` into the views environment at the directory given, from their
    /// checkpoints through the position given.
    typealias Fold = (_ directory: String, _ projectors: [any Projector], _ through: LogPosition) async throws -> Void

    /// Writes a new views generation in `location` and publishes it: takes the rebuild lock,
    /// removes what an interrupted rebuild left, runs `fold` into the new directory (which
    /// returns how many events it folded), publishes it and prints the rate. A failure removes
    /// the new directory. Returns the generation it replaced, for the caller to remove when no
    /// server reads it.
    static func rebuild(
        _ location: ViewsLocation,
        head: LogPosition,
        fold: (_ target: String, _ bar: ProgressBar) async throws -> Int
    ) async throws -> String {
        let lock: RebuildLock
        do {
            lock = try location.lockRebuilds()
        } catch let busy as RebuildLock.Busy {
            throw RuntimeError("\(busy.description); wait for it to finish")
        }
        defer { withExtendedLifetime(lock) {} }
        location.removeStaleGenerations()
        let previous = location.current()
        let target = location.newGeneration()
        let started = ContinuousClock.now
        let bar = ProgressBar(total: head)
        do {
            let folded = try await fold(target, bar)
            bar.finish()
            try location.publish(target)
            let seconds = (ContinuousClock.now - started).seconds
            print(
                "rebuild: \(folded) events folded into \((target as NSString).lastPathComponent) in "
                    + String(format: "%.2f s (%.0f events/s)", seconds, Double(folded) / max(seconds, 1e-9))
            )
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            throw error
        }
        return previous
    }

    /// Folds the log into a scratch environment up to the position the views in `location`
    /// have applied and compares the two key by key, for the inline and the asynchronous
    /// projections; when the views moved on meanwhile (a running server or node), the scratch
    /// views follow and the comparison is made again (up to ten times). Prints the outcome;
    /// throws `ExitCode(1)` on a difference. `whose` ("live", "node's") and `server` ("server",
    /// "node") word the messages; `makers` says what makes missing views.
    static func verify(
        _ location: ViewsLocation,
        whose: String,
        server: String,
        makers: String,
        fold: Fold,
        head: () async throws -> LogPosition
    ) async throws {
        guard FileManager.default.fileExists(atPath: location.current() + "/data.mdb") else {
            // Nothing to compare, and verify must not create views.
            print("verify: no views yet at \(location.current()) (\(makers) makes them)")
            return
        }
        let live = try InlineProjections(directory: location.current(), projectors: PlayheadStore.projectors, readOnly: true)
        try await compare(
            "projections",
            PlayheadStore.projectors,
            whose: whose,
            server: server,
            fold: fold,
            head: head,
            applied: { try live.appliedPosition() },
            differences: { try live.differences(from: $0) }
        )
        guard !PlayheadStore.asyncProjectors.isEmpty else { return }
        let async = try AsyncProjections(
            directory: AsyncProjections.directory(in: location.current()),
            projectors: PlayheadStore.asyncProjectors,
            readOnly: true
        )
        try await compare(
            "asynchronous projections",
            PlayheadStore.asyncProjectors,
            whose: whose,
            server: server,
            fold: fold,
            head: head,
            applied: { try async.appliedPosition() },
            differences: { try async.differences(from: $0) }
        )
    }

    private static func compare(
        _ kind: String,
        _ projectors: [any Projector],
        whose: String,
        server: String,
        fold: Fold,
        head: () async throws -> LogPosition,
        applied: () throws -> LogPosition,
        differences compare: (String) throws -> (position: LogPosition, differences: [ViewDifference])
    ) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-verify-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var through = try applied()
        for _ in 0..<10 {
            try await fold(scratch, projectors, through)
            let (position, differences) = try compare(scratch)
            guard position == through else {
                through = position
                continue
            }
            if let first = differences.first {
                for difference in differences { printError("verify: \(kind) differ: \(difference)") }
                printError("verify: FAILED: the \(whose) views differ from a rebuild at position \(position) (first: \(first))")
                throw ExitCode(1)
            }
            let head = try await head()
            print(
                "verify: OK: \(kind) (\(projectors.map(\.name).joined(separator: ", "))) equal a rebuild at position \(position) of \(head)"
            )
            return
        }
        printError("verify: the \(whose) views kept moving; run it again when the \(server) is quieter")
        throw ExitCode(1)
    }
}
