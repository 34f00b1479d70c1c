import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Testing
import Views

#if canImport(Glibc)
import Glibc
#endif

/// Expects a runtime error: exit status 1 and one line on standard error, `Error: ` and a
/// message containing each of `fragments`, without the usage.
func expectRuntimeError(_ result: CommandOutput, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 1, "\(result.stderr)", sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("Error: "), "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains("Usage"), "\(result.stderr)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(result.stderr.contains(fragment), "\(result.stderr)", sourceLocation: sourceLocation)
    }
}

/// The paths under `directory` (files and directories, relative, sorted), with each file's size.
func listing(_ directory: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: directory)
    var paths: [String] = []
    while let path = enumerator?.nextObject() as? String {
        let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + path)[.size] as? Int) ?? 0
        paths.append("\(path) \(size)")
    }
    return paths.sorted()
}

/// A socket listening on a free loopback port, closed by `close()`.
struct Listener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(descriptor, address, length) == 0 && listen(descriptor, 4) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        try #require(bound)
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// The head of the store at `directory`, as `stats` prints it.
func head(of directory: String) throws -> Int {
    let stats = try playhead(["stats", "--data-dir", directory])
    #expect(stats.status == 0, "\(stats.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
    return try #require(object["head"] as? Int)
}

/// Every line of the ```json blocks of Docs/events.md.
func documentedEventLines() throws -> [String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let document = try String(contentsOf: root.appendingPathComponent("Docs/events.md"), encoding: .utf8)
    var lines: [String] = []
    var inBlock = false
    for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("```") {
            inBlock = trimmed == "```json"
        } else if inBlock && trimmed.hasPrefix("{") {
            lines.append(trimmed)
        }
    }
    return lines
}

/// `line` with its `"position":N` replaced by `position`.
func withPosition(_ line: String, _ position: Int) throws -> String {
    let pattern = try Regex(#""position":\d+"#)
    return line.replacing(pattern, with: "\"position\":\(position)")
}

@Suite("Every command on a new directory and on an existing store", .serialized, .timeLimit(.minutes(5)))
struct CommandsEndToEndTests {
    @Test("init makes a new store; on an existing one it changes nothing, even while a server runs")
    func initCommand() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let created = try playhead(["init", "--data-dir", store])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stderr.contains("init: created the store at \(store)"))
            #expect(created.stdout.contains("\"head\" : 0"))
            #expect(FileManager.default.fileExists(atPath: store + "/log/data.mdb"))

            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "1", "--count", "3"]).status == 0)
            let existing = try playhead(["init", "--data-dir", store])
            #expect(existing.status == 0, "\(existing.stderr)")
            #expect(existing.stderr.contains("already exists"))
            #expect(existing.stdout.contains("\"head\" : 3"))

            let server = try ServerProcess(store: store)
            let beside = try playhead(["init", "--data-dir", store])
            #expect(beside.status == 0, "\(beside.stderr)")
            #expect(beside.stdout.contains("\"head\" : 3"))
            server.stop()
            #expect(try head(of: store) == 3)
        }
    }

    @Test("stats, verify, rebuild, tail and export on a new directory say there is no store and how to make one")
    func readCommandsOnNewDirectory() async throws {
        try await withTemporaryDirectory { directory in
            let missing = directory + "/missing"
            for command in [["stats"], ["verify"], ["rebuild"], ["tail"], ["export"], ["tail", "--follow"]] {
                let result = try playhead(command + ["--data-dir", missing])
                expectRuntimeError(result, "there is no Playhead log at \(missing)/log", "playhead init --data-dir \(missing)")
                #expect(!FileManager.default.fileExists(atPath: missing), "\(command)")
            }
        }
    }

    @Test("import and token make what they need on a new directory")
    func writeCommandsOnNewDirectory() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory + "/source"
            #expect(try playhead(["append-loop", "--data-dir", source, "--tasks", "2", "--count", "3"]).status == 0)
            let file = directory + "/events.ndjson"
            #expect(try playhead(["export", "--data-dir", source, "-o", file]).status == 0)

            let imported = try playhead(["import", "--data-dir", directory + "/new", file])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stderr.contains("import: 6 events at positions 1...6"))
            #expect(try head(of: directory + "/new") == 6)

            let fresh = directory + "/fresh"
            let token = try playhead(["token", "--user", "alice", "--data-dir", fresh])
            #expect(token.status == 0, "\(token.stderr)")
            #expect(token.stdout.split(separator: ".").count == 3)
            let attributes = try FileManager.default.attributesOfItem(atPath: fresh + "/jwt-secret")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let secret = try String(contentsOfFile: fresh + "/jwt-secret", encoding: .utf8)
            #expect(try playhead(["token", "--user", "bob", "--data-dir", fresh]).status == 0)
            #expect(try String(contentsOfFile: fresh + "/jwt-secret", encoding: .utf8) == secret)
        }
    }

    @Test("every command works on an existing store")
    func existingStore() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "3", "--count", "4"]).status == 0)
            // Written later, so its events may be imported after the store's.
            let later = directory + "/later"
            #expect(try playhead(["append-loop", "--data-dir", later, "--tasks", "2", "--count", "3"]).status == 0)

            #expect(try head(of: store) == 12)
            let verify = try playhead(["verify", "--data-dir", store])
            #expect(verify.status == 0, "\(verify.stderr)")
            let rebuild = try playhead(["rebuild", "--data-dir", store])
            #expect(rebuild.status == 0, "\(rebuild.stderr)")
            #expect(rebuild.stdout.contains("rebuild: 12 events folded"))
            #expect(try tailLines(try playhead(["tail", "--data-dir", store]).stdout).count == 12)
            let file = directory + "/later.ndjson"
            let export = try playhead(["export", "--data-dir", later, "-o", file])
            #expect(export.status == 0, "\(export.stderr)")
            #expect(export.stderr.contains("export: 6 events to \(file)"))
            let imported = try playhead(["import", "--data-dir", store, file])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stderr.contains("import: 6 events at positions 13...18"))
            #expect(try playhead(["verify", "--data-dir", store]).status == 0)
            let token = try playhead(["token", "--user", "alice", "--admin", "--data-dir", store])
            #expect(token.status == 0, "\(token.stderr)")
            let initialized = try playhead(["init", "--data-dir", store])
            #expect(initialized.status == 0, "\(initialized.stderr)")
            #expect(initialized.stdout.contains("\"head\" : 18"))
        }
    }

    @Test("the bench workloads run at small sizes on a new directory, then again on the store they made")
    func benchWorkloads() async throws {
        try await withTemporaryDirectory { directory in
            let small = ["--events", "2000", "--batch-size", "500", "--streams", "10"]
            let workloads: [(String, [String])] = [
                ("append", small),
                ("scan", small),
                ("read", small),
                ("export", small + ["--rounds", "1"]),
                ("rebuild", ["--events", "2000", "--passes", "1"]),
                ("progress", ["--events", "500", "--users", "5", "--queries", "5"]),
                ("interactions", ["--interactions", "500", "--queries", "5"]),
                ("party-log", ["--entries", "2000", "--parties", "10", "--page", "20", "--queries", "5"]),
            ]
            for (name, options) in workloads {
                let store = directory + "/" + name
                for round in ["new", "existing"] {
                    let result = try playhead(["bench", name, "--data-dir", store] + options)
                    #expect(result.status == 0, "bench \(name) on a \(round) store: \(result.stderr)")
                    #expect(result.stdout.contains("\"workload\":"), "bench \(name) on a \(round) store: \(result.stdout)")
                }
            }
            let export = try playhead(["bench", "export", "--data-dir", directory + "/export"] + small + ["--rounds", "2"])
            let summary = try #require(export.stdout.split(separator: "\n").last)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
            #expect(object["workload"] as? String == "export-import")
            #expect(object["events"] as? Int == 2000)
            #expect((object["export_to_scan"] as? Double ?? 0) > 0)
            #expect((object["import_to_scan"] as? Double ?? 0) > 0)
        }
    }

    @Test("serve starts and stops on a new directory and on an existing store")
    func serveStartStop() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/new"
            let server = try ServerProcess(store: store, secret: false)
            #expect(FileManager.default.fileExists(atPath: store + "/jwt-secret"))
            let token = try server.token("alice", secret: false)
            #expect(try await server.send("POST", "/user-sessions", token: token).status == 201)
            server.stop()
            #expect(server.process.terminationStatus == 0)

            let again = try ServerProcess(store: store, secret: false)
            let listed = try await again.send("GET", "/user-sessions", token: token)
            #expect(listed.status == 200)
            #expect((listed.json["data"] as? [Any])?.count == 1)
            again.stop()
            #expect(again.process.terminationStatus == 0)
        }
    }

    @Test("runtime errors print one line saying what is wrong and what to do, and exit 1; usage errors exit 64 with the usage")
    func runtimeErrors() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "1", "--count", "2"]).status == 0)
            let file = directory + "/events.ndjson"
            #expect(try playhead(["export", "--data-dir", store, "-o", file]).status == 0)

            expectRuntimeError(try playhead(["stats", "--data-dir", directory + "/missing"]), "no Playhead log", "playhead init")
            expectRuntimeError(try playhead(["token", "--user", "a", "--jwt-secret", "short"]), "is 5 bytes", "at least 32", "longer one")
            expectRuntimeError(
                try playhead(["token", "--user", "a", "--data-dir", store], environment: ["PLAYHEAD_JWT_SECRET": "tiny"]),
                "PLAYHEAD_JWT_SECRET is 4 bytes"
            )
            expectRuntimeError(try playhead(["serve", "--data-dir", directory + "/new", "--jwt-secret", "short", "--port", "0"]), "at least 32")
            #expect(!FileManager.default.fileExists(atPath: directory + "/new"))
            expectRuntimeError(try playhead(["export", "--data-dir", store, "-o", directory + "/no/such/dir.ndjson"]), "cannot create", "--output")
            expectRuntimeError(try playhead(["import", "--data-dir", store, directory + "/absent.ndjson"]), "cannot open", "absent.ndjson")
            try Data("not a store".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
            expectRuntimeError(try playhead(["stats", "--data-dir", directory + "/file"]), "no Playhead log")
            try FileManager.default.createDirectory(atPath: directory + "/foreign/log", withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/foreign/log/notes.txt"))
            expectRuntimeError(try playhead(["tail", "--data-dir", directory + "/foreign"]), "not a Playhead log", "--data-dir")
            expectRuntimeError(try playhead(["init", "--data-dir", directory + "/foreign"]), "not a Playhead log", "--data-dir")

            // The server has the store: import, a second server and the bench say so.
            let server = try ServerProcess(store: store)
            expectRuntimeError(try playhead(["import", "--data-dir", store, file]), "another process has the log", "playhead serve", "stop it")
            expectRuntimeError(
                try playhead(["serve", "--data-dir", store, "--port", "0", "--jwt-secret", ServerProcess.secret]),
                "another process has the log"
            )
            expectRuntimeError(try playhead(["append-loop", "--data-dir", store, "--count", "1"]), "another process has the log")
            server.stop()
            #expect(try head(of: store) == 2)

            // Usage errors keep the usage and exit 64.
            for arguments in [
                ["stats", "--bogus"], ["serve", "--log-level", "loud"], ["token", "--user", "a", "--ttl", "5x"], ["serve", "--port", "70000"],
                ["export", "--from", "3", "--to", "2"], ["import"],
            ] {
                // In a directory of their own: a command that wrongly ran would make its store there.
                let result = try playhead(arguments + ["--data-dir", directory + "/usage"], timeout: .seconds(20))
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains("Usage: playhead"), "\(arguments): \(result.stderr)")
            }
        }
    }

    @Test("serve on a busy port names the port and what to do, and leaves the data directory as it was")
    func busyPort() async throws {
        try await withTemporaryDirectory { directory in
            let listener = try Listener()
            defer { listener.close() }
            let message = "port \(listener.port) is in use; choose another with --port"

            let fresh = directory + "/fresh"
            expectRuntimeError(try playhead(["serve", "--data-dir", fresh, "--port", "\(listener.port)"]), message)
            #expect(!FileManager.default.fileExists(atPath: fresh))

            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "1", "--count", "2"]).status == 0)
            let before = listing(store)
            expectRuntimeError(try playhead(["serve", "--data-dir", store, "--port", "\(listener.port)"]), message)
            #expect(listing(store) == before)
            #expect(!FileManager.default.fileExists(atPath: store + "/jwt-secret"))
        }
    }

    @Test("import checks every limit of the log before it appends anything")
    func importLimitsUpFront() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory + "/source"
            #expect(try playhead(["append-loop", "--data-dir", source, "--tasks", "1", "--count", "4"]).status == 0)
            var lines = try playhead(["export", "--data-dir", source]).stdout.split(separator: "\n").map(String.init)
            lines[3] = lines[3].replacingOccurrences(of: "\"type\":\"test.appended\"", with: "\"type\":\"\(String(repeating: "t", count: 256))\"")
            let file = directory + "/long-type.ndjson"
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let result = try playhead(["import", "--data-dir", directory + "/target", file, "--batch-size", "1"])
            expectRuntimeError(result, "import: nothing imported: line 4: type must be 1 to 255 bytes")
            #expect(try head(of: directory + "/target") == 0)
        }
    }

    @Test("the example lines of Docs/events.md import, and export again as documented")
    func documentedExamples() async throws {
        try await withTemporaryDirectory { directory in
            let documented = try documentedEventLines()
            #expect(documented.count >= 11)
            let file = directory + "/examples.ndjson"
            try (documented.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let imported = try playhead(["import", "--data-dir", directory + "/store", file])
            #expect(imported.status == 0, "\(imported.stderr)")
            let exported = try playhead(["export", "--data-dir", directory + "/store"]).stdout.split(separator: "\n").map(String.init)
            #expect(exported.count == documented.count)
            for (index, (line, documentedLine)) in zip(exported, documented).enumerated() {
                // The log assigns positions from 1; everything else is as documented.
                #expect(line == (try withPosition(documentedLine, index + 1)))
            }
        }
    }

    @Test("an export in the keyed form older builds wrote ({\"like\":{}}) imports, and exports as documented")
    func olderExports() async throws {
        try await withTemporaryDirectory { directory in
            let documented = try documentedEventLines()
            let older = documented.map { line in
                line.replacingOccurrences(of: #""interactionType":"like""#, with: #""interactionType":{"like":{}}"#)
                    .replacingOccurrences(of: #"{"event":"play","#, with: #"{"event":{"play":{}},"#)
            }
            #expect(older != documented)
            let file = directory + "/older.ndjson"
            try (older.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let imported = try playhead(["import", "--data-dir", directory + "/store", file])
            #expect(imported.status == 0, "\(imported.stderr)")
            let exported = try playhead(["export", "--data-dir", directory + "/store"]).stdout.split(separator: "\n").map(String.init)
            #expect(exported == (try documented.enumerated().map { try withPosition($0.element, $0.offset + 1) }))
        }
    }

    @Test("a large export (one part per processor) imports back byte for byte, and a fault deep in it is named by its line")
    func largeRoundTrip() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory + "/source"
            let seeded = try playhead(["bench", "interactions", "--data-dir", source, "--interactions", "6000", "--queries", "1"])
            #expect(seeded.status == 0, "\(seeded.stderr)")
            let file = directory + "/events.ndjson"
            #expect(try playhead(["export", "--data-dir", source, "-o", file]).status == 0)
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.utf8.count > 2 << 20)
            // All the checked events kept in memory, some of them, none: the same store.
            for memory in ["512", "1", "0"] {
                let copy = directory + "/copy-\(memory)"
                let imported = try playhead(["import", "--data-dir", copy, file, "--check-memory", memory, "--batch-size", "999"])
                #expect(imported.status == 0, "\(imported.stderr)")
                #expect(imported.stderr.contains("import: 6000 events at positions 1...6000"))
                #expect(try playhead(["export", "--data-dir", copy]).stdout == text)
                #expect(try playhead(["verify", "--data-dir", copy]).status == 0)
            }

            let lines = text.split(separator: "\n").map(String.init)
            let firstTime = try #require(try Regex(#""recordedAt":"[^"]+""#).firstMatch(in: lines[0])).output[0].substring
            for number in [2_998, 2_999, 3_000, 3_001, 3_002, 5_999] {
                var broken = lines
                // An earlier time than the line before it.
                broken[number - 1] = broken[number - 1].replacing(try Regex(#""recordedAt":"[^"]+""#), with: String(try #require(firstTime)))
                let bad = directory + "/back-\(number).ndjson"
                try (broken.joined(separator: "\n") + "\n").write(toFile: bad, atomically: true, encoding: .utf8)
                let result = try playhead(["import", "--data-dir", directory + "/back-\(number)", bad])
                expectRuntimeError(result, "import: nothing imported: line \(number): recordedAt ")
                #expect(try head(of: directory + "/back-\(number)") == 0)
            }
            var broken = lines
            broken[4_999] = String(broken[4_999].dropLast())
            let bad = directory + "/cut.ndjson"
            try (broken.joined(separator: "\n") + "\n").write(toFile: bad, atomically: true, encoding: .utf8)
            expectRuntimeError(try playhead(["import", "--data-dir", directory + "/cut", bad]), "line 5000: not a JSON object")
        }
    }

    @Test("export and import draw a progress bar on a terminal, and only there")
    func progressBars() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "2", "--count", "5"]).status == 0)
            let file = directory + "/events.ndjson"
            let piped = try playhead(["export", "--data-dir", store, "-o", file])
            #expect(!piped.stderr.contains("\r"))
            let pipedImport = try playhead(["import", "--data-dir", directory + "/piped", file])
            #expect(pipedImport.status == 0)
            #expect(!pipedImport.stderr.contains("\r"))

            // `script` runs the command on a pseudo-terminal.
            let script = "/usr/bin/script"
            try #require(FileManager.default.isExecutableFile(atPath: script))
            for command in [
                "'\(playheadBinary)' export --data-dir '\(store)' -o '\(directory)/again.ndjson'",
                "'\(playheadBinary)' import --data-dir '\(directory)/terminal' '\(file)'",
            ] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: script)
                process.arguments = ["-qfec", command, "/dev/null"]
                let out = Pipe()
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
                try process.run()
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "\(text)")
                #expect(text.contains("\r"), "\(text)")
                #expect(text.contains("100%  10/10 events"), "\(text)")
            }
        }
    }
}
