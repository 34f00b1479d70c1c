import Foundation

/// A workload that could not finish: what went wrong, on one line.
struct BenchError: Error, CustomStringConvertible {
    /// The message, e.g. "bench export: scanned 10, exported 9, imported 9 events; they should be equal".
    var message: String

    init(_ message: String) { self.message = message }

    var description: String { message }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
