public import EventLog
import Foundation
import LMDBLog
import Synchronization
import WatchDomain

/// `playhead import`'s work, apart from its command: check a whole NDJSON file, then
/// append its events in durable batches. `bench export` times the same code.
public enum EventImport {
    /// A file that passed ``check(_:after:memoryBudget:showProgress:)``, cut into parts.
    public struct CheckedFile: Sendable {
        /// The number of events in the file.
        public var events: Int
        /// The parts, in the file's order.
        var parts: [CheckedPart]
    }

    /// A part of a checked file: the events kept from checking it, and where the rest begins.
    struct CheckedPart: Sendable {
        /// The events of the part's first lines, decoded while checking.
        var kept: [ProposedEvent]
        /// The offset in the file of the first line whose event was not kept, and its line
        /// number; nil when every event of the part was kept.
        var rest: (offset: Int, line: Int)?
        /// Where the part ends in the file.
        var end: Int
    }

    /// Checks the whole file: every line decodes (``LineDecoder/decode(_:lineNumber:)``) and
    /// recorded-at never goes back, neither within the file nor before `storeLast`. The file
    /// is cut at line boundaries into one part per processor, checked in parallel; the first
    /// fault by line number is the one reported. The events decoded are kept while they fit
    /// in `memoryBudget` bytes (an estimate), so that ``append(_:from:to:batchSize:showProgress:)``
    /// need not decode them again.
    ///
    /// - Throws: ``EventLineError`` for the first line at fault.
    public static func check(
        _ bytes: UnsafeRawBufferPointer,
        after storeLast: Timestamp?,
        memoryBudget: Int = 512 << 20,
        showProgress: Bool = true
    ) throws(EventLineError) -> CheckedFile {
        let parts = split(bytes, into: bytes.count < 1 << 20 ? 1 : ProcessInfo.processInfo.activeProcessorCount)
        let bar = ProgressBar(total: UInt64(bytes.count), label: "import: checking", unit: "bytes", enabled: showProgress)
        let reports = Mutex([PartReport?](repeating: nil, count: parts.count))
        let shared = SharedBytes(bytes: bytes)
        DispatchQueue.concurrentPerform(iterations: parts.count) { index in
            let report = checkPart(shared.bytes, parts[index], budget: memoryBudget / parts.count, bar: bar)
            reports.withLock { $0[index] = report }
        }
        bar.finish()
        var previous = storeLast
        var lineOffset = 0
        var events = 0
        var checked: [CheckedPart] = []
        for (report, range) in zip(reports.withLock { $0 }, parts) {
            guard let report else { continue }
            var fault = report.fault.map { fault in EventLineError(line: fault.line + lineOffset, field: fault.field, reason: fault.reason) }
            if let first = report.first, let before = previous, first.recordedAt < before, fault.map({ first.line + lineOffset < $0.line }) ?? true {
                fault = wentBack(
                    line: first.line + lineOffset,
                    first.recordedAt,
                    before: before,
                    storesLast: events == 0 && storeLast != nil
                )
            }
            if let fault { throw fault }
            events += report.events
            previous = report.last ?? previous
            checked.append(
                CheckedPart(kept: report.kept, rest: report.rest.map { ($0.offset, $0.line + lineOffset) }, end: range.upperBound)
            )
            lineOffset += report.lines
        }
        return CheckedFile(events: events, parts: checked)
    }

    /// What one part of the file holds, with line numbers counted from its start.
    private struct PartReport: Sendable {
        var lines = 0
        var events = 0
        var first: (recordedAt: Timestamp, line: Int)?
        var last: Timestamp?
        var fault: EventLineError?
        var kept: [ProposedEvent] = []
        var rest: (offset: Int, line: Int)?
    }

    private struct SharedBytes: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
    }

    /// Ranges of `bytes`, at most `count`, each ending just after a newline (or at the end).
    private static func split(_ bytes: UnsafeRawBufferPointer, into count: Int) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = 0
        for index in 1...max(count, 1) {
            guard start < bytes.count else { break }
            var end = index == count ? bytes.count : max(start, bytes.count / count * index)
            while end < bytes.count && end > 0 && bytes[end - 1] != 0x0A { end += 1 }
            if end > start { parts.append(start..<end) }
            start = end
        }
        return parts.isEmpty ? [0..<bytes.count] : parts
    }

    private static func checkPart(_ file: UnsafeRawBufferPointer, _ range: Range<Int>, budget: Int, bar: ProgressBar) -> PartReport {
        var report = PartReport()
        var decoder = LineDecoder()
        var kept = 0
        var sinceProgress = 0
        let bytes = UnsafeRawBufferPointer(rebasing: file[range])
        InputFile.forEachLine(in: bytes) { line, number in
            report.lines = number
            sinceProgress += line.count + 1
            if sinceProgress >= 1 << 20 {
                bar.advance(by: UInt64(sinceProgress))
                sinceProgress = 0
            }
            if line.isEmpty { return true }
            let event: ProposedEvent
            do throws(EventLineError) {
                event = try decoder.decode(line, lineNumber: number)
            } catch {
                report.fault = error
                return false
            }
            let recordedAt = event.recordedAt ?? Timestamp(microsecondsSince1970: 0)
            if report.first == nil { report.first = (recordedAt, number) }
            if let last = report.last, recordedAt < last {
                report.fault = wentBack(line: number, recordedAt, before: last, storesLast: false)
                return false
            }
            report.last = recordedAt
            report.events += 1
            if report.rest == nil {
                // An estimate: the payload and strings, and the event's own storage.
                kept += event.payload.count + event.stream.utf8.count + event.actor.utf8.count + 256
                if kept <= budget {
                    report.kept.append(event)
                } else {
                    report.rest = (file.baseAddress!.distance(to: line.baseAddress!), number)
                }
            }
            return true
        }
        bar.advance(by: UInt64(sinceProgress))
        return report
    }

    private static func wentBack(line: Int, _ recordedAt: Timestamp, before previous: Timestamp, storesLast: Bool) -> EventLineError {
        EventLineError(
            line: line,
            field: "recordedAt",
            reason: "\(ISO8601Micros.format(recordedAt)) goes back before \(ISO8601Micros.format(previous))"
                + (storesLast ? ", the store's last event" : "")
        )
    }

    /// An import that stopped after some batches were durable.
    public struct PartialImport: Error {
        /// The positions already durable, nil when none are.
        public var imported: ClosedRange<LogPosition>?
        /// Why it stopped.
        public var cause: any Error
    }

    /// Appends the events of the checked file `bytes` in batches of `batchSize`: those kept
    /// while checking, and the others decoded again, each batch while the one before it is
    /// being committed. Returns the positions written.
    ///
    /// - Throws: ``PartialImport`` with what is already durable.
    public static func append(
        _ file: consuming CheckedFile,
        from bytes: UnsafeRawBufferPointer,
        to log: some EventStore,
        batchSize: Int,
        showProgress: Bool = true
    ) async throws(PartialImport) -> ClosedRange<LogPosition>? {
        let bar = ProgressBar(total: UInt64(file.events), label: "import: appending", enabled: showProgress)
        var imported: ClosedRange<LogPosition>?
        var inFlight: Task<AppendResult, any Error>?
        var batch: [ProposedEvent] = []
        batch.reserveCapacity(min(batchSize, file.events))
        /// Waits for the batch being committed, then hands the log the next one.
        func submit() async throws {
            if let previous = inFlight {
                inFlight = nil
                let result = try await previous.value
                imported = (imported?.lowerBound ?? result.positions.lowerBound)...result.positions.upperBound
                bar.advance(by: UInt64(result.positions.count))
            }
            guard !batch.isEmpty else { return }
            let events = batch
            batch.removeAll(keepingCapacity: true)
            inFlight = Task { try await log.append(AppendRequest(events: events)) }
        }
        do {
            var decoder = LineDecoder()
            for index in file.parts.indices {
                let kept = file.parts[index].kept
                file.parts[index].kept = []  // freed as soon as it is appended
                for event in kept {
                    batch.append(event)
                    if batch.count >= batchSize { try await submit() }
                }
                guard let rest = file.parts[index].rest else { continue }
                var lines = InputFile.lines(in: UnsafeRawBufferPointer(rebasing: bytes[rest.offset..<file.parts[index].end]))
                while let (line, number) = lines.next() {
                    if line.isEmpty { continue }
                    batch.append(try decoder.decode(line, lineNumber: rest.line + number - 1))
                    if batch.count >= batchSize { try await submit() }
                }
            }
            try await submit()
            try await submit()
        } catch {
            if let pending = inFlight, let result = try? await pending.value {
                imported = (imported?.lowerBound ?? result.positions.lowerBound)...result.positions.upperBound
            }
            bar.finish()
            throw PartialImport(imported: imported, cause: error)
        }
        bar.finish()
        return imported
    }
}
