import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Projections
import Views
import WatchDomain

/// `playhead bench party-log`: many parties with a long log each, and pages of one party's log.
struct PartyLogBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "party-log",
        abstract: "Append generated party-log entries over many parties, then time pages of one party's log.",
        discussion: """
            Schedules --parties parties of one movie, then appends --entries party-log entries \
            spread round-robin over them (messages, joins, leaves, plays, pauses and seeks, one \
            recorded-at step apart), through the store's write path with the projections inline, \
            in batches of 10,000. Then times --queries pages of --page entries of one party's log, \
            each from a random cursor (GET /watch-parties/:id/logs without HTTP), and as the \
            baseline in the same run, the same entries read from the log directly: the party's \
            log stream read by version and each event decoded, without the event and video times \
            a page shows. Prints one JSON object.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Store directory (default: a fresh temporary one, removed afterwards).")
    var dataDirectory: String?

    @Option(help: "Party-log entries to generate.")
    var entries = 1_000_000

    @Option(help: "Parties to spread them over.")
    var parties = 1_000

    @Option(help: "Entries in a page.")
    var page = 100

    @Option(help: "Pages to time, each way.")
    var queries = 2_000

    func validate() throws {
        guard entries >= 1, parties >= 1, queries >= 1 else { throw ValidationError("--entries, --parties and --queries must be at least 1") }
        guard (1...1_000).contains(page) else { throw ValidationError("--page must be 1 to 1000") }
    }

    func run() async throws {
        let directory =
            dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("playhead-bench-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try PlayheadStore(directory: directory)
        // Every party runs from `first` to a week later; the entries are 0.1 s apart at most.
        let now = Timestamp.now().microsecondsSince1970
        let first = now - 7 * 86_400_000_000
        let step = max(7 * 86_400_000_000 / Int64(entries + parties + 1), 1)
        var partyIds: [UUID] = []
        var ingestSeconds: Double?
        if try store.log.head == 0 {
            let started = ContinuousClock.now
            var time = first
            func stamped(_ event: any DomainEvent) -> ProposedEvent {
                var proposed = event.proposed(actor: "bench")
                proposed.recordedAt = Timestamp(microsecondsSince1970: time)
                time += step
                return proposed
            }
            let schedule = PartySchedule(
                movieId: "bench-movie",
                movieDurationMillis: 7_200_000,
                startTime: Timestamp(microsecondsSince1970: first),
                endTime: Timestamp(microsecondsSince1970: first + 7 * 86_400_000_000),
                isFeatured: false,
                maxParticipants: 100
            )
            partyIds = (0..<parties).map { _ in UUID() }
            var setup = [stamped(VideoRegistered(videoId: "bench-movie", durationMillis: 7_200_000, title: nil, completionThreshold: 0.9))]
            setup += partyIds.map { stamped(WatchPartyScheduled(partyId: $0, schedule: schedule)) }
            for chunk in stride(from: 0, to: setup.count, by: 10_000) {
                _ = try await store.log.append(AppendRequest(events: Array(setup[chunk..<min(chunk + 10_000, setup.count)])))
            }
            var random = SplitMix64(seed: 14)
            var appended = 0
            while appended < entries {
                let count = min(10_000, entries - appended)
                let batch = (0..<count).map { offset -> ProposedEvent in
                    let index = appended + offset
                    let party = partyIds[index % parties]
                    let user = "user-\(random.next() % 100)"
                    let event: PartyLogged
                    switch random.next() % 20 {
                    case 0: event = PartyLogged(entryId: UUID(), partyId: party, userId: user, eventType: .join, username: user)
                    case 1: event = PartyLogged(entryId: UUID(), partyId: party, userId: user, eventType: .leave)
                    case 2: event = PartyLogged(entryId: UUID(), partyId: party, userId: user, eventType: .pause)
                    case 3: event = PartyLogged(entryId: UUID(), partyId: party, userId: user, eventType: .play)
                    case 4:
                        event = PartyLogged(
                            entryId: UUID(),
                            partyId: party,
                            userId: user,
                            eventType: .seek,
                            videoTimeMillis: random.next() % 7_200_000
                        )
                    default:
                        event = PartyLogged(
                            entryId: UUID(),
                            partyId: party,
                            userId: user,
                            eventType: .message,
                            message: "message \(index): what a scene!"
                        )
                    }
                    return stamped(event)
                }
                _ = try await store.log.append(AppendRequest(events: batch))
                appended += count
            }
            ingestSeconds = (ContinuousClock.now - started).seconds
        } else {
            let found = try WatchPartyQueries(views: store.projections).parties(PartyFilter(), now: Timestamp.now(), limit: 1, offset: 0)
            partyIds = found.map(\.partyId)
        }
        guard let party = partyIds.first else { throw BenchError("bench party-log: the store has no party") }
        let head = try store.log.head
        let queries = WatchPartyQueries(views: store.projections)
        let length = Int(try store.log.streamInfo(WatchPartyEvents.logStream(party)).version)
        guard length >= 1 else { throw BenchError("bench party-log: the party's log is empty") }
        var random = SplitMix64(seed: 3)

        // Cursors at random entries of the party's log: each page starts after one of them.
        let all = try queries.log(party: party, filter: PartyLogFilter(), after: nil, limit: length).entries
        var pageLatencies: [Double] = []
        var pageEntries = 0
        for _ in 0..<self.queries {
            let start = all[Int(random.next() % UInt64(all.count))]
            let cursor = PartyLogCursor(eventTimeMillis: start.eventTimeMillis, position: start.position)
            let started = ContinuousClock.now
            pageEntries += try queries.log(party: party, filter: PartyLogFilter(), after: cursor, limit: page).entries.count
            pageLatencies.append((ContinuousClock.now - started).seconds * 1_000_000)
        }
        var directLatencies: [Double] = []
        var directEntries = 0
        let stream = WatchPartyEvents.logStream(party)
        for _ in 0..<self.queries {
            let version = 1 + random.next() % UInt64(length)
            let started = ContinuousClock.now
            let events = try store.log.readStream(stream, from: version + 1, limit: page)
            for event in events {
                _ = try PartyLogged.decode(event.payload)
                directEntries += 1
            }
            directLatencies.append((ContinuousClock.now - started).seconds * 1_000_000)
        }
        pageLatencies.sort()
        directLatencies.sort()
        var fields: [(String, String)] = [
            ("workload", "\"party-log\""), ("implementation", "\"playhead\""), ("events", "\(head)"), ("parties", "\(parties)"),
            ("party_log_entries", "\(length)"), ("page", "\(page)"),
        ]
        if let ingestSeconds {
            fields.append(("ingest_seconds", String(format: "%.3f", ingestSeconds)))
            fields.append(("ingest_events_per_second", "\(Int(Double(head) / max(ingestSeconds, 1e-9)))"))
        }
        let pageP50 = percentile(pageLatencies, 0.5)
        let directP50 = percentile(directLatencies, 0.5)
        fields += [
            ("page_p50_us", String(format: "%.1f", pageP50)), ("page_p99_us", String(format: "%.1f", percentile(pageLatencies, 0.99))),
            ("page_entries_read", "\(pageEntries)"),
            ("baseline", "\"the same number of entries of the party's log stream, read from the log and decoded\""),
            ("direct_p50_us", String(format: "%.1f", directP50)), ("direct_p99_us", String(format: "%.1f", percentile(directLatencies, 0.99))),
            ("direct_entries_read", "\(directEntries)"), ("page_to_direct_p50_ratio", String(format: "%.2f", pageP50 / max(directP50, 1e-9))),
        ]
        await store.close()
        print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    }
}
