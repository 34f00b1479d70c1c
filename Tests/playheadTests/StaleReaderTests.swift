import Foundation
import LMDBKit
import PlayheadCore
import Testing
import Views

@testable import EventLog
@testable import LMDBLog

/// `MDB_RDONLY`: the probe only reads the reader table.
private let readOnlyFlag: UInt32 = 0x20000

/// Whether `process` has stopped (after SIGSTOP): its state in /proc is `T` or `t`.
private func isStopped(_ process: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(process)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: end)...].trimmingCharacters(in: .whitespaces).first
    return state == "T" || state == "t"
}

/// Runs `playhead arguments` again and again until it is caught holding a read transaction
/// of the LMDB environment in `directory`, and kills it there with SIGKILL: its reader slot
/// stays behind, naming a transaction LMDB then cannot free pages past. The check is made
/// with the process stopped (SIGSTOP), so the kill lands inside the transaction. Processes
/// in `ignoring` (the server) are left alone. Returns the killed process.
private func killInsideReadTransaction(of directory: String, running arguments: [String], ignoring: Set<Int32>) throws -> Int32 {
    let probe = try LMDBEnvironment(path: directory, mapSize: 1 << 30, maxReaders: 1024, maxDatabases: 64, flags: readOnlyFlag)
    func readers() -> [(process: Int32, transaction: UInt64)] {
        probe.activeReaders().filter { !ignoring.contains($0.process) && $0.process != getpid() }
    }
    for _ in 0..<200 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: playheadBinary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        while process.isRunning {
            for reader in readers() {
                guard kill(reader.process, SIGSTOP) == 0 else { continue }
                var waited = 0
                while !isStopped(reader.process) && waited < 1000 {
                    usleep(100)
                    waited += 1
                }
                if readers().contains(where: { $0.process == reader.process && $0.transaction == reader.transaction }) {
                    kill(reader.process, SIGKILL)
                    process.waitUntilExit()
                    return reader.process
                }
                kill(reader.process, SIGCONT)
            }
            usleep(50)
        }
        process.waitUntilExit()
    }
    throw ServerStartError(output: "never caught `playhead \(arguments.joined(separator: " "))` inside a read transaction")
}

/// The size of a file in bytes.
private func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
}

@Suite("Dead readers", .serialized, .timeLimit(.minutes(5)))
struct StaleReaderTests {
    @Test("readers killed inside their read transactions do not make the views or the log grow: the server clears them")
    func killedReadersAreCleared() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let server = try ServerProcess(store: store)
            let token = try server.token("alice")
            // One report a request, so one commit each: what a dead reader makes LMDB unable
            // to reuse pages for.
            func report(_ range: Range<Int>) async throws {
                for index in range {
                    let reply = try await server.send(
                        "POST",
                        "/progress/update",
                        token: token,
                        json: ["userId": "alice", "videoId": "video-\(index % 50)", "watchedDuration": index]
                    )
                    #expect(reply.status == 200)
                }
            }
            try await report(0..<1000)
            let serverProcess = server.process.processIdentifier

            // A `verify --projections` killed while it reads the views, and a `verify`
            // killed while it reads the log.
            _ = try killInsideReadTransaction(
                of: store + "/views",
                running: ["verify", "--projections", "--data-dir", store],
                ignoring: [serverProcess]
            )
            _ = try killInsideReadTransaction(of: store + "/log", running: ["verify", "--data-dir", store], ignoring: [serverProcess])
            let views = try fileSize(store + "/views/data.mdb")
            let log = try fileSize(store + "/log/data.mdb")

            try await report(1000..<3000)
            // Without the kills these 2,000 reports add about 0.6 MB to each file; with the
            // dead readers kept, the views grew by about 75 MB.
            let viewsGrowth = try fileSize(store + "/views/data.mdb") - views
            let logGrowth = try fileSize(store + "/log/data.mdb") - log
            #expect(viewsGrowth < 4 << 20, "the views grew by \(viewsGrowth) bytes")
            #expect(logGrowth < 4 << 20, "the log grew by \(logGrowth) bytes")
            server.stop()
        }
    }
}
