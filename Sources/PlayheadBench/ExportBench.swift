import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import Views

/// `playhead bench export`: `export` and `import` of the `bench append` store, beside a
/// header scan of the same log in the same run.
struct ExportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Time export and import of the log append writes, beside a header scan (rounds alternated, medians).",
        discussion: """
            Appends the events as `bench append` does (unless --data-dir holds a log already), \
            then runs --rounds rounds of: a header scan (as `bench scan`), an export of the \
            whole log to a file beside the store (as `playhead export -o`), and an import of \
            that file into a new store (as `playhead import`: the whole file checked, then \
            appended in durable batches of 10,000), which is removed afterwards. Prints one \
            JSON object per round and workload, then one with the medians and the ratios of \
            export and import to the scan.
            """
    )

    @OptionGroup var options: WorkloadOptions

    @Option(help: "Rounds of scan, export and import; the medians are reported.")
    var rounds = 3

    @Option(help: "Events per durable append of the import.")
    var importBatchSize = 10_000

    func validate() throws {
        guard rounds >= 1, importBatchSize >= 1 else { throw ValidationError("--rounds and --import-batch-size must be at least 1") }
    }

    func run() async throws {
        try await options.withLogDirectory { directory in
            if !FileManager.default.fileExists(atPath: directory + "/data.mdb") {
                let appended = try await AppendBench.measure(options, directory: directory)
                printError("bench export: appended \(appended.events) events")
            }
            let work = (directory as NSString).deletingLastPathComponent + "/bench-export-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: work) }
            let log = try LMDBEventLog(directory: directory, mode: .readOnly)
            let head = try log.head
            let exportFile = work + "/export.ndjson"
            _ = try ScanBench.scan(log)  // warm-up
            var rates: [String: [Double]] = [:]
            for round in 1...rounds {
                var started = ContinuousClock.now
                let scanned = try ScanBench.scan(log).events
                let scanSeconds = (ContinuousClock.now - started).seconds

                started = ContinuousClock.now
                let exported = try EventLine.write(from: log, first: 1, last: head, to: try OutputFile(creating: exportFile))
                let exportSeconds = (ContinuousClock.now - started).seconds
                let bytes = (try? FileManager.default.attributesOfItem(atPath: exportFile)[.size] as? Int) ?? 0

                let target = work + "/import-\(round)/log"
                started = ContinuousClock.now
                let imported = try await Self.importFile(exportFile, into: target, batchSize: importBatchSize)
                let importSeconds = (ContinuousClock.now - started).seconds
                try? FileManager.default.removeItem(atPath: (target as NSString).deletingLastPathComponent)

                guard exported == scanned, imported == exported else {
                    throw BenchError("bench export: scanned \(scanned), exported \(exported), imported \(imported) events; they should be equal")
                }
                for (name, events, seconds) in [
                    ("scan", scanned, scanSeconds), ("export", exported, exportSeconds), ("import", imported, importSeconds),
                ] {
                    let rate = Double(events) / max(seconds, 1e-9)
                    rates[name, default: []].append(rate)
                    print(
                        "{\"workload\":\"\(name)\",\"implementation\":\"playhead\",\"round\":\(round),\"events\":\(events),"
                            + (name == "scan" ? "" : "\"file_bytes\":\(bytes),")
                            + "\"seconds\":\(String(format: "%.6f", seconds)),\"events_per_second\":\(Int(rate))}"
                    )
                }
            }
            func median(_ name: String) -> Double {
                let sorted = (rates[name] ?? []).sorted()
                guard !sorted.isEmpty else { return 0 }
                return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            let scan = median("scan")
            let export = median("export")
            let imports = median("import")
            print(
                "{\"workload\":\"export-import\",\"implementation\":\"playhead\",\"events\":\(head),\"rounds\":\(rounds),"
                    + "\"scan_events_per_second\":\(Int(scan)),\"export_events_per_second\":\(Int(export)),"
                    + "\"import_events_per_second\":\(Int(imports)),"
                    + "\"export_to_scan\":\(String(format: "%.4f", export / max(scan, 1e-9))),"
                    + "\"import_to_scan\":\(String(format: "%.4f", imports / max(scan, 1e-9)))}"
            )
        }
    }

    /// Imports `file` into a new log at `directory` as `playhead import` does, and returns
    /// how many events it appended.
    static func importFile(_ file: String, into directory: String, batchSize: Int) async throws -> Int {
        let input = try InputFile(path: file)
        let log = try LMDBEventLog(directory: directory, mode: .readWrite)
        do {
            let checked = try EventImport.check(input.bytes, after: nil, showProgress: false)
            let imported = try await EventImport.append(checked, from: input.bytes, to: log, batchSize: batchSize, showProgress: false)
            await log.close()
            return imported?.count ?? 0
        } catch {
            await log.close()
            throw error
        }
    }
}
