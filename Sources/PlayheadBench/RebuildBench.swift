import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Views
import WatchDomain

/// `playhead bench rebuild`: folds generated user-session events into fresh views.
struct RebuildBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild the projections from generated user-session events (median of three passes).",
        discussion: """
            Generates a log of user-session events (starts, heartbeats, engagement changes, ends, \
            expiries and renewals over a pool of concurrently open sessions), then folds it into \
            fresh views three times. Prints one JSON object: the rebuild's events/s and, as the \
            baseline in the same run, a header-decoding scan of the same log.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Events to generate.")
    var events = 1_000_000

    @Option(help: "Sessions open at once; heartbeats go to one of them at random.")
    var openSessions = 10_000

    @Option(help: "Timed passes; the median is reported.")
    var passes = 3

    func validate() throws {
        guard events >= 1, openSessions >= 1, passes >= 1 else {
            throw ValidationError("--events, --open-sessions and --passes must be at least 1")
        }
    }

    func run() async throws {
        let directory =
            dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let log = try LMDBEventLog(directory: directory + "/log", mode: .readWrite)
        if try log.head == 0 {
            var generator = SessionEventGenerator(openSessions: openSessions)
            var remaining = events
            while remaining > 0 {
                let batch = generator.next(min(remaining, 10_000))
                _ = try await log.append(AppendRequest(events: batch))
                remaining -= batch.count
            }
        }
        let head = try log.head
        var rebuildTimes: [Double] = []
        var scanTimes: [Double] = []
        var viewBytes = 0
        for pass in 0...passes {
            let target = directory + "/rebuild-\(pass)"
            let started = ContinuousClock.now
            try log.withReader { reader in
                _ = try InlineProjections.build(directory: target, projectors: PlayheadStore.projectors, from: reader)
            }
            let seconds = (ContinuousClock.now - started).seconds
            viewBytes = (try? FileManager.default.attributesOfItem(atPath: target + "/data.mdb")[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(atPath: target)
            let scanStarted = ContinuousClock.now
            _ = try ScanBench.scan(log)
            let scanSeconds = (ContinuousClock.now - scanStarted).seconds
            // Pass 0 warms the page cache and is not counted.
            if pass > 0 {
                rebuildTimes.append(seconds)
                scanTimes.append(scanSeconds)
            }
        }
        await log.close()
        rebuildTimes.sort()
        scanTimes.sort()
        let rebuild = rebuildTimes[rebuildTimes.count / 2]
        let scan = scanTimes[scanTimes.count / 2]
        let rebuildRate = Double(head) / max(rebuild, 1e-9)
        let scanRate = Double(head) / max(scan, 1e-9)
        print(
            "{\"workload\":\"rebuild\",\"implementation\":\"playhead\",\"projections\":\"\(PlayheadStore.projectors.map(\.name).joined(separator: ","))\","
                + "\"events\":\(head),\"open_sessions\":\(openSessions),\"seconds\":\(String(format: "%.6f", rebuild)),"
                + "\"events_per_second\":\(Int(rebuildRate)),\"views_bytes\":\(viewBytes),"
                + "\"baseline\":\"header scan of the same log\",\"scan_events_per_second\":\(Int(scanRate)),"
                + "\"ratio_to_scan\":\(String(format: "%.3f", rebuildRate / scanRate))}"
        )
    }
}

/// Generates a realistic user-session log: a pool of open sessions, most events heartbeats
/// to one of them, some sessions engaging, ending by logout or expiring into a renewal.
struct SessionEventGenerator {
    private var random = SplitMix64(seed: 7)
    private var open: [(id: UUID, user: String)] = []
    private let openSessions: Int
    private var started = 0

    init(openSessions: Int) { self.openSessions = openSessions }

    mutating func next(_ count: Int) -> [ProposedEvent] {
        var events: [any DomainEvent] = []
        events.reserveCapacity(count + 3)
        while events.count < count {
            if open.count < openSessions {
                events.append(start())
                continue
            }
            let slot = Int(random.next() % UInt64(open.count))
            let session = open[slot]
            switch random.next() % 100 {
            case 0..<2:
                events.append(UserSessionEnded(sessionId: session.id))
                open.remove(at: slot)
            case 2..<4:
                let renewal = UUID()
                events.append(UserSessionExpired(sessionId: session.id, lastActiveAt: Timestamp(microsecondsSince1970: 0), renewedBy: renewal))
                events.append(UserSessionRenewed(sessionId: renewal, userId: session.user, previousSessionId: session.id))
                open[slot] = (renewal, session.user)
            case 4..<6:
                events.append(UserSessionEngagementChanged(sessionId: session.id, engaged: random.next() % 2 == 0))
            default:
                events.append(UserSessionHeartbeat(sessionId: session.id))
            }
        }
        return events.map { $0.proposed(actor: "") }
    }

    private mutating func start() -> UserSessionStarted {
        started += 1
        let user = "user-\(random.next() % UInt64(max(openSessions / 2, 1)))"
        let event = UserSessionStarted(sessionId: UUID(), userId: user, userAgent: "bench")
        open.append((event.sessionId, user))
        return event
    }
}
