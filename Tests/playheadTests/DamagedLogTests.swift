import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Synchronization
import Testing
import Views

/// How a finished `playhead` run ended, signals included.
struct Termination {
    var status: Int32
    var bySignal: Bool
    var stdout: String
    var stderr: String

    /// Exited (no signal) with `code`.
    func exited(_ code: Int32) -> Bool { !bySignal && status == code }
}

/// Runs `playhead` with `arguments` to completion, telling a signal from an exit. A run
/// still going after `patience` is ended with SIGTERM (shows as a signal), so that a
/// command that should have stopped (`tail --follow` at a damaged record) fails the test
/// instead of hanging it.
func run(_ arguments: [String], patience: Duration = .seconds(60)) throws -> Termination {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: playheadBinary)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let identifier = process.processIdentifier
    let finished = Atomic<Bool>(false)
    Thread.detachNewThread {
        let deadline = ContinuousClock.now + patience
        while !finished.load(ordering: .relaxed) && ContinuousClock.now < deadline { usleep(10_000) }
        if !finished.load(ordering: .relaxed) { kill(identifier, SIGTERM) }
    }
    defer { finished.store(true, ordering: .relaxed) }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Termination(
        status: process.terminationStatus,
        bySignal: process.terminationReason == .uncaughtSignal,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self)
    )
}

/// Starts `playhead serve` on `store` and waits until it either listens (then stops it)
/// or exits. Returns whether it listened, and how it ended with what it printed.
func attemptToServe(_ store: String) throws -> (listened: Bool, termination: Termination) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: playheadBinary)
    process.arguments = ["serve", "--data-dir", store, "--port", "0", "--jwt-secret", ServerProcess.secret, "--log-level", "notice"]
    let err = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = err
    try process.run()
    var text = ""
    var listened = false
    let reader = err.fileHandleForReading
    while true {
        let chunk = reader.availableData
        if chunk.isEmpty { break }
        text += String(decoding: chunk, as: UTF8.self)
        if text.contains("playhead serving") {
            listened = true
            kill(process.processIdentifier, SIGTERM)
            text += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
            break
        }
    }
    process.waitUntilExit()
    let termination = Termination(
        status: process.terminationStatus,
        bySignal: process.terminationReason == .uncaughtSignal,
        stdout: "",
        stderr: text
    )
    return (listened, termination)
}

/// Copies `store`'s log (only its data file: no views, no lock files) into a new store.
func copyLog(of store: String, to copy: String) throws {
    try FileManager.default.createDirectory(atPath: copy + "/log", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: store + "/log/data.mdb", toPath: copy + "/log/data.mdb")
}

/// Changes the data file of the store's log: `change` gets its bytes and the page size.
func alterDataFile(of store: String, _ change: (inout Data, Int) throws -> Void) throws {
    let url = URL(fileURLWithPath: store + "/log/data.mdb")
    var data = try Data(contentsOf: url)
    let pageSize = Int(data[40]) | Int(data[41]) << 8 | Int(data[42]) << 16 | Int(data[43]) << 24
    try change(&data, pageSize)
    try data.write(to: url)
}

/// The ranges where `text` occurs in `data`: every copy, since LMDB leaves stale copies of
/// pages it copied on write.
func occurrences(of text: String, in data: Data) -> [Range<Int>] {
    var found: [Range<Int>] = []
    var searchFrom = data.startIndex
    while let range = data.range(of: Data(text.utf8), in: searchFrom..<data.endIndex) {
        found.append(range)
        searchFrom = range.upperBound
    }
    return found
}

/// A store written through the server: progress reports of alice for videos `clip-1-end`
/// to `clip-<count>-end`. Returns the log position of each video's report.
func progressStore(_ store: String, count: Int) async throws -> [String: Int] {
    let server = try ServerProcess(store: store)
    let token = try server.token("alice")
    for video in 1...count {
        let reply = try await server.send(
            "POST",
            "/progress/update",
            token: token,
            json: ["userId": "alice", "videoId": "clip-\(video)-end", "watchedDuration": 60 + video]
        )
        #expect(reply.status == 200)
    }
    server.stop()
    var positions: [String: Int] = [:]
    for line in try tailLines(try playhead(["tail", "--data-dir", store]).stdout) {
        if let video = (line["payload"] as? [String: Any])?["videoId"] as? String, let position = line["position"] as? Int {
            positions[video] = position
        }
    }
    return positions
}

@Suite("A damaged log is reported, never served, exported or crashed on", .serialized, .timeLimit(.minutes(5)))
struct DamagedLogTests {
    @Test("serve refuses to start on a log whose record fails its checksum, naming the position and the recovery procedure")
    func serveRefusesDamagedRecord() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            let positions = try await progressStore(store, count: 6)
            let position = try #require(positions["clip-4-end"])
            // Only the log: a server started on it folds the whole log into new views.
            let copy = directory + "/copy"
            try copyLog(of: store, to: copy)
            try alterDataFile(of: copy) { data, _ in
                let copies = occurrences(of: "clip-4-end", in: data)
                #expect(!copies.isEmpty)
                for range in copies { data[range.lowerBound + 5] ^= 0x01 }
            }

            let attempt = try attemptToServe(copy)
            #expect(!attempt.listened, "the server started on a damaged log")
            #expect(attempt.termination.exited(1), "\(attempt.termination)")
            #expect(attempt.termination.stderr.contains("position \(position): checksum mismatch"), "\(attempt.termination.stderr)")
            #expect(attempt.termination.stderr.contains("Docs/operations.md"))
            // Nothing was appended and no views were made.
            #expect(try playhead(["stats", "--data-dir", copy]).stdout.contains("\"head\" : \(positions.values.max() ?? 0)"))
            #expect(!FileManager.default.fileExists(atPath: copy + "/views/data.mdb"))
            // The undamaged store still serves.
            #expect(try attemptToServe(store).listened)
        }
    }

    @Test("export and tail stop at a damaged record with its position and exit 1, so nothing launders it")
    func exportAndTailStop() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "2", "--count", "20"]).status == 0)
            // One digit: no other payload is a prefix of it, which a record's checksum bytes
            // could complete into a second match ("append 1" and a checksum starting with "3").
            let target = "crash-test task 1 append 7"
            let lines = try tailLines(try playhead(["tail", "--data-dir", store]).stdout)
            let position = try #require(
                lines.first { Data(base64Encoded: $0["payloadBase64"] as? String ?? "").map { String(decoding: $0, as: UTF8.self) } == target }?[
                    "position"
                ]
                    as? Int
            )
            try alterDataFile(of: store) { data, _ in
                for range in occurrences(of: target, in: data) { data[range.lowerBound] ^= 0x20 }
            }

            let file = directory + "/events.ndjson"
            let export = try run(["export", "--data-dir", store, "--output", file])
            #expect(export.exited(1), "\(export)")
            #expect(export.stderr.contains("export: stopped: the log is damaged at position \(position): checksum mismatch"), "\(export.stderr)")
            #expect(try tailLines(try String(contentsOfFile: file, encoding: .utf8)).allSatisfy { ($0["position"] as? Int ?? .max) < position })
            // What comes before the damage exports whole.
            let before = try run(["export", "--data-dir", store, "--to", "\(position - 1)"])
            #expect(before.exited(0))
            #expect(try tailLines(before.stdout).count == position - 1)
            let toStandardOutput = try run(["export", "--data-dir", store])
            #expect(toStandardOutput.exited(1))

            for arguments in [["tail"], ["tail", "--follow"], ["tail", "--from", "\(position)"]] {
                let tail = try run(arguments + ["--data-dir", store])
                #expect(tail.exited(1), "\(arguments): \(tail)")
                #expect(
                    tail.stderr.contains("tail: stopped: the log is damaged at position \(position): checksum mismatch"),
                    "\(arguments): \(tail.stderr)"
                )
            }
            // Past the damage, the log still reads.
            let after = try run(["export", "--data-dir", store, "--from", "\(position + 1)"])
            #expect(after.exited(0))
            #expect(try tailLines(after.stdout).count == 40 - position)
        }
    }

    @Test("a zeroed page and a truncated data file are reported as damage with exit 1, never a crash")
    func structuralDamage() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "4", "--count", "500"]).status == 0)

            // Every page holding a copy of one record, the live one among them.
            let zeroed = directory + "/zeroed"
            try copyLog(of: store, to: zeroed)
            try alterDataFile(of: zeroed) { data, pageSize in
                let pages = Set(occurrences(of: "crash-test task 2 append 250", in: data).map { $0.lowerBound / pageSize })
                #expect(!pages.isEmpty)
                for page in pages { data.replaceSubrange((page * pageSize)..<((page + 1) * pageSize), with: Data(count: pageSize)) }
            }
            // The commands that read the log end in a report and exit 1 where LMDB aborts.
            for command in [["export"], ["tail"]] {
                let result = try run(command + ["--data-dir", zeroed])
                #expect(!result.bySignal && result.status == 1, "\(command): \(result.stderr.suffix(400))")
                #expect(result.stderr.contains("damaged"), "\(command): \(result.stderr.suffix(400))")
            }
            let verifyZeroed = try run(["verify", "--data-dir", zeroed])
            #expect(verifyZeroed.exited(1), "\(verifyZeroed)")
            #expect(verifyZeroed.stderr.contains("verify: FAILED: the LMDB structure of data.mdb is damaged: page "), "\(verifyZeroed.stderr)")
            let serveZeroed = try attemptToServe(zeroed)
            #expect(!serveZeroed.listened)
            #expect(serveZeroed.termination.exited(1), "\(serveZeroed.termination)")
            #expect(serveZeroed.termination.stderr.contains("damaged"))

            let truncated = directory + "/truncated"
            try copyLog(of: store, to: truncated)
            try alterDataFile(of: truncated) { data, _ in data = data.prefix(data.count / 2) }
            let verifyTruncated = try run(["verify", "--data-dir", truncated])
            #expect(verifyTruncated.exited(1), "\(verifyTruncated)")
            #expect(verifyTruncated.stderr.contains("the file is truncated"), "\(verifyTruncated.stderr)")
            let serveTruncated = try attemptToServe(truncated)
            #expect(!serveTruncated.listened)
            #expect(serveTruncated.termination.exited(1), "\(serveTruncated.termination)")
            #expect(serveTruncated.termination.stderr.contains("the file is truncated"))
            // Every other command refuses it too, with the reason, not a signal.
            for command in [["stats"], ["tail"], ["export"], ["rebuild"]] {
                let result = try run(command + ["--data-dir", truncated])
                #expect(!result.bySignal && result.status != 0, "\(command): \(result)")
                #expect(result.stderr.contains("the file is truncated"), "\(command): \(result.stderr)")
            }
        }
    }

    @Test("verify reports a meta page whose transaction id was changed to make the previous commit current")
    func rolledBackMetaPage() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "2", "--count", "50"]).status == 0)
            try alterDataFile(of: store) { data, pageSize in
                let transactions = [0, 1].map { meta in
                    data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: meta * pageSize + 144, as: UInt64.self)) }
                }
                let older = transactions[0] < transactions[1] ? 0 : 1
                withUnsafeBytes(of: (transactions[1 - older] + 1).littleEndian) { bytes in
                    data.replaceSubrange((older * pageSize + 144)..<(older * pageSize + 152), with: bytes)
                }
            }
            let verify = try run(["verify", "--data-dir", store])
            #expect(verify.exited(1), "\(verify)")
            #expect(verify.stderr.contains("the older meta page with a damaged transaction id"), "\(verify.stderr)")
        }
    }

    @Test("a flipped byte anywhere LMDB or Playhead reads it is reported by verify with exit 1")
    func flippedBytes() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory + "/store"
            #expect(try playhead(["append-loop", "--data-dir", store, "--tasks", "3", "--count", "400"]).status == 0)
            let map = try run(["verify", "--byte-map", "--data-dir", store])
            #expect(map.exited(0), "\(map)")
            // In-use ranges: offset, length, use.
            let ranges: [(offset: Int, count: Int, use: String)] = map.stdout.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: " ", maxSplits: 3)
                guard fields.count >= 3, let offset = Int(fields[0]), let count = Int(fields[1]), fields[2] != "unused" else { return nil }
                return (offset, count, String(fields[2]))
            }
            let total = ranges.reduce(0) { $0 + $1.count }
            #expect(total > 0)
            let original = try Data(contentsOf: URL(fileURLWithPath: store + "/log/data.mdb"))
            var generator = SeededGenerator(seed: 11)
            for flip in 0..<24 {
                var index = Int(generator.next() % UInt64(total))
                guard
                    let range = ranges.first(where: { range in
                        if index < range.count { return true }
                        index -= range.count
                        return false
                    })
                else { continue }
                let offset = range.offset + index
                let copy = directory + "/flip-\(flip)"
                try FileManager.default.createDirectory(atPath: copy + "/log", withIntermediateDirectories: true)
                var data = original
                data[offset] ^= UInt8(truncatingIfNeeded: generator.next() % 255 + 1)
                try data.write(to: URL(fileURLWithPath: copy + "/log/data.mdb"))
                let verify = try run(["verify", "--data-dir", copy])
                #expect(
                    !verify.bySignal && (verify.status == 1 || (verify.status == 0 && range.use != "checked")),
                    "byte \(offset) (\(range.use)): \(verify)"
                )
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so that a failing flip can be found again.
struct SeededGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
