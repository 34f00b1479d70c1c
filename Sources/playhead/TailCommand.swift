import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import Views

/// `playhead tail`: prints the log as NDJSON from a position, optionally following it.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events as NDJSON, one per line, from a position on.",
        discussion: "The line format is described in Docs/events.md. With --follow it keeps printing new events until interrupted."
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "The first position to print (1 is the first event).")
    var from: UInt64 = 1

    @Option(help: "Stop after this many events.")
    var limit: Int?

    @Flag(help: "Keep waiting for new events.")
    var follow = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        try CrashGuard.runGuarded("tail")
        let log = try store.openLog(.readOnly)
        let output = OutputFile.standardOutput()
        let limit = self.limit ?? .max
        do {
            if follow {
                var printed = 0
                for try await event in log.subscribe(from: from, chunkSize: 1024) {
                    try output.write(EventLine.encode(event))
                    printed += 1
                    if printed >= limit { break }
                }
            } else {
                try EventLine.write(from: log, first: from, limit: limit, to: output)
            }
        } catch let damage as RecordFormatError {
            printError(
                "tail: stopped: the log is damaged at position \(damage.position): \(damage.reason). "
                    + "See Docs/operations.md, \"A damaged log\"."
            )
            throw ExitCode(1)
        }
    }
}
