import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Views

/// A test helper: appends single events from several tasks until killed, printing each
/// acknowledged position on its own line, flushed, the moment its append returns. The
/// crash test kills it with SIGKILL and checks that every printed position survived.
struct AppendLoopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-loop",
        abstract: "Append events in a loop, printing each acknowledged position (for crash tests).",
        shouldDisplay: false
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "Concurrent appending tasks.")
    var tasks = 8

    @Option(help: "Stop after this many appends per task (default: run until killed).")
    var count: Int?

    func run() async throws {
        let log = try store.openLog(.readWrite)
        let count = self.count ?? .max
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var appended = 0
                    while appended < count {
                        let payload = Array("crash-test task \(task) append \(appended)".utf8)
                        let event = ProposedEvent(type: "test.appended", stream: "crash-\(task)", payload: payload)
                        let result = try await log.append(AppendRequest(events: [event]))
                        // One unbuffered write(2) per line: nothing acknowledged waits in a buffer.
                        FileHandle.standardOutput.write(Data("acked \(result.positions.lowerBound)\n".utf8))
                        appended += 1
                    }
                }
            }
            try await group.waitForAll()
        }
        await log.close()
    }
}
