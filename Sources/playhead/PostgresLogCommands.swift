import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBKit
import PlayheadCore
import PostgresLog
import Views

/// `--log postgres://…`: the commands that work on a log (serve, export, import, verify,
/// rebuild) work on a PostgreSQL log instead of the data directory's embedded one.
struct PostgresLogOption: ParsableArguments {
    @Option(
        name: .customLong("log"),
        help: """
            A PostgreSQL log instead of the embedded one: postgres://user[:password]@host[:port]/database \
            (default: $PLAYHEAD_LOG_URL). The data directory then holds only a node's views.
            """
    )
    var url: String?

    /// The URL given, or `PLAYHEAD_LOG_URL`; nil for the embedded log.
    var resolved: String? {
        if let url { return url }
        guard let url = ProcessInfo.processInfo.environment["PLAYHEAD_LOG_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// The location `resolved` names.
    ///
    /// - Throws: `ValidationError` naming what is wrong with the URL.
    func location(_ url: String) throws -> PostgresLocation {
        do {
            return try PostgresLocation(url: url)
        } catch let error as EventLogError {
            throw ValidationError("--log: \(error.message)")
        }
    }

    /// Opens the log (migrating its schema if needed).
    ///
    /// - Throws: ``RuntimeError`` with PostgreSQL's words when it cannot be reached or refuses.
    func open(_ url: String) async throws -> PostgresEventLog {
        let location = try location(url)
        do {
            return try await PostgresEventLog.open(location)
        } catch let error as EventLogError {
            throw RuntimeError(error.message)
        }
    }
}

/// What `export`, `import`, `verify` and `rebuild` do on a PostgreSQL log.
enum PostgresLogCommands {
    /// Writes the events from `first` through `last` as export's NDJSON lines; returns how many.
    static func export(
        _ log: PostgresEventLog,
        first: LogPosition,
        last: LogPosition?,
        to file: OutputFile,
        progress: ProgressBar
    ) async throws
        -> Int
    {
        let head = try await log.currentHead()
        let last = min(last ?? .max, head)
        var next = max(first, 1)
        var written = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(2 << 20)
        while next <= last {
            let chunk = try await log.events(from: next, direction: .forward, limit: Int(min(UInt64(PlayheadNode.foldChunk), last - next + 1)))
            guard let end = chunk.last?.position else { break }
            buffer.removeAll(keepingCapacity: true)
            for event in chunk { buffer += EventLine.encode(event) }
            try file.write(buffer)
            written += chunk.count
            progress.advance(by: UInt64(chunk.count))
            next = end + 1
        }
        return written
    }

    /// Checks the log in PostgreSQL: positions 1 to the head without a gap, recorded-at never
    /// going back, every stream's versions 1 to n in position order, the streams' rows equal
    /// to what the events say, idempotency keys inside the log. Returns the problems found
    /// (empty: sound) and the count of events.
    static func verify(_ log: PostgresEventLog) async throws -> (events: UInt64, streams: UInt64, problems: [String]) {
        let checks = try await log.integrityReport()
        var problems: [String] = []
        if checks.events != checks.head || checks.maxPosition != checks.head {
            problems.append(
                "positions are not 1 to the head without a gap: \(checks.events) events, the last at \(checks.maxPosition), the head row says \(checks.head)"
            )
        }
        if checks.recordedAtBackwards > 0 { problems.append("recorded-at goes back at \(checks.recordedAtBackwards) events") }
        if checks.streamVersionsOutOfOrder > 0 {
            problems.append("\(checks.streamVersionsOutOfOrder) events have a stream version other than their place in their stream")
        }
        if checks.streamRowsWrong > 0 { problems.append("\(checks.streamRowsWrong) rows of playhead_streams disagree with the events") }
        if checks.keysOutside > 0 { problems.append("\(checks.keysOutside) idempotency keys name positions outside the log") }
        return (checks.events, checks.streams, problems)
    }

    /// Folds the whole log into a new views generation of the node directory `directory` and
    /// publishes it. The node must be stopped (it holds `node.lock`).
    static func rebuild(_ log: PostgresEventLog, node directory: String) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let nodeLock: FileLock
        do {
            nodeLock = try FileLock(path: directory + "/node.lock")
        } catch {
            throw RuntimeError("a node serves \(directory); stop it first (a node switches views only when it starts)")
        }
        defer { nodeLock.release() }
        let location = ViewsLocation(store: directory)
        let head = try await log.currentHead()
        let previous = try await ViewsMaintenance.rebuild(location, head: head) { target, bar in
            let folded = try await PlayheadNode.fold(log, into: target, projectors: PlayheadStore.projectors, through: head) { bar.update($0) }
            try await PlayheadNode.fold(log, into: AsyncProjections.directory(in: target), projectors: PlayheadStore.asyncProjectors, through: head)
            return folded
        }
        location.remove(previous)
    }
}
