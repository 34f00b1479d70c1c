import ArgumentParser
import Charts
import EventLog
import EventText
import Foundation
import LMDBLog
import PlayheadCore
import PlayheadServer
import Projections
import Views
import WatchDomain

/// `playhead query`: the analytics answers, read from the store's views directly and
/// read-only (also while `serve` runs).
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Answer an analytics question from the store's views (read-only; also while serve runs).",
        subcommands: [
            VideoSummaryQuery.self, RetentionQuery.self, SeeksQuery.self, ConcurrentQuery.self, TopVideosQuery.self, PartyQuery.self,
            SessionsQuery.self, SessionsDailyQuery.self, ProgressSummaryQuery.self, EngagementQuery.self, PatternsQuery.self,
        ]
    )
}

/// How a query's answer is written.
enum QueryFormat: String, ExpressibleByArgument, CaseIterable {
    /// A table for people, with sparklines.
    case table
    /// The answer as the API gives it.
    case json
    /// The answer's series, one row per point, with a header.
    case csv
}

/// `playhead query party PARTY_ID`: a watch party's analytics, as `GET /watch-parties/{id}/analytics`.
struct PartyQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "party",
        abstract: "A watch party's analytics: attendance, participants and chat along the party, top moments and members.",
        discussion: """
            Reads the asynchronous views `serve` keeps: an answer may trail the log by what \
            they have yet to fold (the command says so). --format csv writes the per-minute \
            timeline. --svg FILE also writes the chart GET /watch-parties/{id}/analytics?format=svg draws.
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The watch party's id.")
    var partyId: String

    @Option(help: "table, json or csv (default: table on a terminal, json when piped).")
    var format: QueryFormat?

    @Option(help: "Also write the chart of participants and chat as SVG to this file.")
    var svg: String?

    func run() async throws {
        try CrashGuard.runGuarded("query")
        guard let id = UUID(uuidString: partyId) else { throw RuntimeError("\(partyId) is not a watch party id (a UUID)") }
        let location = ViewsLocation(store: store.resolvedDataDirectory)
        let asyncDirectory = AsyncProjections.directory(in: location.current())
        guard FileManager.default.fileExists(atPath: asyncDirectory + "/data.mdb") else {
            throw RuntimeError("no analytics views at \(asyncDirectory): run `playhead serve` or `playhead rebuild` first")
        }
        let views = try InlineProjections(directory: location.current(), projectors: PlayheadStore.projectors, readOnly: true)
        guard let party = try WatchPartyQueries(views: views).party(id) else { throw RuntimeError("no watch party \(id.uuidString.lowercased())") }
        let projections = try AsyncProjections(directory: asyncDirectory, projectors: PlayheadStore.asyncProjectors, readOnly: true)
        let analytics = try PartyAnalyticsQueries(projections).analytics(of: party, now: Timestamp.now())
        let body = PartyAnalyticsBody(analytics)
        try QueryOutput.write(body: body, format: format.flatMap { VideoQueryFormat(rawValue: $0.rawValue) }, chart: body.chart, svg: svg) {
            $0 == .csv ? Self.csv(analytics) : Self.table(analytics)
        }
        if let lag = try? await Self.lag(projections, store: store), lag > 0 {
            FileHandle.standardError.write(Data("note: the analytics views are \(lag) events behind the log; `playhead serve` folds them\n".utf8))
        }
    }

    /// How many events the analytics views trail the log by.
    static func lag(_ projections: AsyncProjections, store: StoreOptions) async throws -> UInt64 {
        try projections.lag(behind: try await store.logHead())
    }

    /// The timeline as CSV: `minute,time,participants,messages,joins,leaves,player_actions`.
    static func csv(_ analytics: PartyAnalytics) -> String {
        let start = analytics.startTime.microsecondsSince1970
        var text = "minute,time,participants,messages,joins,leaves,player_actions\n"
        for minute in analytics.timeline {
            let time = ISO8601Micros.format(Timestamp(microsecondsSince1970: start + minute.minute * 60_000_000))
            text += "\(minute.minute),\(time),\(minute.participants),\(minute.messages),\(minute.joins),\(minute.leaves),\(minute.playerActions)\n"
        }
        return text
    }

    /// The answer for people: the figures, the timeline as sparklines, the moments and members.
    static func table(_ analytics: PartyAnalytics) -> String {
        func clock(_ millis: Int64) -> String { (millis < 0 ? "-" : "") + PartyReplayText.clock(millis.magnitude) }
        var rows: [(String, String)] = [
            ("status", analytics.status.name),
            ("start", ISO8601Micros.format(analytics.startTime)),
            ("end", ISO8601Micros.format(analytics.endTime)),
            ("tickets sold", "\(analytics.ticketsSold)"),
        ]
        let rate =
            analytics.ticketsSold > 0 ? " (\(Int((Double(analytics.attendance) / Double(analytics.ticketsSold) * 100).rounded()))% of tickets)" : ""
        rows.append(("attendance", "\(analytics.attendance)\(rate)"))
        rows.append(("participants", "\(analytics.participants)"))
        rows.append(("online now", "\(analytics.participantsOnline)"))
        let peakAt = analytics.peakAt.map { " at \(clock(($0.microsecondsSince1970 - analytics.startTime.microsecondsSince1970) / 1_000))" } ?? ""
        rows.append(("peak online", "\(analytics.peakParticipants)\(peakAt)"))
        rows.append(("average online", analytics.averageParticipants.map { String(format: "%.2f", $0) } ?? "-"))
        rows.append(("stayed to the end", analytics.stayedToEnd.map { "\($0)" } ?? "-"))
        rows.append(("messages", "\(analytics.messages)"))
        rows.append(("joins / leaves", "\(analytics.joins) / \(analytics.leaves)"))
        let actions = analytics.playerActions
        rows.append(("player actions", "play \(actions.play), pause \(actions.pause), seek \(actions.seek)"))
        var text = "Watch party \(analytics.partyId.uuidString.lowercased())\n"
        text += rows.map { "  \($0.0.padding(toLength: 20, withPad: " ", startingAt: 0))\($0.1)" }.joined(separator: "\n") + "\n"
        if let first = analytics.timeline.first, let last = analytics.timeline.last {
            text += "\nPer minute, \(clock(first.minute * 60_000)) to \(clock(last.minute * 60_000 + 59_999)):\n"
            text += "  participants        \(Sparkline.render(analytics.timeline.map { Double($0.participants) }))\n"
            text += "  messages            \(Sparkline.render(analytics.timeline.map { Double($0.messages) }))\n"
        }
        if !analytics.chatMoments.isEmpty {
            text += "\nMost chat (film time):\n"
            for moment in analytics.chatMoments {
                let span = "\(clock(Int64(moment.videoFromMillis))) to \(clock(Int64(moment.videoToMillis)))"
                text += "  \(span.padding(toLength: 28, withPad: " ", startingAt: 0))\(moment.messages) messages\n"
            }
        }
        if !analytics.topMembers.isEmpty {
            text += "\nMost active members:\n"
            for member in analytics.topMembers {
                let name = member.username.map { "\($0) (\(member.userId))" } ?? member.userId
                text +=
                    "  \(name.padding(toLength: 28, withPad: " ", startingAt: 0))\(member.messages) messages, \(member.playerActions) player actions\n"
            }
        }
        return text
    }
}
