import ArgumentParser
import EventLog

/// `playhead init`: creates the store if it has none, then prints its figures.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the store (if it does not exist yet) and print its figures."
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let log = try store.openLog(.readWrite)
        await log.close()
        try await StatsCommand.parse(["--data-dir", store.resolvedDataDirectory]).run()
    }
}
