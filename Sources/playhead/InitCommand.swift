import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Views

/// `playhead init`: creates the store if it has none, then prints its figures.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the store (if it does not exist yet) and print its figures.",
        discussion: "On an existing store it changes nothing (it works beside a running server) and prints the figures, as stats does."
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        if FileManager.default.fileExists(atPath: store.logDirectory + "/data.mdb") {
            // An existing store is only read, so that init works beside a running server.
            let log = try store.openLog(.readOnly)
            printError("init: the store at \(store.resolvedDataDirectory) already exists")
            try StatsCommand.printStatistics(of: log, store: store)
            return
        }
        let log = try store.openLog(.readWrite)
        await log.close()
        printError("init: created the store at \(store.resolvedDataDirectory)")
        // The same instance: a process may open a log only once at a time.
        try StatsCommand.printStatistics(of: log, store: store)
    }
}
