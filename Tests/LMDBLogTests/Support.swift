import Foundation
import Synchronization

@testable import EventLog
@testable import LMDBLog

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// A configuration with `change` applied to the defaults.
func configured(_ change: (inout LMDBEventLog.Configuration) -> Void) -> LMDBEventLog.Configuration {
    var configuration = LMDBEventLog.Configuration()
    change(&configuration)
    return configuration
}

/// Opens a log with `configuration` in a fresh directory, runs `body`, closes it.
func withLog<T>(
    _ configuration: LMDBEventLog.Configuration = .init(),
    _ body: (LMDBEventLog, String) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let log = try LMDBEventLog(directory: directory + "/log", configuration: configuration)
        let result = try await body(log, directory + "/log")
        await log.close()
        return result
    }
}

/// An event with a recognisable payload.
func event(_ stream: String, _ text: String, type: String = "test.happened") -> ProposedEvent {
    ProposedEvent(type: type, stream: stream, payload: Array(text.utf8))
}

/// Counts commits and the events in each, as the writer reports them.
final class CommitCounter: Sendable {
    private let reports = Mutex<[CommitReport]>([])

    var observer: @Sendable (CommitReport) -> Void {
        { [self] report in reports.withLock { $0.append(report) } }
    }

    /// Commits that wrote at least one event.
    var appendCommits: [CommitReport] { reports.withLock { $0.filter { $0.events > 0 } } }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now: Mutex<Int64>

    init(_ start: Int64) { now = Mutex(start) }

    func set(_ value: Int64) { now.withLock { $0 = value } }

    var clock: @Sendable () -> Timestamp {
        { [self] in Timestamp(microsecondsSince1970: now.withLock { $0 }) }
    }
}

/// Polls `condition` until it holds (the test fails by timing out in `#expect` otherwise).
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// The result of an async throwing call, success or failure.
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
