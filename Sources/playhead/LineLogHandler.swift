import EventLog
import Foundation
import LMDBLog
import Logging
import PlayheadCore
import Views
import WatchDomain

#if canImport(Glibc)
import Glibc
private let writeBytes = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let writeBytes = Darwin.write
#endif

/// Writes each log message as one line on standard error:
/// `2026-01-31T12:00:00.000000Z info playhead.server: key=value … message`.
///
/// Unlike swift-log's `StreamLogHandler`, it formats metadata only when a message is
/// written. The server sets a request id on its logger for every request and logs only
/// warnings by default under load, so formatting on every change would be wasted work.
struct LineLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = ISO8601Micros.format(.now()) + " \(event.level) \(label):"
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        line += " \(event.message)\n"
        // One write(2), errors ignored: a closed standard error must not stop the server.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { writeBytes(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
