import Foundation
import LMDBKit
import Synchronization
import Testing

@testable import EventLog
@testable import LMDBLog

/// Flips a bit in every copy of `marker` in the data file of the log at `path` (LMDB copies
/// pages on write, so stale copies may lie in free pages too; the live one is among them).
/// Returns how many it damaged.
@discardableResult
func damageRecord(inLog path: String, marker: String, at offset: Int = 0) throws -> Int {
    let url = URL(fileURLWithPath: path + "/data.mdb")
    var data = try Data(contentsOf: url)
    var searchFrom = data.startIndex
    var damaged = 0
    while let range = data.range(of: Data(marker.utf8), in: searchFrom..<data.endIndex) {
        data[range.lowerBound + offset] ^= 0x01
        searchFrom = range.upperBound
        damaged += 1
    }
    try data.write(to: url)
    return damaged
}

/// The page size of the LMDB data file at `path` (meta page 0 keeps it).
func pageSize(ofLog path: String) throws -> Int {
    let data = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
    return Int(data[40]) | Int(data[41]) << 8 | Int(data[42]) << 16 | Int(data[43]) << 24
}

/// A log of `count` events over four streams, each payload `payload-<n>-MARK`, closed.
func writeMarkedLog(_ path: String, count: Int = 50) async throws {
    let log = try LMDBEventLog(directory: path)
    for index in 1...count {
        _ = try await log.append(AppendRequest(events: [event("d-\(index % 4)", "payload-\(index)-MARK")]))
    }
    await log.close()
}

/// A participant whose catch-up fails while `failing` is set, like inline projections on a
/// full disk; otherwise it counts events per stream.
final class FlakyParticipant: BatchParticipant, @unchecked Sendable {
    let failing = Atomic<Bool>(true)
    let attempts = Atomic<Int>(0)
    let counts = CountingProjection()

    func catchUp(_ reader: some EventScanner) throws {
        attempts.add(1, ordering: .relaxed)
        if failing.load(ordering: .relaxed) { throw CocoaError(.fileWriteOutOfSpace) }
        try counts.catchUp(reader)
    }

    func beginBatch(_ scope: BatchScope, _ log: some EventScanner) throws { try counts.beginBatch(scope, log) }
    func apply(_ record: EventView) throws { try counts.apply(record) }
    func commitBatch() throws { try counts.commitBatch() }
    func abortBatch() { counts.abortBatch() }
}

@Suite("Damage: checked reads, the structure check, catch-up retries", .timeLimit(.minutes(5)))
struct DamageTests {
    @Test("every way of reading a record checks its checksum and names the position of a damaged one")
    func checkedReads() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            try await writeMarkedLog(path)
            #expect(try damageRecord(inLog: path, marker: "payload-37-MARK", at: 8) >= 1)
            let log = try LMDBEventLog(directory: path, mode: .readOnly)
            let damaged = RecordFormatError(position: 37, reason: RecordFormatError.checksumMismatch)

            #expect(throws: damaged) { _ = try log.read(from: 1, limit: .max) }
            #expect(throws: damaged) { _ = try log.read(from: 50, direction: .backward, limit: .max) }
            #expect(throws: damaged) { _ = try log.withReader { try $0.record(at: 37) } }
            #expect(throws: damaged) { _ = try log.readStream("d-1", from: 1, limit: .max) }
            #expect(try log.read(from: 38, limit: .max).count == 13)
            #expect(try log.read(from: 1, limit: 36).count == 36)
            #expect(try log.readStream("d-0", from: 1, limit: .max).count == 12)
            #expect(try log.head == 50)

            var delivered: [LogPosition] = []
            await #expect(throws: damaged) {
                for try await event in log.subscribe(from: 1, chunkSize: 1) { delivered.append(event.position) }
            }
            #expect(delivered == Array(1...36))
            await log.close()
        }
    }

    @Test("a participant's catch-up stops at a damaged record instead of skipping it, and appends are refused")
    func foldStopsAtDamage() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            try await writeMarkedLog(path)
            try damageRecord(inLog: path, marker: "payload-21-MARK", at: 3)
            let projection = CountingProjection()
            let log = try LMDBEventLog(
                directory: path,
                configuration: configured {
                    $0.participant = projection
                    $0.catchUpRetryInterval = .seconds(60)
                }
            )
            #expect(try await eventually { log.catchUpFailure != nil })
            #expect(log.catchUpFailure?.message.contains("position 21: checksum mismatch") == true)
            await #expect {
                _ = try await log.append(AppendRequest(events: [event("d-0", "after")]))
            } throws: { error in
                (error as? EventLogError)?.message.contains("could not catch up") == true
            }
            #expect(try log.head == 50)
            // Nothing after the damaged record reached the read model.
            #expect((0..<4).map { projection.committedCount("d-\($0)") }.reduce(0, +) == 20)
            await log.close()
        }
    }

    @Test("the writer retries a failed catch-up by itself and takes appends again once it succeeds")
    func catchUpRetries() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            try await writeMarkedLog(path, count: 10)
            let participant = FlakyParticipant()
            let log = try LMDBEventLog(
                directory: path,
                configuration: configured {
                    $0.participant = participant
                    $0.catchUpRetryInterval = .milliseconds(5)
                }
            )
            #expect(try await eventually { participant.attempts.load(ordering: .relaxed) >= 3 })
            #expect(log.catchUpFailure?.code == .storage)
            await #expect(throws: EventLogError.self) { try await log.append(AppendRequest(events: [event("d-0", "refused")])) }
            #expect(try log.head == 10)

            // Room again: no append is needed for the writer to notice.
            participant.failing.store(false, ordering: .relaxed)
            #expect(try await eventually { log.catchUpFailure == nil })
            #expect((0..<4).map { participant.counts.committedCount("d-\($0)") }.reduce(0, +) == 10)
            let result = try await log.append(AppendRequest(events: [event("d-0", "accepted")]))
            #expect(result.positions == 11...11)
            #expect(participant.counts.committedCount("d-0") == 3)
            await log.close()
        }
    }

    @Test("the structure check finds a zeroed page, a damaged page header and a rolled-back meta page")
    func structureDamage() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            try await writeMarkedLog(path, count: 400)
            #expect(try LMDBEventLog(directory: path, mode: .readOnly).verify().isSound)
            let original = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let size = try pageSize(ofLog: path)
            // The page of the live copy of a record: a leaf page of the events tree.
            var leaves = Set<Int>()
            let file = try #require(try LMDBDataFile(path: path + "/data.mdb"))
            var mapped = try #require(
                try LMDBStructureCheck(file: file, transaction: nil) { range in
                    if range.what.hasPrefix("leaf page"), range.what.contains("of 'events'") { leaves.insert(Int(range.offset) / size) }
                }
            )
            _ = try mapped.run()
            var occurrences: [Int] = []
            var searchFrom = original.startIndex
            while let range = original.range(of: Data("payload-200-MARK".utf8), in: searchFrom..<original.endIndex) {
                occurrences.append(range.lowerBound / size)
                searchFrom = range.upperBound
            }
            let page = try #require(occurrences.first { leaves.contains($0) })

            func verifyCopy(_ change: (inout Data) -> Void) throws -> VerificationReport.Problem? {
                let copy = directory + "/copy-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
                var data = original
                change(&data)
                try data.write(to: URL(fileURLWithPath: copy + "/data.mdb"))
                return try LMDBEventLog(directory: copy, mode: .readOnly).verify().problem
            }

            let zeroed = try verifyCopy { $0.replaceSubrange((page * size)..<((page + 1) * size), with: Data(count: size)) }
            #expect(zeroed?.reason.contains("structure of data.mdb is damaged: page \(page):") == true, "\(String(describing: zeroed))")

            // The page's own number in its header (LMDB frees a page by it when it copies it).
            let renumbered = try verifyCopy { $0[page * size] ^= 0x40 }
            #expect(renumbered?.reason.contains("page \(page): a page of the events tree has page number") == true)

            // The older meta page's transaction id made newer than the newest: LMDB would open
            // the older snapshot, and lose the last commit, without a word.
            let transactions = [0, 1].map { index in
                original.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * size + 144, as: UInt64.self)) }
            }
            let older = transactions[0] < transactions[1] ? 0 : 1
            let rolledBack = try verifyCopy { data in
                withUnsafeBytes(of: (transactions.max()! + 1).littleEndian) { bytes in
                    data.replaceSubrange((older * size + 144)..<(older * size + 152), with: bytes)
                }
            }
            #expect(rolledBack?.reason.contains("the older meta page with a damaged transaction id") == true, "\(String(describing: rolledBack))")
        }
    }

    @Test("a truncated data file is refused before LMDB maps it; a short file whose missing pages are free opens")
    func truncatedFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            try await writeMarkedLog(path, count: 400)
            let original = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let copy = directory + "/copy"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
            for mode in [LMDBEventLog.OpenMode.readOnly, .readWrite] {
                #expect {
                    _ = try LMDBEventLog(directory: copy, mode: mode)
                } throws: { error in
                    let error = error as? EventLogError
                    return error?.code == .damaged && error?.message.contains("the file is truncated") == true
                }
            }
            // Two meta pages and no more.
            let size = try pageSize(ofLog: path)
            try original.prefix(size + 100).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
            #expect(throws: EventLogError.self) { _ = try LMDBEventLog(directory: copy, mode: .readOnly) }
        }
    }

    @Test("the structure check passes environments with deletions, overflow values, growth and free pages")
    func soundStructures() async throws {
        try await withTemporaryDirectory { directory in
            // A log with big records (overflow pages) written over many commits.
            let path = directory + "/log"
            let log = try LMDBEventLog(directory: path, configuration: configured { $0.initialMapSize = 1 << 20 })
            for batch in 0..<30 {
                let events = (0..<20).map { index in
                    ProposedEvent(type: "big", stream: "s-\(index % 3)", payload: [UInt8](repeating: UInt8(batch), count: index == 0 ? 9000 : 150))
                }
                _ = try await log.append(AppendRequest(events: events, idempotencyKey: "k\(batch)"))
            }
            let report = try log.verify()
            #expect(report.isSound, "\(String(describing: report.problem))")
            #expect(report.pagesChecked > 10)
            await log.close()

            // A plain environment whose keys are put, overwritten and deleted, as the views are.
            let views = directory + "/views"
            try FileManager.default.createDirectory(atPath: views, withIntermediateDirectories: true)
            let environment = try LMDBEnvironment(path: views, mapSize: 1 << 24, maxReaders: 8, maxDatabases: 4, options: .noSync)
            for round in 0..<40 {
                try environment.withWriteTransaction { txn in
                    let dbi = try txn.openDatabase("rows", create: true)
                    for key in 0..<300 {
                        let keyBytes = Array("row-\((key * 7919 + round) % 1000)".utf8)
                        let value = [UInt8](repeating: UInt8(round), count: (key + round) % 5 == 0 ? 3000 : 20 + key % 90)
                        if key % 3 == 0 {
                            try txn.delete(keyBytes, in: dbi)
                        } else {
                            try txn.put(keyBytes, value, in: dbi)
                        }
                    }
                }
            }
            let file = try #require(try LMDBDataFile(path: views + "/data.mdb"))
            var walk = try #require(try LMDBStructureCheck(file: file, transaction: nil))
            let summary = try walk.run()
            #expect(summary.databases.keys.sorted() == ["rows"])
            #expect(summary.freePages > 0)
        }
    }
}
