import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import PostgresLog
import Projections
import Views

/// `playhead rebuild`: folds the log into fresh views and swaps them in atomically.
struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Fold the whole log into a fresh views environment and make it the live one.",
        discussion: """
            Works while `playhead serve` runs: the new views are written beside the live ones, \
            published atomically (views.current), and the server switches to them within a \
            second, catching up on what it appended meanwhile. With --projection, the other \
            projections are copied from the live views and only the named one is folded again.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var postgres: PostgresLogOption

    @Option(help: "Rebuild only this projection (\(PlayheadStore.projectors.map(\.name).joined(separator: ", "))).")
    var projection: String?

    func validate() throws {
        if let projection, !PlayheadStore.projectors.contains(where: { $0.name == projection }) {
            throw ValidationError("no projection named '\(projection)'; there are \(PlayheadStore.projectors.map(\.name).joined(separator: ", "))")
        }
    }

    func run() async throws {
        if let url = postgres.resolved {
            guard projection == nil else { throw ValidationError("--projection is for the embedded store; a node's rebuild folds every projection") }
            let log = try await postgres.open(url)
            do {
                try await PostgresLogCommands.rebuild(log, node: store.resolvedDataDirectory)
            } catch {
                await log.close()
                throw error
            }
            await log.close()
            return
        }
        let log = try store.openLog(.readOnly)
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        let head = try log.head
        let previous = try await ViewsMaintenance.rebuild(location, head: head) { target, bar in
            if let projection {
                let live = try InlineProjections(directory: location.current(), projectors: PlayheadStore.projectors, readOnly: true)
                try live.copy(to: target, refolding: [projection])
            }
            return try log.withReader { reader in
                let folded = try InlineProjections.build(directory: target, projectors: PlayheadStore.projectors, from: reader, through: head) {
                    bar.update($0)
                }
                // The asynchronous projections of the generation, folded to the same head.
                try InlineProjections.build(
                    directory: AsyncProjections.directory(in: target),
                    projectors: PlayheadStore.asyncProjectors,
                    from: reader,
                    through: head
                )
                return folded
            }
        }
        if LMDBEventLog.hasWriter(directory: store.logDirectory) {
            // The server removes the views it switches away from.
            print("rebuild: the running server switches to the new views within a second")
        } else {
            location.remove(previous)
        }
    }
}
