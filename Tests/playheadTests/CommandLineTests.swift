import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import Views

/// The `playhead` executable SwiftPM built next to this test bundle, or the one
/// `PLAYHEAD_TEST_BINARY` names (to run these tests against another build).
let playheadBinary: String = {
    if let binary = ProcessInfo.processInfo.environment["PLAYHEAD_TEST_BINARY"] { return binary }
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("playhead").path
}()

/// What a finished `playhead` run printed and how it exited.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `playhead` with `arguments` to completion, killing it (SIGKILL) if it runs longer
/// than `timeout`, so that a command that should have stopped fails the test instead of
/// hanging it.
func playhead(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(300)) throws -> CommandOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: playheadBinary)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000)), execute: watchdog)
    defer { watchdog.cancel() }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandOutput(
        status: process.terminationStatus,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self)
    )
}

/// A fresh directory, removed after the async `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-cli-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// The NDJSON lines of `playhead tail`, parsed.
func tailLines(_ output: String) throws -> [[String: Any]] {
    try output.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}

@Suite("The playhead command line", .timeLimit(.minutes(5)))
struct CommandLineTests {
    @Test("stats, verify and tail on a store written through the CLI")
    func statsVerifyTail() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let written = try playhead(["append-loop", "--data-dir", store, "--tasks", "3", "--count", "10"])
            #expect(written.status == 0, "\(written.stderr)")
            #expect(written.stdout.split(separator: "\n").count == 30)

            let stats = try playhead(["stats", "--data-dir", store])
            #expect(stats.status == 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
            #expect(object["head"] as? Int == 30)
            #expect(object["events"] as? Int == 30)
            #expect(object["streams"] as? Int == 3)
            #expect((object["mapSize"] as? Int ?? 0) > 0)
            #expect((object["bytesOnDisk"] as? Int ?? 0) > 0)

            let verify = try playhead(["verify", "--data-dir", store])
            #expect(verify.status == 0)
            #expect(verify.stdout.contains("verify: OK: 30 events, 3 streams"))

            let tail = try playhead(["tail", "--data-dir", store, "--from", "28"])
            let lines = try tailLines(tail.stdout)
            #expect(lines.map { $0["position"] as? Int } == [28, 29, 30])
            let first = try #require(lines.first)
            #expect(first["type"] as? String == "test.appended")
            #expect((first["stream"] as? String)?.hasPrefix("crash-") == true)
            #expect((first["recordedAt"] as? String)?.hasSuffix("Z") == true)
            let payload = try #require(Data(base64Encoded: first["payloadBase64"] as? String ?? ""))
            #expect(String(decoding: payload, as: UTF8.self).hasPrefix("crash-test task "))

            let limited = try playhead(["tail", "--from", "5", "--limit", "2"], environment: ["PLAYHEAD_DATA_DIR": store])
            #expect(try tailLines(limited.stdout).map { $0["position"] as? Int } == [5, 6])
        }
    }

    @Test("an export imported into an empty store and exported again is byte-identical")
    func exportImportRoundTrip() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory + "/source"
            #expect(try playhead(["append-loop", "--data-dir", source, "--tasks", "4", "--count", "25"]).status == 0)
            let exported = directory + "/events.ndjson"
            #expect(try playhead(["export", "--data-dir", source, "--output", exported]).status == 0)
            let imported = try playhead(["import", "--data-dir", directory + "/copy", exported, "--batch-size", "7"])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stderr.contains("import: 100 events at positions 1...100"))
            let again = try playhead(["export", "--data-dir", directory + "/copy"])
            #expect(again.stdout == (try String(contentsOfFile: exported, encoding: .utf8)))
            #expect(try playhead(["verify", "--data-dir", directory + "/copy"]).status == 0)

            let partial = try playhead(["export", "--data-dir", source, "--from", "10", "--to", "12"])
            #expect(try tailLines(partial.stdout).map { $0["position"] as? Int } == [10, 11, 12])
            let reversed = try playhead(["export", "--data-dir", source, "--from", "12", "--to", "10"])
            #expect(reversed.status != 0)
            #expect(reversed.stderr.contains("--to (10) is before --from (12)"))
        }
    }

    @Test("a bad import names the line and field and imports nothing")
    func badImport() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory + "/source"
            #expect(try playhead(["append-loop", "--data-dir", source, "--tasks", "1", "--count", "5"]).status == 0)
            var lines = try playhead(["export", "--data-dir", source]).stdout.split(separator: "\n").map(String.init)
            let target = directory + "/target"
            #expect(try playhead(["append-loop", "--data-dir", target, "--tasks", "1", "--count", "2"]).status == 0)

            let cases: [(String, String)] = [
                (lines[3].replacingOccurrences(of: "\"eventId\":\"", with: "\"eventId\":\"nope"), "line 4: eventId is not a UUID"),
                ("{\"position\":4}", "line 4: streamVersion must be a whole number"),
                ("not json", "line 4: not a JSON object"),
                (lines[3].replacingOccurrences(of: "\"recordedAt\":\"", with: "\"recordedAt\":\"x"), "line 4: recordedAt is not an ISO 8601"),
                (lines[3].replacingOccurrences(of: "\"position\":4", with: "\"position\":0"), "line 4: position must be a whole number"),
            ]
            for (index, (bad, message)) in cases.enumerated() {
                var broken = lines
                broken[3] = bad
                let file = directory + "/broken.ndjson"
                try (broken.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
                let empty = directory + "/empty-\(index)"
                let result = try playhead(["import", "--data-dir", empty, file])
                #expect(result.status == 1)
                #expect(result.stderr.contains("nothing imported: " + message), "\(result.stderr)")
                #expect(try playhead(["stats", "--data-dir", empty]).stdout.contains("\"head\" : 0"))
            }
            // The target's own events are newer than the source's: importing them would go back in time.
            lines = Array(lines.prefix(2))
            let old = directory + "/old.ndjson"
            try (lines.joined(separator: "\n") + "\n").write(toFile: old, atomically: true, encoding: .utf8)
            let backwards = try playhead(["import", "--data-dir", target, old])
            #expect(backwards.status == 1)
            #expect(backwards.stderr.contains("recordedAt"))
            #expect(backwards.stderr.contains("the store's last event"))

            let stats = try playhead(["stats", "--data-dir", target])
            #expect(stats.stdout.contains("\"head\" : 2"))
        }
    }

    @Test("a directory that is not a Playhead store is refused with a message that says so")
    func foreignStore() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory + "/log", withIntermediateDirectories: true)
            try Data("not lmdb".utf8).write(to: URL(fileURLWithPath: directory + "/log/readme.txt"))
            for command in [["stats"], ["verify"], ["tail"]] {
                let result = try playhead(command + ["--data-dir", directory])
                #expect(result.status != 0)
                #expect(result.stderr.contains("not a Playhead log"), "\(result.stderr)")
            }
            let missing = try playhead(["stats", "--data-dir", directory + "/nothing-here"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("no Playhead log"))
        }
    }

    @Test("while one process writes a log, another may read it but not write it")
    func singleWriterAcrossProcesses() async throws {
        try await withTemporaryDirectory { directory in
            let log = try LMDBEventLog(directory: directory + "/log")
            _ = try await log.append(AppendRequest(events: [ProposedEvent(type: "t", stream: "s", payload: [1])]))
            let writer = try playhead(["append-loop", "--data-dir", directory, "--count", "1"])
            #expect(writer.status != 0)
            #expect(writer.stderr.contains("another process has the log"), "\(writer.stderr)")
            let stats = try playhead(["stats", "--data-dir", directory])
            #expect(stats.status == 0)
            #expect(stats.stdout.contains("\"head\" : 1"))
            await log.close()
        }
    }

    @Test("verify fails on a damaged copy of the data file and names the position")
    func verifyFindsDamage() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            _ = try playhead(["append-loop", "--data-dir", store, "--tasks", "2", "--count", "20"])
            let lines = try tailLines(try playhead(["tail", "--data-dir", store]).stdout)
            let target = "crash-test task 1 append 13"
            let position = try #require(
                lines.first { line in
                    Data(base64Encoded: line["payloadBase64"] as? String ?? "").map { String(decoding: $0, as: UTF8.self) } == target
                }?["position"] as? Int
            )

            let copy = directory + "/copy"
            try FileManager.default.createDirectory(atPath: copy + "/log", withIntermediateDirectories: true)
            var data = try Data(contentsOf: URL(fileURLWithPath: store + "/log/data.mdb"))
            var searchFrom = data.startIndex
            while let range = data.range(of: Data(target.utf8), in: searchFrom..<data.endIndex) {
                data[range.lowerBound] ^= 0x20
                searchFrom = range.upperBound
            }
            try data.write(to: URL(fileURLWithPath: copy + "/log/data.mdb"))

            #expect(try playhead(["verify", "--data-dir", store]).status == 0)
            let damaged = try playhead(["verify", "--data-dir", copy])
            #expect(damaged.status == 1)
            #expect(damaged.stderr.contains("FAILED at position \(position): checksum mismatch"), "\(damaged.stderr)")
        }
    }

    @Test("after SIGKILL during appends, every acknowledged event is there and the log verifies")
    func crashKeepsAcknowledgedEvents() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: playheadBinary)
            process.arguments = ["append-loop", "--data-dir", store, "--tasks", "8"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()

            // Read acknowledgements until there are enough, then kill without warning.
            var text = ""
            let reader = out.fileHandleForReading
            while text.split(separator: "\n").count < 800 {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            text += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationReason == .uncaughtSignal)

            // Only whole lines count: a line cut by the kill was never fully acknowledged.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).dropLast(text.hasSuffix("\n") ? 0 : 1)
            let acknowledged = lines.compactMap { line in line.hasPrefix("acked ") ? UInt64(line.dropFirst(6)) : nil }
            #expect(acknowledged.count >= 800)

            let log = try LMDBEventLog(directory: store + "/log", mode: .readWrite)
            let head = try log.head
            for position in acknowledged {
                let recorded = try log.read(from: position, limit: 1).first
                #expect(recorded?.position == position)
                #expect(recorded?.stream.hasPrefix("crash-") == true)
            }
            #expect(acknowledged.max() ?? 0 <= head)
            #expect(try log.verify().isSound)

            // The reopened writer folded the unflushed tail: versions continue where they stopped.
            let info = try log.streamInfo("crash-0")
            let after = ProposedEvent(type: "test.appended", stream: "crash-0", payload: Array("after the crash".utf8))
            let next = try await log.append(AppendRequest(stream: "crash-0", expecting: .exactly(info.version), events: [after]))
            #expect(next.positions == (head + 1)...(head + 1))
            #expect(try log.streamInfo("crash-0").version == info.version + 1)
            #expect(try log.verify().isSound)
            await log.close()
        }
    }
}
