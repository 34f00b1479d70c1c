public import EventLog
import Foundation
public import PostgresLog
import Synchronization
import Views
import WatchDomain

/// The log as a node's commands see it: the PostgreSQL log, with decisions made against the
/// node's views.
///
/// `append(deciding:)` first lets the node's views reach the log's head as it was when the
/// command arrived, then notes the position the views have applied, runs the decider on the
/// committed views (``BatchScope/outsideBatch``), and appends its request on the condition
/// that none of the streams it writes changed after that position
/// (`PostgresEventLog.append(_:streamsUnchangedAfter:)`). In Playhead a command's decision is
/// about the streams it appends to (a session, a party, a user's progress), so that condition
/// is the expected versions of the streams it read.
///
/// On a conflict (another command appended to one of them first) the command joins the line
/// of that stream (``StreamLines``). The line decides the commands waiting in it in a row, as
/// the embedded log's writer decides a batch: each decider reads the views as the ones before
/// it in the row have left them (their events applied in an LMDB write transaction that is
/// then aborted), and the row is appended in one transaction, all of it or none, on the same
/// condition (`append(row:streamsUnchangedAfter:)`). A busy stream (a user's progress from
/// many devices, a purchase rush on one party) thus takes many commands per commit instead of
/// one. A row that conflicts again is decided again, up to ``maxAttempts`` times; then its
/// commands are refused with a `CommandError` `conflict` (409).
///
/// A command whose views cannot reach the log's head in ``viewsPatience`` is refused with
/// `EventLogError` `unavailable` (503), never decided on stale views. An append is answered
/// after PostgreSQL's commit and, for read-your-writes on this node, after the node's views
/// have folded it (at most ``viewsPatience`` later; past that the answer goes out anyway: the
/// write is durable).
public struct NodeCommandLog: DecidingEventStore {
    /// How many times a command (or a row of them) is decided before a conflict is answered
    /// with 409.
    public static let maxAttempts = 16
    /// How long an answer waits for the node's views to fold its write.
    public static let viewsPatience: Duration = .seconds(5)
    /// The most commands one row takes.
    public static let maxRow = 256
    /// The events a row stops taking commands at (the rest wait for the next row): a row is
    /// one transaction under the log's lock, and must end well within the time limit.
    public static let maxRowEvents = 5_000

    let log: PostgresEventLog
    let views: InlineProjections
    let applied: PositionSignal
    let lines: StreamLines
    /// Shared with the node's follower: one writer of the views at a time.
    let viewsTurn: ViewsTurn

    init(log: PostgresEventLog, views: InlineProjections, applied: PositionSignal, viewsTurn: ViewsTurn) {
        self.log = log
        self.views = views
        self.applied = applied
        self.viewsTurn = viewsTurn
        self.lines = StreamLines(maxRow: Self.maxRow)
    }

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        let result = try await log.append(request)
        await waitForViews(at: result.positions.upperBound)
        return result
    }

    public func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision) {
        // A command decides on views at least as fresh as the log was when it arrived: what
        // a client wrote through another node a moment ago is seen (a heartbeat through B
        // on a session started through A), and a refusal or a decision to do nothing never
        // rests on views behind the log.
        let head = try await log.currentHead()
        guard await waitForViews(at: head) else { throw behind(head) }
        let decidedAt = try views.appliedPosition()
        let (request, decision) = try decide(.outsideBatch)
        guard let request else { return (nil, decision) }
        let conflict: StreamChangedError
        if let busy = lines.busy(among: request.events.map(\.stream)) {
            // This node is deciding rows on that stream: an append alone would only conflict.
            conflict = StreamChangedError(stream: busy, decidedAt: decidedAt, changedAt: decidedAt)
        } else {
            do {
                let result = try await log.append(request, streamsUnchangedAfter: decidedAt)
                await waitForViews(at: result.positions.upperBound)
                return (result, decision)
            } catch let error as StreamChangedError {
                conflict = error
            }
        }
        // The stream is busy: wait in its line, to be decided in a row with the others.
        let decisions = Mutex<Decision?>(nil)
        let waiting = StreamLines.Command { scope in
            let (request, decision) = try decide(scope)
            decisions.withLock { $0 = decision }
            return request
        }
        switch await lines.join(conflict.stream, waiting, changedAt: conflict.changedAt, run: decideInRows) {
        case .appended(let result):
            guard let decision = decisions.withLock({ $0 }) else { throw EventLogError(.storage, "the row answered a command it did not decide") }
            return (result, decision)
        case .failed(let error):
            throw error
        case .alone, .requeue:  // a line answers `requeue` to no command: it puts it back
            return try await appendAlone(decide, after: conflict)
        }
    }

    /// Decides one row of `stream`'s line, `commands`, and appends it; after a conflict, again
    /// on views that folded it, up to ``maxAttempts`` decisions per command in all. Returns
    /// each command's outcome, in order. Runs in the line's own task.
    private func decideInRows(_ stream: String, _ commands: [StreamLines.Command], changedAt: LogPosition) async -> [StreamLines.Outcome] {
        var waitFor = changedAt
        // Every command in the row was decided once before it joined the line.
        for _ in 1..<Self.maxAttempts {
            guard await waitForViews(at: waitFor) else {
                return commands.map { _ in .failed(behind(waitFor)) }
            }
            let decided: [Result<AppendRequest?, any Error>]
            let decidedAt: LogPosition
            do {
                (decided, decidedAt) = try await viewsTurn.run { try decideInRow(commands) }
            } catch is BatchRetryRequest {
                // The views' map filled up: it grows when the next row begins. Handing the
                // commands back to be decided alone would make them conflict with each other
                // on one node (a breaker saw 220 of 256 answered 409).
                continue
            } catch {
                return commands.map { _ in .alone }
            }
            do {
                // Past `maxRowEvents`, the rest go back to the front of the line.
                if decided.count < commands.count {
                    return try await outcomes(of: decided, appendedAfter: decidedAt) + commands.dropFirst(decided.count).map { _ in .requeue }
                }
                return try await outcomes(of: decided, appendedAfter: decidedAt)
            } catch let conflict as StreamChangedError {
                waitFor = conflict.changedAt
            } catch is RowRefusedError {
                return commands.map { _ in .alone }
            } catch {
                return commands.map { _ in .failed(error) }
            }
        }
        let error = CommandError(
            .conflict,
            "\(stream) kept changing (other nodes wrote it) while this command was decided (\(Self.maxAttempts) attempts); try again"
        )
        return commands.map { _ in .failed(error) }
    }

    /// Appends the requests of a decided row, all or none, and gives each command its outcome.
    private func outcomes(of decided: [Result<AppendRequest?, any Error>], appendedAfter decidedAt: LogPosition) async throws -> [StreamLines.Outcome]
    {
        let requests = decided.compactMap { try? $0.get() }.compactMap { $0 }
        var results = requests.isEmpty ? [] : try await log.append(row: requests, streamsUnchangedAfter: decidedAt)
        if let last = results.last { await waitForViews(at: last.positions.upperBound) }
        return decided.map { decision in
            switch decision {
            case .failure(let error): return .failed(error)
            case .success(nil): return .appended(nil)
            case .success(.some): return .appended(results.removeFirst())
            }
        }
    }

    /// Runs `commands`' deciders one after the other on the views, each seeing the events of
    /// the ones before it: they are applied in a write transaction of the views, at the
    /// positions they would take, and the transaction is aborted (the follower folds the real
    /// events once PostgreSQL has them). Returns each decider's request or error, and the
    /// position of the views they read. Past ``maxRowEvents`` it stops: the commands after
    /// the last one returned are not decided.
    private func decideInRow(_ commands: [StreamLines.Command]) throws -> ([Result<AppendRequest?, any Error>], LogPosition) {
        let scope = BatchScope(batch: lines.nextRow())
        try views.beginBatch(scope, RecordedEventsScanner([]))
        defer { views.abortBatch() }
        let decidedAt = try views.appliedPosition()
        var position = decidedAt
        let now = Timestamp.now()
        var decided: [Result<AppendRequest?, any Error>] = []
        for command in commands {
            // A row of at least one command stops at `maxRowEvents`.
            if !decided.isEmpty && position - decidedAt >= UInt64(Self.maxRowEvents) { break }
            let request: AppendRequest?
            do {
                request = try command.decide(scope)
            } catch {
                decided.append(.failure(error))
                continue
            }
            for event in request?.events ?? [] {
                position += 1
                // Provisional: the real position may be later (other streams' events), and the
                // stream version is not known here (no projector reads it).
                let provisional = RecordedEvent(event, position: position, streamVersion: 0, recordedAt: event.recordedAt ?? now)
                try provisional.withView { try views.apply($0) }
            }
            decided.append(.success(request))
        }
        return (decided, decidedAt)
    }

    /// A command that its stream's line handed back: decided alone, again and again, up to
    /// ``maxAttempts`` times.
    private func appendAlone<Decision: Sendable>(
        _ decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision),
        after conflict: StreamChangedError
    ) async throws -> (result: AppendResult?, decision: Decision) {
        var waitFor = conflict.changedAt
        for _ in 1..<Self.maxAttempts {
            guard await waitForViews(at: waitFor) else { throw behind(waitFor) }
            let decidedAt = try views.appliedPosition()
            let (request, decision) = try decide(.outsideBatch)
            guard let request else { return (nil, decision) }
            do {
                let result = try await log.append(request, streamsUnchangedAfter: decidedAt)
                await waitForViews(at: result.positions.upperBound)
                return (result, decision)
            } catch let conflict as StreamChangedError {
                waitFor = conflict.changedAt
            }
        }
        throw CommandError(.conflict, "\(conflict.stream) kept changing while this command was decided (\(Self.maxAttempts) attempts); try again")
    }

    private func behind(_ position: LogPosition) -> EventLogError {
        let applied = (try? views.appliedPosition()) ?? 0
        return EventLogError(
            .unavailable,
            "this node's views are \(position > applied ? position - applied : 0) events behind the log and did not catch up within \(Self.viewsPatience); "
                + "nothing was decided"
        )
    }

    /// Waits for the views to reach `position`, at most ``viewsPatience``; answers whether they did.
    @discardableResult
    private func waitForViews(at position: LogPosition) async -> Bool {
        // The follower advances the signal after each fold; views that got there otherwise
        // (folded before this process started) are read directly.
        if ((try? views.appliedPosition()) ?? 0) >= position { return true }
        return await applied.wait(for: position, timeout: Self.viewsPatience)
    }

    public func currentHead() async throws -> LogPosition { try await log.currentHead() }

    public func events(from position: LogPosition, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await log.events(from: position, direction: direction, limit: limit)
    }

    public func events(inStream stream: String, from version: UInt64, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await log.events(inStream: stream, from: version, direction: direction, limit: limit)
    }

    public func info(ofStream stream: String) async throws -> StreamInfo { try await log.info(ofStream: stream) }

    public func subscribe(from position: LogPosition) -> PostgresEventLog.Subscription { log.subscribe(from: position) }
}

/// The lines of a node's commands that conflicted, one per busy stream: the commands waiting
/// in a line are decided in rows by one task, which runs while the line is not empty.
final class StreamLines: Sendable {
    /// A command waiting in a line: its decider, which notes its own decision.
    struct Command: Sendable {
        let decide: @Sendable (BatchScope) throws -> AppendRequest?
    }

    /// What a line did with a command.
    enum Outcome: Sendable {
        /// Appended in a row (nil: it decided to append nothing), committed and folded.
        case appended(AppendResult?)
        /// Refused (its decider's error, a conflict after every attempt, PostgreSQL's failure).
        case failed(any Error)
        /// Handed back, to be decided alone.
        case alone
        /// Not decided (the row was full): back to the front of the line, for the next row.
        case requeue
    }

    private struct Waiting {
        var command: Command
        var answer: CheckedContinuation<Outcome, Never>
    }

    private struct Line {
        var waiting: [Waiting] = []
        var changedAt: LogPosition = 0
    }

    private let maxRow: Int
    private let lines = Mutex<[String: Line]>([:])
    private let rows = Atomic<UInt64>(0)

    init(maxRow: Int) {
        self.maxRow = maxRow
    }

    /// The first of `streams` that has a line, if any.
    func busy(among streams: [String]) -> String? {
        lines.withLock { lines in streams.first { lines[$0] != nil } }
    }

    /// Numbers the rows' batch scopes, apart from the log's (`BatchScope/outsideBatch` is 0).
    func nextRow() -> UInt64 { rows.add(1, ordering: .relaxed).newValue }

    /// Waits in `stream`'s line until a row has decided `command`; starts the line's task
    /// (which decides rows with `run`) when the line was empty.
    func join(
        _ stream: String,
        _ command: Command,
        changedAt: LogPosition,
        run: @escaping @Sendable (String, [Command], LogPosition) async -> [Outcome]
    ) async -> Outcome {
        await withCheckedContinuation { (answer: CheckedContinuation<Outcome, Never>) in
            let starts = lines.withLock { lines -> Bool in
                var line = lines[stream] ?? Line()
                let starts = line.waiting.isEmpty && lines[stream] == nil
                line.waiting.append(Waiting(command: command, answer: answer))
                line.changedAt = max(line.changedAt, changedAt)
                lines[stream] = line
                return starts
            }
            if starts { Task { await self.serve(stream, run: run) } }
        }
    }

    /// Decides rows of `stream`'s line until it is empty, then removes it.
    private func serve(_ stream: String, run: @Sendable (String, [Command], LogPosition) async -> [Outcome]) async {
        while true {
            let (row, changedAt) = lines.withLock { lines -> ([Waiting], LogPosition) in
                guard var line = lines[stream], !line.waiting.isEmpty else {
                    lines[stream] = nil
                    return ([], 0)
                }
                let row = Array(line.waiting.prefix(maxRow))
                line.waiting.removeFirst(row.count)
                lines[stream] = line
                return (row, line.changedAt)
            }
            guard !row.isEmpty else { return }
            let outcomes = await run(stream, row.map(\.command), changedAt)
            var requeued: [Waiting] = []
            for (waiting, outcome) in zip(row, outcomes) {
                if case .requeue = outcome { requeued.append(waiting) } else { waiting.answer.resume(returning: outcome) }
            }
            if !requeued.isEmpty { lines.withLock { $0[stream]?.waiting.insert(contentsOf: requeued, at: 0) } }
        }
    }
}
