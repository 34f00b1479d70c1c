import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadDemo
import Synchronization
import Views
import WatchDomain

/// `playhead demo`: fills a new store with plausible viewing behaviour through the real
/// command path (``DemoWorkload``), so that a first `serve` has something to show.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Fill a new store with demo data: logins, views with plays, pauses and seeks, progress, interactions, a watch party.",
        discussion: """
            Deterministic for a seed: the same options give the same behaviour and figures (only \
            the ids the commands draw differ). The days end with --last-day (default: yesterday, \
            UTC); the watch party is on its evening, at 20:00. Refuses a store that already \
            holds events, and one another process is writing.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(help: "How many users (1 to 10000).")
    var users: Int = 40

    @Option(help: "How many days of activity (1 to 366).")
    var days: Int = 14

    @Option(help: "The seed of the behaviour.")
    var seed: UInt64 = 1

    @Option(name: .customLong("last-day"), help: "The last day, YYYY-MM-DD (default: yesterday, UTC: all of it in the past).")
    var lastDay: String?

    func validate() throws {
        guard (1...10_000).contains(users) else { throw ValidationError("--users must be from 1 to 10000") }
        guard (1...366).contains(days) else { throw ValidationError("--days must be from 1 to 366") }
        if let lastDay {
            // A date that exists (2026-02-30 is refused, not moved to March), from 1970 on.
            guard lastDay.count == 10, let midnight = ISO8601Micros.parse(lastDay + "T00:00:00Z"),
                ISO8601Micros.format(midnight).hasPrefix(lastDay)
            else { throw ValidationError("--last-day must be a date, YYYY-MM-DD") }
            guard midnight.microsecondsSince1970 >= Int64(days) * 86_400_000_000 else {
                throw ValidationError("--last-day must leave --days days from 1970-01-01 on")
            }
        }
    }

    func run() async throws {
        try CrashGuard.runGuarded("demo")
        // By default the days end yesterday, so that everything, the evening's watch party
        // included, is over when the server starts on it.
        let yesterday = Timestamp(microsecondsSince1970: Timestamp.now().microsecondsSince1970 - 86_400_000_000)
        let last = lastDay.flatMap { ISO8601Micros.parse($0 + "T00:00:00Z") } ?? yesterday
        let workload = DemoWorkload(DemoWorkload.Options(users: users, days: days, seed: seed, lastDay: last))
        let directory = store.resolvedDataDirectory
        if LMDBEventLog.hasWriter(directory: store.logDirectory) {
            throw RuntimeError("another process has the log at \(store.logDirectory) open for writing (is the server running?); stop it first")
        }
        let clock = SimulatedClock()
        let opened: PlayheadStore
        do {
            opened = try PlayheadStore(directory: directory) { $0.clock = { clock.now } }
        } catch {
            if let error = error as? EventLogError { throw store.explain(error) }
            throw RuntimeError("cannot open the store at \(directory): \(error)")
        }
        let head = try opened.log.head
        guard head == 0 else {
            await opened.close()
            throw RuntimeError("the store at \(directory) already holds \(head) events; demo fills a new store (use another --data-dir)")
        }
        let bar = LazyProgressBar()
        let started = ContinuousClock.now
        let summary: DemoWorkload.Summary
        do {
            summary = try await workload.run(on: opened, clock: clock) { done, total in bar.update(done, of: total) }
            try opened.log.withReader { _ = try opened.asyncProjections.catchUp($0) }
        } catch {
            bar.finish()
            await opened.close()
            throw RuntimeError("demo stopped: \(error)")
        }
        bar.finish()
        let events = try opened.log.head
        await opened.close()
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        print(
            """
            demo: \(events) events in \(directory) (\(Int(seconds)) s): \(summary.userSessions) user sessions, \
            \(summary.heartbeats) heartbeats, \(summary.watchSessions) views with \(summary.playerEvents) player events, \
            \(summary.progressReports) progress reports, \(summary.interactions) interactions, \
            a watch party (\(summary.partyId?.uuidString.lowercased() ?? "-")) with \(summary.partyEntries) log entries
            """
        )
    }
}

/// A ``ProgressBar`` made when the total is first known.
final class LazyProgressBar: Sendable {
    private let bar = Mutex<ProgressBar?>(nil)

    func update(_ done: Int, of total: Int) {
        let current = bar.withLock { bar in
            if bar == nil { bar = ProgressBar(total: UInt64(total), label: "demo", unit: "commands") }
            return bar
        }
        current?.update(UInt64(done))
    }

    func finish() { bar.withLock { $0 }?.finish() }
}
