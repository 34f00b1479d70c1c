import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Views
import WatchDomain

/// `playhead stats`: the head, events, streams, bytes on disk and map size of the store.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print figures about the store as JSON."
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try CrashGuard.runGuarded("stats")
        try Self.printStatistics(of: try store.openLog(.readOnly), store: store)
    }

    /// Prints the figures of `log`, the log of `store`, as pretty-printed JSON with sorted keys.
    static func printStatistics(of log: LMDBEventLog, store: StoreOptions) throws {
        let stats = try log.statistics()
        let object: [String: Any] = [
            "dataDir": store.resolvedDataDirectory,
            "head": stats.head,
            "events": stats.events,
            "streams": stats.streams,
            "idempotencyKeys": stats.idempotencyKeys,
            "bytesOnDisk": stats.bytesOnDisk,
            "bytesUsed": stats.bytesUsed,
            "mapSize": stats.mapSize,
            "formatVersion": stats.formatVersion,
            "lastRecordedAt": stats.lastRecordedAt.map { ISO8601Micros.format($0) } ?? NSNull(),
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}
