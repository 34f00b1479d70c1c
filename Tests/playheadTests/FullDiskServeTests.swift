import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import Views

/// Runs a system command to completion and returns its exit status.
private func system(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Whether this process may mount a small tmpfs (root, with mount(8) allowed): the only way
/// to give a store a disk that really fills up.
private let canMountTmpfs: Bool = {
    guard getuid() == 0 else { return false }
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-mount-probe-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil,
        system("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]) == 0
    else { return false }
    return system("/bin/umount", [probe]) == 0
}()

/// NDJSON lines of `count` progress reports (as `playhead export` writes them) for 100 users
/// and 40 videos (each user reports every video), recorded from `start` on, a millisecond apart.
private func progressLines(count: Int, start: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var text = ""
    for index in 0..<count {
        let user = "user-\(index % 100)"
        let time = formatter.string(from: start.addingTimeInterval(Double(index) / 1000))
        let line: [String: Any] = [
            "position": index + 1,
            "streamVersion": index / 100 + 1,
            "type": "progress.recorded",
            "stream": "progress/\(user)",
            "recordedAt": time,
            "eventId": UUID().uuidString.lowercased(),
            "payload": [
                "userId": user, "videoId": "video-\(index / 100 % 40)", "watchedDuration": index, "lastWatched": time,
                "videoDurationMillis": 600_000, "source": 0,
            ] as [String: Any],
        ]
        text += String(decoding: (try? JSONSerialization.data(withJSONObject: line)) ?? Data(), as: UTF8.self) + "\n"
    }
    return text
}

@Suite("A server on a full disk", .serialized, .timeLimit(.minutes(5)))
struct FullDiskServeTests {
    @Test(
        "a server started while the disk is full retries its catch-up and serves once there is room, /ready saying why meanwhile",
        .enabled(if: canMountTmpfs, "needs root and mount(8) to make a small tmpfs")
    )
    func recoversAfterRoomComesBack() async throws {
        try await withTemporaryDirectory { directory in
            let disk = directory + "/disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            #expect(system("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", disk]) == 0)
            defer { _ = system("/bin/umount", ["-l", disk]) }
            let store = disk + "/store"

            // A store with views, then events those views have not seen: an import appends
            // to the log only, and the views fold them when the store is next served.
            let first = try ServerProcess(store: store)
            first.stop()
            let file = directory + "/events.ndjson"
            try progressLines(count: 4000, start: Date().addingTimeInterval(60)).write(toFile: file, atomically: true, encoding: .utf8)
            let imported = try playhead(["import", "--data-dir", store, file])
            #expect(imported.status == 0, "\(imported.stderr)")

            // Fill the disk to the last block, then start the server: folding the imported
            // events needs pages the disk no longer has.
            #expect(system("/bin/dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=64k"]) != 0)
            #expect(system("/bin/dd", ["if=/dev/zero", "of=\(disk)/filler-tail", "bs=512"]) != 0)
            let server = try ServerProcess(store: store)
            let token = try server.token("user-7")
            let report: [String: Any] = ["userId": "user-7", "videoId": "after", "watchedDuration": 5]

            // The catch-up runs on the writer thread after the server listens; its failure
            // shows in /ready once it happened.
            var notReady: (status: Int, json: [String: Any]) = (0, [:])
            for _ in 0..<600 {
                notReady = try await server.send("GET", "/ready", token: token)
                if notReady.json["reason"] != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(notReady.status == 503)
            #expect(notReady.json["status"] as? String == "catching up")
            #expect((notReady.json["reason"] as? String)?.contains("could not catch up") == true, "\(notReady.json)")
            #expect(try await server.send("POST", "/progress/update", token: token, json: report).status == 500)

            // Room again: the server recovers by itself, without a restart or a request.
            try FileManager.default.removeItem(atPath: disk + "/filler")
            try FileManager.default.removeItem(atPath: disk + "/filler-tail")
            var ready: (status: Int, json: [String: Any]) = (0, [:])
            for _ in 0..<600 {
                ready = try await server.send("GET", "/ready", token: token)
                if ready.status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(ready.status == 200, "\(ready.json)")
            #expect(ready.json["status"] as? String == "ready")
            #expect(ready.json["reason"] == nil)
            #expect(try await server.send("POST", "/progress/update", token: token, json: report).status == 200)
            let progress = try await server.send("GET", "/progress/user-7", token: token)
            #expect(progress.status == 200)
            // The imported reports of user-7 (40 videos) and the new one.
            #expect((progress.json["progressData"] as? [Any])?.count == 41, "\(progress.json)")
            server.stop()
        }
    }
}
