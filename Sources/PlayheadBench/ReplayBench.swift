import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Views
import WatchDomain

/// `playhead bench replay`: one long finished party, replayed and analysed (issue 16).
struct ReplayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay one long party from its log and answer its analytics; time both against reading its log directly.",
        discussion: """
            Builds (unless --data-dir holds it already) a finished party of --hours hours with \
            --members ticket holders and --entries party-log entries through the store's write \
            path: the members join in the lobby, then chat, leave and come back, play, pause and \
            seek, one entry every (hours / entries). Then, in one run:
            - first event: opening a replay and reading its first entry (what a replay_party, a \
            GET /watch-parties/{id}/replay and `playhead replay` wait for before their first \
            event), from the start and from the party's middle (the room's state there is folded \
            from the start);
            - instant: the whole replay read and written as NDJSON lines (`playhead replay \
            --instant`, the REST replay's items), against the baseline in the same run: the \
            party's log stream read from the log directly and each event decoded; rounds alternate;
            - analytics: the asynchronous projector's fold of the whole log, and --queries \
            answers of GET /watch-parties/{id}/analytics without HTTP (the analytics and their \
            JSON), p50/p99 against the 5 ms target.
            tools/bench-replay adds the pacing of a socket replay at speed 1 and 10. Prints one JSON object.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Party-log entries to generate.")
    var entries = 100_000

    @Option(help: "Ticket holders, all of whom join.")
    var members = 200

    @Option(help: "The party's length in hours.")
    var hours = 2.0

    @Option(help: "Analytics answers and replay openings to time.")
    var queries = 1_000

    @Option(help: "Rounds of the instant replay and its baseline, alternating.")
    var rounds = 5

    func validate() throws {
        guard entries >= members * 2, members >= 1 else { throw ValidationError("--entries must be at least twice --members") }
        guard hours > 0, hours <= 24 else { throw ValidationError("--hours must be more than 0 and at most 24") }
        guard queries >= 1, rounds >= 1 else { throw ValidationError("--queries and --rounds must be at least 1") }
    }

    func run() async throws {
        let directory =
            dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try PlayheadStore(directory: directory)
        var fields: [(String, String)] = [("workload", "\"replay\""), ("implementation", "\"playhead\"")]
        if try store.log.head == 0 {
            let started = ContinuousClock.now
            try await generate(into: store)
            fields.append(("ingest_seconds", String(format: "%.3f", (ContinuousClock.now - started).seconds)))
        }
        let found = try WatchPartyQueries(views: store.projections).parties(PartyFilter(), now: Timestamp.now(), limit: 1, offset: 0)
        guard let party = found.first else { throw BenchError("bench replay: the store has no party") }
        let queries = WatchPartyQueries(views: store.projections)
        let stream = WatchPartyEvents.logStream(party.partyId)
        let length = Int(try store.log.streamInfo(stream).version)
        fields += [
            ("party_id", "\"\(party.partyId.uuidString.lowercased())\""), ("party_log_entries", "\(length)"), ("events", "\(try store.log.head)"),
        ]

        // First event: open a replay and read until its first entry.
        func firstEvent(from millis: Int64?) throws -> Double {
            let started = ContinuousClock.now
            var replay = PartyReplay(party: party, window: ReplayWindow(fromMillis: millis), queries: queries)
            while let page = try replay.next() {
                if !page.isEmpty { break }
            }
            return (ContinuousClock.now - started).seconds * 1_000
        }
        let fromStart = try (0..<min(self.queries, 200)).map { _ in try firstEvent(from: nil) }.sorted()
        let middle = Int64(party.durationMillis / 2)
        let fromMiddle = try (0..<min(self.queries, 20)).map { _ in try firstEvent(from: middle) }.sorted()
        fields += [
            ("first_event_p50_ms", String(format: "%.3f", percentile(fromStart, 0.5))),
            ("first_event_p99_ms", String(format: "%.3f", percentile(fromStart, 0.99))),
            ("first_event_from_middle_p50_ms", String(format: "%.3f", percentile(fromMiddle, 0.5))),
            ("first_event_from_middle_p99_ms", String(format: "%.3f", percentile(fromMiddle, 0.99))),
        ]

        // Instant replay against the log read directly, alternating.
        let text = PartyReplayText()
        var replayRates: [Double] = []
        var directRates: [Double] = []
        var bytes = 0
        for round in 0..<rounds {
            for side in round % 2 == 0 ? [0, 1] : [1, 0] {
                let started = ContinuousClock.now
                var count = 0
                if side == 0 {
                    var replay = PartyReplay(party: party, window: ReplayWindow(), queries: queries)
                    while let page = try replay.next() {
                        for told in page {
                            bytes += try text.ndjsonLine(told).utf8.count + 1
                            count += 1
                        }
                    }
                    replayRates.append(Double(count) / (ContinuousClock.now - started).seconds)
                } else {
                    var version: UInt64 = 1
                    while true {
                        let events = try store.log.readStream(stream, from: version, limit: 1_000)
                        guard !events.isEmpty else { break }
                        for event in events { _ = try PartyLogged.decode(event.payload) }
                        count += events.count
                        version += UInt64(events.count)
                    }
                    directRates.append(Double(count) / (ContinuousClock.now - started).seconds)
                }
            }
        }
        let replayRate = median(replayRates)
        let directRate = median(directRates)
        fields += [
            ("instant_entries_per_second", "\(Int(replayRate))"),
            ("instant_ndjson_mb", String(format: "%.1f", Double(bytes / rounds) / 1_000_000)),
            ("baseline", "\"the party's log stream read from the log directly, each event decoded\""),
            ("direct_entries_per_second", "\(Int(directRate))"),
            ("instant_to_direct_ratio", String(format: "%.3f", replayRate / max(directRate, 1e-9))),
        ]

        // Analytics: fold, then answer.
        let foldStarted = ContinuousClock.now
        let folded = try store.log.withReader { try store.asyncProjections.catchUp($0) }
        let foldSeconds = (ContinuousClock.now - foldStarted).seconds
        let analytics = PartyAnalyticsQueries(store.asyncProjections)
        let encoder = JSONEncoder()
        var latencies: [Double] = []
        var timeline = 0
        for _ in 0..<self.queries {
            let started = ContinuousClock.now
            let answer = try analytics.analytics(of: party, now: Timestamp.now())
            _ = try encoder.encode(PartyAnalyticsBody(answer))
            latencies.append((ContinuousClock.now - started).seconds * 1_000)
            timeline = answer.timeline.count
        }
        latencies.sort()
        fields += [
            ("analytics_fold_events", "\(folded)"),
            ("analytics_fold_events_per_second", "\(Int(Double(folded) / max(foldSeconds, 1e-9)))"),
            ("analytics_timeline_minutes", "\(timeline)"),
            ("analytics_p50_ms", String(format: "%.3f", percentile(latencies, 0.5))),
            ("analytics_p99_ms", String(format: "%.3f", percentile(latencies, 0.99))),
            ("analytics_target_p99_ms", "5"),
        ]
        await store.close()
        print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    }

    /// A finished party: it ended an hour ago, after `hours`; `members` ticket holders join in
    /// the lobby's last 10 minutes, then the rest of the entries come one step apart: mostly
    /// chat, a few leaves (each followed by the member's return), plays, pauses and seeks.
    private func generate(into store: PlayheadStore) async throws {
        let length = Int64(hours * 3_600_000_000)
        let start = Timestamp.now().microsecondsSince1970 - 3_600_000_000 - length
        let lobby: Int64 = 600_000_000
        let setupTime = start - lobby - 3_600_000_000
        func stamped(_ event: any DomainEvent, at: Int64? = nil) -> ProposedEvent {
            var proposed = event.proposed(actor: "bench")
            proposed.recordedAt = Timestamp(microsecondsSince1970: at ?? setupTime)
            return proposed
        }
        let partyId = UUID()
        let ticketId = UUID()
        let film = UInt64(length / 1_000)
        var setup = [
            stamped(VideoRegistered(videoId: "bench-film", durationMillis: film, title: "Bench film", completionThreshold: 0.9)),
            stamped(
                WatchPartyScheduled(
                    partyId: partyId,
                    schedule: PartySchedule(
                        movieId: "bench-film",
                        movieDurationMillis: film,
                        startTime: Timestamp(microsecondsSince1970: start),
                        endTime: Timestamp(microsecondsSince1970: start + length),
                        isFeatured: true,
                        maxParticipants: UInt64(members)
                    )
                )
            ),
            stamped(
                TicketCreated(
                    ticketId: ticketId,
                    ticket: TicketDefinition(name: "Seat", price: Price(hundredths: 500, currency: "EUR"), description: nil, isVoucher: false)
                )
            ),
        ]
        let users = (0..<members).map { String(format: "member-%04d", $0) }
        setup += users.map { stamped(TicketPurchased(purchaseId: UUID(), partyId: partyId, ticketId: ticketId, userId: $0, idempotencyKey: nil)) }
        _ = try await store.log.append(AppendRequest(events: setup))

        var random = SplitMix64(seed: 16)
        var online = users
        var away: [String] = []
        var playing = true
        var batch: [ProposedEvent] = []
        func logged(_ user: String, _ type: PartyLogEventType, at: Int64, message: String? = nil, videoTime: UInt64? = nil) {
            let username = type == .join ? "Member \(user.suffix(4))" : nil
            let event = PartyLogged(
                entryId: UUID(),
                partyId: partyId,
                userId: user,
                eventType: type,
                username: username,
                message: message,
                videoTimeMillis: videoTime
            )
            batch.append(stamped(event, at: at))
        }
        func flush() async throws {
            guard !batch.isEmpty else { return }
            _ = try await store.log.append(AppendRequest(events: batch))
            batch.removeAll(keepingCapacity: true)
        }
        for (index, user) in users.enumerated() { logged(user, .join, at: start - lobby + Int64(index) * lobby / Int64(members)) }
        let rest = entries - members
        let step = length / Int64(rest)
        for index in 0..<rest {
            let at = start + Int64(index) * step
            let roll = random.next() % 1_000
            if roll < 15, online.count > 1 {
                let user = online.remove(at: Int(random.next() % UInt64(online.count)))
                away.append(user)
                logged(user, .leave, at: at)
            } else if roll < 30, !away.isEmpty {
                let user = away.removeFirst()
                online.append(user)
                logged(user, .join, at: at)
            } else if roll < 36 {
                let user = online[Int(random.next() % UInt64(online.count))]
                if roll < 33 {
                    playing.toggle()
                    logged(user, playing ? .play : .pause, at: at)
                } else {
                    logged(user, .seek, at: at, videoTime: random.next() % film)
                }
            } else {
                let user = online[Int(random.next() % UInt64(online.count))]
                logged(user, .message, at: at, message: "message \(index): what a scene!")
            }
            if batch.count == 10_000 { try await flush() }
        }
        try await flush()
    }
}

/// The median of `values` (0 for none).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
