import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

/// Runs a command to completion and returns its exit status.
private func run(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Whether this process may mount a small tmpfs (root, with mount(8) allowed): the only
/// way to give the log a disk that really fills up.
private let canMountTmpfs: Bool = {
    guard getuid() == 0 else { return false }
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-mount-probe-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil,
        run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]) == 0
    else { return false }
    return run("/bin/umount", [probe]) == 0
}()

/// Appends to the log in `disk` until the disk is full, checks the failure, frees room,
/// appends once more, closes the log, and returns the position of the last event before it.
private func fillUntilFull(_ disk: String) async throws -> LogPosition {
    let log = try LMDBEventLog(directory: disk + "/log")
    let payload = [UInt8](repeating: 0x5A, count: 2000)
    var failure: (any Error)?
    var appended: LogPosition = 0
    for batch in 0..<200 {
        let events = (0..<20).map { ProposedEvent(type: "fill", stream: "disk-\($0 % 4)", payload: payload + [UInt8(batch % 256)]) }
        do {
            appended = try await log.append(AppendRequest(events: events)).positions.upperBound
        } catch {
            failure = error
            break
        }
    }
    let error = try #require(failure as? EventLogError, "the disk never filled up")
    #expect(error.code == .storage)
    #expect(error.message.contains("the file system holding the log is full"), "\(error.message)")
    #expect(error.message.contains("nothing of the batch was written"))
    #expect(try log.head == appended)
    let stored = try log.read(from: 1, limit: .max)
    #expect(stored.count == Int(appended))
    #expect(stored.last?.payload.last == UInt8((appended / 20 - 1) % 256))
    #expect(try log.verify().isSound)

    try FileManager.default.removeItem(atPath: disk + "/filler")
    let versions = try log.streamInfo("disk-0").version
    let after = try await log.append(AppendRequest(stream: "disk-0", expecting: .exactly(versions), events: [event("disk-0", "room again")]))
    #expect(after.positions == (appended + 1)...(appended + 1))
    await log.close()
    return appended
}

@Suite("A full disk", .timeLimit(.minutes(5)))
struct FullDiskTests {
    @Test(
        "a full disk fails the batch with a storage error, keeps everything stored, and appends work again once there is room",
        .enabled(if: canMountTmpfs, "needs root and mount(8) to make a small tmpfs")
    )
    func fullDisk() async throws {
        try await withTemporaryDirectory { directory in
            let disk = directory + "/disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk]) == 0)
            defer { _ = run("/bin/umount", [disk]) }
            // Room to free later, once the log has filled the rest.
            try Data(repeating: 0, count: 1 << 20).write(to: URL(fileURLWithPath: disk + "/filler"))

            let appended = try await fillUntilFull(disk)

            let reopened = try LMDBEventLog(directory: disk + "/log", mode: .readOnly)
            #expect(try reopened.read(from: 1, limit: .max).count == Int(appended) + 1)
            #expect(try reopened.verify().isSound)
        }
    }
}
