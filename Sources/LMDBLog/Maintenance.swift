public import EventLog
package import LMDBKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Figures about a log, as `playhead stats` prints them.
public struct LogStatistics: Sendable, Hashable, Codable {
    /// The newest position (0 when empty).
    public var head: LogPosition
    /// How many events are stored (positions are contiguous, so equal to the head).
    public var events: UInt64
    /// How many streams have at least one event.
    public var streams: UInt64
    /// How many idempotency keys are stored.
    public var idempotencyKeys: UInt64
    /// Bytes the data file takes on disk.
    public var bytesOnDisk: UInt64
    /// Bytes used inside the map (pages in use times the page size).
    public var bytesUsed: UInt64
    /// The map size in bytes.
    public var mapSize: UInt64
    /// The format version of the log.
    public var formatVersion: UInt32
    /// The recorded-at time of the newest event.
    public var lastRecordedAt: Timestamp?
}

/// The first problem `verify` found, or none.
public struct VerificationReport: Sendable, Hashable {
    /// One damaged or inconsistent place.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The event position it concerns (0 when it concerns an index row with no event).
        public var position: LogPosition
        /// What is wrong.
        public var reason: String

        public var description: String { position > 0 ? "position \(position): \(reason)" : reason }
    }

    /// Events checked.
    public var eventsChecked: UInt64
    /// Streams checked.
    public var streamsChecked: UInt64
    /// Stream checkpoints checked.
    public var checkpointsChecked: UInt64
    /// Pages of the data file the structure check walked (the meta pages and every page of
    /// every tree; not the free ones).
    public var pagesChecked: UInt64 = 0
    /// The first problem, nil when the log is sound.
    public var problem: Problem?

    /// Whether every check passed.
    public var isSound: Bool { problem == nil }
}

extension LMDBEventLog {
    /// Figures about the log, from one snapshot.
    public func statistics() throws -> LogStatistics {
        try environment.withReadTransaction { txn in
            let reader = LogReader(txn: txn, databases: databases)
            let last = try reader.lastRecord()
            var file = stat()
            let fileSize: UInt64? = stat(directory + "/data.mdb", &file) == 0 ? UInt64(file.st_blocks) * 512 : nil
            // Streams whose first event came after the stored rows are not in them yet.
            var newStreams: UInt64 = 0
            try reader.visit(from: try reader.streamsThrough() + 1) { record in
                if record.streamVersion == 1 { newStreams += 1 }
                return true
            }
            return LogStatistics(
                head: last?.position ?? 0,
                events: last?.position ?? 0,
                streams: try txn.count(of: databases.streams) + newStreams,
                idempotencyKeys: try txn.count(of: databases.idempotency),
                bytesOnDisk: fileSize ?? 0,
                bytesUsed: environment.bytesUsed,
                mapSize: UInt64(environment.mapSize),
                formatVersion: Self.formatVersion,
                lastRecordedAt: last?.recordedAt
            )
        }
    }

    /// The names of the databases in a log's LMDB environment.
    static let databaseNames: Set<String> = ["events", "streams", "stream_checkpoints", "idempotency", "meta"]

    /// Checks the whole log in one snapshot and reports the first problem.
    ///
    /// First the structure of the data file, read directly (``LMDBStructureCheck``): the
    /// meta pages, every page of every B-tree, the counts LMDB keeps and its page
    /// accounting, so that damage LMDB itself would trip over (an assertion, a read past
    /// the end) is reported instead. Then the records and indexes through LMDB: every record
    /// parses and its CRC-32C matches; positions run 1, 2, 3… with no gap; recorded-at never
    /// decreases; each stream's versions run 1, 2, 3… and every record points at the
    /// stream's previous one; each stream row holds its stream's version and newest
    /// position; each checkpoint points at the right version of the right stream, and every
    /// version due one has one; each idempotency entry lies inside the log.
    ///
    /// - Parameter progress: called every 65,536 events with the number checked so far.
    public func verify(progress: ((UInt64) -> Void)? = nil) throws -> VerificationReport {
        // The structure check reads the meta page of the read transaction's snapshot; a
        // writer in another process may have moved two commits on in between: begin again.
        for _ in 0..<100 {
            if let report = try verifyOnce(progress: progress) { return report }
        }
        throw EventLogError(.storage, "the log kept changing under verify; run it again when it is quieter")
    }

    /// The first damage in the structure of the newest snapshot of the log's data file in
    /// `directory`, read without LMDB (and without a read transaction, so only for a log no
    /// one writes, or to explain why opening it failed); nil when none is found.
    package static func structureDamage(directory: String) -> LMDBDamage? {
        do {
            guard let file = try LMDBDataFile(path: directory + "/data.mdb"),
                var check = try LMDBStructureCheck(file: file, transaction: nil, expectedDatabases: databaseNames)
            else { return nil }
            _ = try check.run()
            return nil
        } catch {
            return error
        }
    }

    /// Walks the structure of the data file in the snapshot of the read transaction `txn`;
    /// nil when its meta page has already been overwritten.
    private func checkStructure(_ txn: LMDBTransaction, map: ((LMDBByteRange) -> Void)? = nil) throws(LMDBDamage) -> LMDBStructureSummary? {
        guard let file = try LMDBDataFile(path: directory + "/data.mdb") else {
            throw LMDBDamage(page: nil, "\(directory)/data.mdb is missing")
        }
        guard
            var check = try LMDBStructureCheck(
                file: file,
                transaction: txn.id,
                expectedDatabases: Self.databaseNames,
                map: map
            )
        else { return nil }
        return try check.run()
    }

    /// Tells `body` how every byte of the data file is used in the newest snapshot, as the
    /// structure check sees it (for `playhead verify --byte-map` and `tools/flip-bytes`).
    ///
    /// - Throws: ``EventLogError`` with code ``EventLogError/Code/damaged`` when the
    ///   structure is damaged.
    package func mapDataFile(_ body: @escaping (LMDBByteRange) -> Void) throws {
        for _ in 0..<100 {
            let done = try environment.withReadTransaction { txn throws -> Bool in
                do {
                    return try checkStructure(txn, map: body) != nil
                } catch {
                    throw EventLogError(.damaged, "the log's data file is damaged: \(error)")
                }
            }
            if done { return }
        }
        throw EventLogError(.storage, "the log kept changing; run it again when it is quieter")
    }

    private func verifyOnce(progress: ((UInt64) -> Void)?) throws -> VerificationReport? {
        try environment.withReadTransaction { txn -> VerificationReport? in
            var structure: LMDBStructureSummary
            do {
                guard let summary = try checkStructure(txn) else { return nil }
                structure = summary
            } catch {
                let problem = VerificationReport.Problem(position: 0, reason: "the LMDB structure of data.mdb is damaged: \(error)")
                return VerificationReport(eventsChecked: 0, streamsChecked: 0, checkpointsChecked: 0, problem: problem)
            }
            let reader = LogReader(txn: txn, databases: databases)
            var report = VerificationReport(eventsChecked: 0, streamsChecked: 0, checkpointsChecked: 0, problem: nil)
            report.pagesChecked = structure.usedPages
            var streams: [[UInt8]: StreamState] = [:]
            // The stored stream rows reflect the log up to here; compare them with the fold at that point.
            let streamsThrough = try reader.streamsThrough()
            var streamsAtThrough: [[UInt8]: StreamState] = [:]
            var expected: LogPosition = 1
            var lastRecordedAt = Int64.min
            var problem: VerificationReport.Problem?

            // Walk the events by raw cursor so that a record that does not parse is reported, not thrown.
            try txn.forEach(in: databases.events) { entry in
                guard let position = logPosition(fromKey: entry.key) else {
                    problem = .init(position: expected, reason: "an event key is \(entry.key.count) bytes, not 8")
                    return false
                }
                guard position == expected else {
                    problem = .init(position: expected, reason: "missing event: the next stored position is \(position)")
                    return false
                }
                let record: EventRecord
                do throws(RecordFormatError) {
                    record = try EventRecord(position: position, bytes: entry.value)
                } catch {
                    problem = .init(position: position, reason: error.reason)
                    return false
                }
                let recordedAt = record.recordedAt.microsecondsSince1970
                guard recordedAt >= lastRecordedAt else {
                    problem = .init(position: position, reason: "recorded-at goes back in time")
                    return false
                }
                lastRecordedAt = recordedAt
                let stream = Array(record.streamBytes)
                let previous = streams[stream] ?? .empty
                guard record.streamVersion == previous.version + 1, record.previousPositionInStream == previous.lastPosition else {
                    problem = .init(
                        position: position,
                        reason: "stream '\(record.stream)' version \(record.streamVersion) does not follow version "
                            + "\(previous.version) at position \(previous.lastPosition)"
                    )
                    return false
                }
                streams[stream] = StreamState(version: record.streamVersion, lastPosition: position)
                if position == streamsThrough { streamsAtThrough = streams }
                report.eventsChecked += 1
                if report.eventsChecked % 65_536 == 0 { progress?(report.eventsChecked) }
                expected += 1
                return true
            }
            if let problem {
                report.problem = problem
                return report
            }
            guard streamsThrough < expected else {
                report.problem = .init(position: 0, reason: "the stream rows claim position \(streamsThrough), past the last event")
                return report
            }
            report.problem = try verifyIndexes(reader, rows: streamsAtThrough, streams: streams, head: expected - 1, report: &report)
            return report
        }
    }

    private func verifyIndexes(
        _ reader: LogReader,
        rows expectedRows: [[UInt8]: StreamState],
        streams: [[UInt8]: StreamState],
        head: LogPosition,
        report: inout VerificationReport
    ) throws -> VerificationReport.Problem? {
        // Stream rows: one per stream that had events by the rows' position, with its version
        // and newest position then.
        var problem: VerificationReport.Problem?
        var rows = 0
        try reader.txn.forEach(in: databases.streams) { entry in
            let stream = Array(entry.key)
            let name = String(decoding: stream, as: UTF8.self)
            guard let state = StreamState(entry.value), let seen = expectedRows[stream], state == seen else {
                let seen = expectedRows[stream]
                problem = .init(
                    position: seen?.lastPosition ?? 0,
                    reason: "the stream index row of '\(name)' does not match its events "
                        + "(events end at version \(seen?.version ?? 0), position \(seen?.lastPosition ?? 0))"
                )
                return false
            }
            rows += 1
            return true
        }
        if let problem { return problem }
        report.streamsChecked = UInt64(rows)
        guard rows == expectedRows.count else {
            return .init(position: 0, reason: "\(expectedRows.count - rows) streams with events have no stream index row")
        }

        // Checkpoints: each points at its version of its stream; every due version has one.
        let interval = databases.checkpointInterval
        let due = streams.values.reduce(UInt64(0)) { $0 + $1.version / interval }
        var checkpoints: UInt64 = 0
        try reader.txn.forEach(in: databases.checkpoints) { entry in
            let bytes = entry.key
            let data = entry.value
            guard bytes.count >= 10, data.count == 8 else {
                problem = .init(position: 0, reason: "a stream checkpoint entry is malformed")
                return false
            }
            let length = Int(UInt16(bigEndian: bytes.loadUnaligned(as: UInt16.self)))
            let stream = Array(bytes[2..<min(bytes.count, 2 + length)])
            let version = bytes.count == 2 + length + 8 ? UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 2 + length, as: UInt64.self)) : 0
            let position = UInt64(littleEndian: data.loadUnaligned(as: UInt64.self))
            let name = String(decoding: stream, as: UTF8.self)
            let record = try? reader.record(at: position)
            guard version > 0, version % interval == 0, let record, record.streamVersion == version,
                record.streamBytes.elementsEqual(stream)
            else {
                problem = .init(position: position, reason: "the stream checkpoint for '\(name)' version \(version) points at the wrong event")
                return false
            }
            checkpoints += 1
            return true
        }
        if let problem { return problem }
        report.checkpointsChecked = checkpoints
        guard checkpoints == due else {
            return .init(position: 0, reason: "the stream index has \(checkpoints) checkpoints where its streams need \(due)")
        }

        // Idempotency entries: their positions exist.
        try reader.txn.forEach(in: databases.idempotency) { entry in
            guard let positions = IdempotencyValue.decode(entry.value), positions.lowerBound >= 1, positions.upperBound <= head else {
                let name = String(decoding: entry.key, as: UTF8.self)
                problem = .init(position: 0, reason: "the idempotency entry '\(name)' points outside the log")
                return false
            }
            return true
        }
        return problem
    }
}
