import ArgumentParser
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Views
import WatchDomain

/// `playhead replay`: a watch party's log as it happened, from the store's views, read-only
/// (also while `serve` runs).
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a watch party: its joins, leaves, chat and player actions, in order.",
        discussion: """
            On a terminal it prints one line per entry (event time from the start, the film's time, \
            what happened), paced as the party went, faster with --speed; --instant prints it all \
            at once. Piped, it prints NDJSON (the items of GET /watch-parties/{id}/replay) at once, \
            unless --speed asks for pacing.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, ndjson
    }

    @OptionGroup var store: StoreOptions

    @Argument(help: "The watch party's id.")
    var partyId: String

    @Option(help: "How many times faster than the party went (0.1 to 10000).")
    var speed: Double?

    @Option(help: "Start here: HH:MM:SS from the party's start (a leading - in the lobby), or of the film with --video-time.")
    var from: String?

    @Flag(help: "Read --from as a point of the film: the entries made while the film was there or later.")
    var videoTime = false

    @Option(help: "text or ndjson (default: text on a terminal, ndjson when piped).")
    var format: Format?

    @Flag(help: "Print everything at once, without pacing.")
    var instant = false

    func validate() throws {
        if let speed, !(0.1...10_000).contains(speed) { throw ValidationError("--speed must be from 0.1 to 10000") }
        if let from, Self.millis(from) == nil { throw ValidationError("--from must be HH:MM:SS (e.g. 00:12:30 or -00:02:00)") }
        if videoTime, from?.hasPrefix("-") == true { throw ValidationError("--from with --video-time is a point of the film: no leading -") }
        if videoTime, from == nil { throw ValidationError("--video-time needs --from") }
    }

    func run() async throws {
        try CrashGuard.runGuarded("replay")
        guard let id = UUID(uuidString: partyId) else { throw RuntimeError("\(partyId) is not a watch party id (a UUID)") }
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        guard FileManager.default.fileExists(atPath: location.current() + "/data.mdb") else {
            throw RuntimeError("no views at \(location.current()): run `playhead serve` or `playhead rebuild` first")
        }
        let views = try InlineProjections(directory: location.current(), projectors: PlayheadStore.projectors, readOnly: true)
        if let lag = try? await Self.lag(views, store: store), lag > 0 {
            FileHandle.standardError.write(
                Data("note: the views are \(lag) events behind the log; `playhead serve` or `playhead rebuild` folds them\n".utf8)
            )
        }
        let queries = WatchPartyQueries(views: views)
        guard let party = try queries.party(id) else { throw RuntimeError("no watch party \(id.uuidString.lowercased())") }
        var window = ReplayWindow()
        if let from, let millis = Self.millis(from) {
            if videoTime { window.videoFromMillis = UInt64(millis) } else { window.fromMillis = millis }
        }
        let output = OutputFile.standardOutput()
        let format = self.format ?? (output.isTerminal ? .text : .ndjson)
        let paced = !instant && (output.isTerminal || speed != nil)
        let speed = self.speed ?? 1
        var replay = PartyReplay(party: party, window: window, queries: queries)
        let clock = ContinuousClock()
        var start: (wall: ContinuousClock.Instant, realTime: Int64)?
        let lines = PartyReplayText()
        while let page = try replay.next() {
            for told in page {
                if paced {
                    let realTime = told.entry.realTime.microsecondsSince1970
                    if let start {
                        let due = start.wall.advanced(by: .microseconds(Double(realTime - start.realTime) / speed))
                        try await Task.sleep(until: due, clock: clock)
                    } else {
                        start = (clock.now, realTime)
                    }
                }
                let line = format == .text ? PartyReplayText.line(told) : try lines.ndjsonLine(told)
                try output.write(Array((line + "\n").utf8))
            }
        }
    }

    /// How many events the views trail the log by (events imported while no server ran).
    static func lag(_ views: InlineProjections, store: StoreOptions) async throws -> UInt64 {
        let head = try await store.logHead()
        let applied = try views.appliedPosition()
        return head > applied ? head - applied : 0
    }

    /// Milliseconds of `[-]H:MM:SS` (hours of any length); nil for anything else.
    static func millis(_ text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        let parts = text.dropFirst(negative ? 1 : 0).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            parts[1].count == 2, parts[2].count == 2, parts[0].count <= 4,
            let hours = Int64(parts[0]), let minutes = Int64(parts[1]), let seconds = Int64(parts[2]), minutes < 60, seconds < 60
        else { return nil }
        let millis = ((hours * 60 + minutes) * 60 + seconds) * 1_000
        return negative ? -millis : millis
    }
}
