import CCRC32C
import Foundation
import LMDBKit
import Testing

@testable import EventLog
@testable import LMDBLog

@Suite("Storage, growth and faults", .timeLimit(.minutes(5)))
struct DurabilityTests {
    @Test("CRC-32C matches the standard check value")
    func crcCheckValue() {
        let bytes = Array("123456789".utf8)
        #expect(playhead_crc32c_extend(0, bytes, bytes.count) == 0xE306_9283)
        let split = playhead_crc32c_extend(playhead_crc32c_extend(0, bytes, 4), Array(bytes[4...]), 5)
        #expect(split == 0xE306_9283)
    }

    @Test("CRC-32C in three chains gives the bit-by-bit result at every length and alignment")
    func crcChains() {
        // The definition, one bit at a time (reflected polynomial 0x82F63B78).
        func reference(_ crc: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc = ~crc
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<4200).map { _ in UInt8.random(in: 0...255, using: &random) }
        var mismatches: [String] = []
        // Every length around the three-chain thresholds and the 1,536-byte pass, a few larger.
        for length in Array(0...700) + [1535, 1536, 1537, 3000, 4100] {
            for offset in [0, 1, 2, 5, 7] {
                let seed = UInt32.random(in: 0...UInt32.max, using: &random)
                let slice = bytes[offset..<(offset + length)]
                let hardware = slice.withUnsafeBytes { playhead_crc32c_extend(seed, $0.baseAddress, length) }
                if hardware != reference(seed, slice) { mismatches.append("\(length)@\(offset)") }
            }
        }
        #expect(mismatches.isEmpty)
    }

    @Test("the map grows when full without losing a batch")
    func mapGrowth() async throws {
        let configuration = configured {
            $0.initialMapSize = 1 << 20
            $0.maxMapGrowth = 4 << 20
        }
        try await withLog(configuration) { log, _ in
            let payload = [UInt8](repeating: 7, count: 4000)
            for batch in 0..<40 {
                let events = (0..<100).map { ProposedEvent(type: "big", stream: "g-\($0 % 10)", payload: payload + [UInt8(batch)]) }
                let result = try await log.append(AppendRequest(events: events))
                #expect(result.positions.count == 100)
            }
            let stats = try log.statistics()
            #expect(stats.events == 4000)
            #expect(stats.mapSize > 1 << 20)
            #expect(try log.verify().isSound)
            #expect(try log.read(from: 4000, limit: 1).first?.payload.last == 39)
        }
    }

    @Test("reopening keeps every event, stream version and idempotency key")
    func reopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            var configuration = LMDBEventLog.Configuration()
            configuration.streamRowFlushInterval = 1_000_000
            configuration.streamCheckpointInterval = 4
            var before: [RecordedEvent] = []
            do {
                let log = try LMDBEventLog(directory: path, configuration: configuration)
                for index in 0..<30 {
                    _ = try await log.append(AppendRequest(events: [event("r-\(index % 3)", "\(index)")], idempotencyKey: "k\(index)"))
                }
                before = try log.read(from: 1, limit: .max)
                await log.close()
            }
            let log = try LMDBEventLog(directory: path, configuration: configuration)
            #expect(try log.read(from: 1, limit: .max) == before)
            #expect(try log.streamInfo("r-1").version == 10)
            #expect(try await log.append(AppendRequest(events: [event("r-0", "again")], idempotencyKey: "k3")).deduplicated)
            let next = try await log.append(AppendRequest(stream: "r-1", expecting: .exactly(10), events: [event("r-1", "11th")]))
            #expect(next.positions == 31...31)
            #expect(try log.readStream("r-1", from: 11, limit: 1).first?.streamVersion == 11)
            #expect(try log.verify().isSound)
            await log.close()
        }
    }

    @Test("a failed commit leaves the log and the writer exactly as before")
    func failedCommit() async throws {
        try await withLog { log, _ in
            _ = try await log.append(AppendRequest(events: [event("f", "1")]))
            log.writer?.faultInjector = { _ in ENOSPC }
            do {
                _ = try await log.append(AppendRequest(events: [event("f", "2"), event("new", "1")], idempotencyKey: "lost"))
                Issue.record("an append succeeded through a failed commit")
            } catch let error as EventLogError {
                #expect(error.code == .storage)
                #expect(error.message.contains("nothing of the batch was written"))
            }
            log.writer?.faultInjector = nil
            #expect(try log.head == 1)
            #expect(try log.streamInfo("f").version == 1)
            #expect(try log.streamInfo("new").version == 0)
            let retry = try await log.append(
                AppendRequest(
                    events: [event("f", "2"), event("new", "1")],
                    expectations: ["f": .exactly(1), "new": .noStream],
                    idempotencyKey: "lost"
                )
            )
            #expect(retry.positions == 2...3 && !retry.deduplicated)
            #expect(try log.verify().isSound)
        }
    }

    @Test("a directory holding something else is refused, saying so")
    func foreignDirectory() async throws {
        try await withTemporaryDirectory { directory in
            try Data("hello".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
            #expect {
                _ = try LMDBEventLog(directory: directory)
            } throws: { error in
                (error as? EventLogError)?.code == .notALog && "\(error)".contains("not a Playhead log")
            }
            #expect(FileManager.default.fileExists(atPath: directory + "/data.mdb") == false)

            let garbage = directory + "/garbage"
            try FileManager.default.createDirectory(atPath: garbage, withIntermediateDirectories: true)
            try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: garbage + "/data.mdb"))
            #expect {
                _ = try LMDBEventLog(directory: garbage)
            } throws: { error in (error as? EventLogError)?.code == .notALog }

            #expect {
                _ = try LMDBEventLog(directory: directory + "/missing", mode: .readOnly)
            } throws: { error in (error as? EventLogError)?.code == .notALog }
        }
    }

    @Test("an LMDB environment that is not a Playhead log, and a log of a newer format, are refused")
    func foreignAndNewer() async throws {
        try await withTemporaryDirectory { directory in
            // A plain LMDB environment with an unrelated database.
            let plain = directory + "/plain"
            try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
            try writeRaw(plain, database: "other", key: "k", value: [1])
            #expect {
                _ = try LMDBEventLog(directory: plain)
            } throws: { error in (error as? EventLogError)?.code == .notALog }

            // A Playhead log whose format marker says version 99.
            let newer = directory + "/newer"
            do {
                let log = try LMDBEventLog(directory: newer)
                await log.close()
            }
            var marker = Array("PLAYHEAD-LOG".utf8)
            withUnsafeBytes(of: UInt32(99).littleEndian) { marker.append(contentsOf: $0) }
            try writeRaw(newer, database: "meta", key: "format", value: marker)
            #expect {
                _ = try LMDBEventLog(directory: newer)
            } throws: { error in
                (error as? EventLogError)?.code == .newerFormat && "\(error)".contains("format 99")
            }
        }
    }

    @Test("a process opens a log once (LMDB forbids a second handle); after release it opens again")
    func openOncePerProcess() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            do {
                let log = try LMDBEventLog(directory: path)
                for mode in [LMDBEventLog.OpenMode.readWrite, .readOnly] {
                    #expect {
                        _ = try LMDBEventLog(directory: path, mode: mode)
                    } throws: { error in
                        (error as? EventLogError)?.code == .alreadyOpen && "\(error)".contains("already open in this process")
                    }
                }
                _ = try await log.append(AppendRequest(events: [event("once", "1")]))
                await log.close()
            }
            let reopened = try LMDBEventLog(directory: path, mode: .readOnly)
            #expect(try reopened.head == 1)
        }
    }

    @Test("a writer lock still held a moment after its release (by a child being spawned) is waited for; one held on is refused")
    func writerLockHeldByACopy() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/writer.lock"
            let released = open(path, O_RDWR | O_CREAT, 0o644)
            #expect(flock(released, LOCK_EX | LOCK_NB) == 0)
            // A spawning child's copy of the descriptor: the same open file description.
            let copy = dup(released)
            close(released)
            #expect(FileLock.isHeld(path: path))
            let closer = Thread {
                Thread.sleep(forTimeInterval: 0.05)
                close(copy)
            }
            closer.start()
            let taken = try FileLock(path: path)
            taken.release()
            let holder = try FileLock(path: path)
            #expect(throws: FileLock.Failure.self) { _ = try FileLock(path: path, patience: .milliseconds(20)) }
            holder.release()
        }
    }

    @Test("verify names the position of a damaged record in a copy of the data file")
    func corruptionDetected() async throws {
        try await withLog { log, path in
            for index in 1...50 {
                _ = try await log.append(AppendRequest(events: [event("v-\(index % 4)", "payload-\(index)-MARK")]))
            }
            await log.close()
            let copy = path + "-copy"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            var data = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            // LMDB copies pages on write, so stale copies of the record may lie in the file too:
            // damage every copy, the live one among them.
            let marker = Data("payload-37-MARK".utf8)
            var searchFrom = data.startIndex
            var damaged = 0
            while let range = data.range(of: marker, in: searchFrom..<data.endIndex) {
                data[range.lowerBound + 8] ^= 0x01
                searchFrom = range.upperBound
                damaged += 1
            }
            #expect(damaged >= 1)
            try data.write(to: URL(fileURLWithPath: copy + "/data.mdb"))

            let copyLog = try LMDBEventLog(directory: copy, mode: .readOnly)
            let report = try copyLog.verify()
            #expect(report.problem?.position == 37)
            #expect(report.problem?.reason.contains("checksum") == true)
            #expect(report.eventsChecked == 36)
        }
    }

    @Test("a record whose lengths do not add up is reported, not read out of bounds")
    func malformedRecord() throws {
        let bytes: [UInt8] = [1, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 44)
        bytes.withUnsafeBytes { raw in
            #expect(throws: RecordFormatError.self) { _ = try EventRecord(position: 9, bytes: raw) }
            #expect(throws: RecordFormatError.self) { _ = try EventRecord(position: 9, bytes: UnsafeRawBufferPointer(rebasing: raw[0..<10])) }
        }
    }
}

/// Writes one key into a named database of the LMDB environment at `path` (test set-up only).
private func writeRaw(_ path: String, database: String, key: String, value: [UInt8]) throws {
    let environment = try LMDBEnvironment(path: path, mapSize: 1 << 20, maxReaders: 8, maxDatabases: 8)
    try environment.withWriteTransaction { txn in
        let dbi = try txn.openDatabase(database, create: true)
        try txn.put(Array(key.utf8), value, in: dbi)
    }
}
