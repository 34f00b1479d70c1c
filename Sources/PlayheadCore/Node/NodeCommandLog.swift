public import EventLog
import Foundation
public import PostgresLog
import Synchronization
import Views
import WatchDomain

/// The log as a node's commands see it: the PostgreSQL log, with decisions made against the
/// node's committed views.
///
/// `append(deciding:)` first lets the node's views reach the log's head as it was when the
/// command arrived, then notes the position the views have applied, runs the decider on them,
/// and appends its request on the condition that none of the streams it writes changed after
/// that position (`PostgresEventLog.append(_:streamsUnchangedAfter:)`). In Playhead a
/// command's decision is about the streams it appends to (a session, a party, a user's
/// progress), so that condition is the expected versions of the streams it read. On a
/// conflict (another node appended to one of them first) it waits for the views to fold that
/// event and decides again, up to ``maxAttempts`` times; then it refuses with a
/// `CommandError` `conflict` (409). After a conflict it waits its turn on the stream
/// (``StreamQueue``): this node's commands on one busy stream then decide one at a time.
/// A command whose views cannot reach the log's head in ``viewsPatience`` is refused with
/// `EventLogError` `unavailable` (503), never decided on stale views.
///
/// An append is answered after PostgreSQL's commit and, for read-your-writes on this node,
/// after the node's views have folded it (at most ``viewsPatience`` later; past that the
/// answer goes out anyway: the write is durable).
public struct NodeCommandLog: DecidingEventStore {
    /// How many times a command is decided before a conflict is answered with 409.
    public static let maxAttempts = 16
    /// How long an answer waits for the node's views to fold its write.
    public static let viewsPatience: Duration = .seconds(5)

    let log: PostgresEventLog
    let views: InlineProjections
    let applied: PositionSignal
    let contended = StreamQueue()

    init(log: PostgresEventLog, views: InlineProjections, applied: PositionSignal) {
        self.log = log
        self.views = views
        self.applied = applied
    }

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        let result = try await log.append(request)
        await waitForViews(at: result.positions.upperBound)
        return result
    }

    public func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision) {
        var lastConflict: StreamChangedError?
        // A command decides on views at least as fresh as the log was when it arrived: what
        // a client wrote through another node a moment ago is seen (a heartbeat through B
        // on a session started through A), and a refusal or a decision to do nothing never
        // rests on views behind the log.
        let head = try await log.currentHead()
        guard await waitForViews(at: head) else {
            let applied = (try? views.appliedPosition()) ?? 0
            throw EventLogError(
                .unavailable,
                "this node's views are \(head > applied ? head - applied : 0) events behind the log and did not catch up within \(Self.viewsPatience); "
                    + "nothing was decided"
            )
        }
        // After a conflict, the command waits its turn on the stream that changed: commands
        // of this node on one busy stream (a user's progress from many devices) then decide
        // one after the other instead of conflicting again and again.
        var queued: String?
        defer { if let queued { contended.leave(queued) } }
        for _ in 0..<Self.maxAttempts {
            let decidedAt = try views.appliedPosition()
            let (request, decision) = try decide(BatchScope(batch: 0))
            guard let request else { return (nil, decision) }
            do {
                let result = try await log.append(request, streamsUnchangedAfter: decidedAt)
                await waitForViews(at: result.positions.upperBound)
                return (result, decision)
            } catch let conflict as StreamChangedError {
                lastConflict = conflict
                if queued != conflict.stream {
                    if let queued { contended.leave(queued) }
                    await contended.enter(conflict.stream)
                    queued = conflict.stream
                }
                await waitForViews(at: conflict.changedAt)
            }
        }
        throw CommandError(
            .conflict,
            "\(lastConflict?.stream ?? "the stream") kept changing while this command was decided (\(Self.maxAttempts) attempts); try again"
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

/// One turn at a time per stream, in the order asked: where a node's commands that conflicted
/// on a stream wait before they decide again.
final class StreamQueue: Sendable {
    private struct State {
        var busy: Set<String> = []
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    /// Returns once the caller has the stream's turn.
    func enter(_ stream: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.busy.insert(stream).inserted { return true }
                state.waiting[stream, default: []].append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the stream's turn to the next in line, or frees it.
    func leave(_ stream: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard var line = state.waiting[stream], !line.isEmpty else {
                state.busy.remove(stream)
                state.waiting[stream] = nil
                return nil
            }
            let next = line.removeFirst()
            state.waiting[stream] = line.isEmpty ? nil : line
            return next
        }
        next?.resume()
    }
}
