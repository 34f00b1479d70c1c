public import EventLog
public import Foundation
public import Views
public import WatchDomain

/// Runs a command through the log's writer: `decide` reads the views as the batch has left
/// them (the ``ViewSource`` it is handed) and returns the events to append (none is fine) and
/// an outcome; the outcome is returned after the batch's durable commit.
///
/// The log is any ``DecidingEventStore`` (the LMDB log in the server, the in-memory log in
/// unit tests) and the views are those taking part in its batches (the inline projections; in
/// unit tests, ``InMemoryViews``). On a node over PostgreSQL the views take no part in the
/// log's batches: a decider first reads the node's committed views (handed
/// `BatchScope.outsideBatch`), and the node's log (``NodeCommandLog``) appends on the
/// condition that the streams written did not change since; a command that conflicted is
/// decided again in a row of its stream's commands, reading the views as the row has left
/// them so far.
public struct CommandRunner: Sendable {
    /// The log the commands append to.
    public let log: any DecidingEventStore
    /// The views the deciders read (in their batch) and the queries read (committed).
    public let views: any ViewReading

    /// A runner appending to `log`, whose batches `views` take part in (or that hands its
    /// deciders `BatchScope.outsideBatch`, for the committed views).
    public init(log: any DecidingEventStore, views: any ViewReading) {
        self.log = log
        self.views = views
    }

    /// A runner over `store`'s log and views.
    public init(store: PlayheadStore) { self.init(log: store.log, views: store.projections) }

    /// A runner over `node`'s log and views.
    public init(node: PlayheadNode) { self.init(log: node.commandLog, views: node.projections) }

    /// Decides and appends; answers with the decider's outcome after the durable commit.
    public func run<Outcome: Sendable>(
        caller: Caller,
        correlation: UUID,
        _ decide: @escaping @Sendable (ViewSource) throws -> (events: [any DomainEvent], outcome: Outcome)
    ) async throws -> Outcome {
        try await runAppending(caller: caller, correlation: correlation, decide).outcome
    }

    /// ``run(caller:correlation:_:)``, also returning what the append did (nil when the
    /// decision appended nothing): its positions and recorded-at time.
    public func runAppending<Outcome: Sendable>(
        caller: Caller,
        correlation: UUID,
        _ decide: @escaping @Sendable (ViewSource) throws -> (events: [any DomainEvent], outcome: Outcome)
    ) async throws -> (outcome: Outcome, append: AppendResult?) {
        let views = views
        let (result, outcome) = try await log.append(deciding: { scope in
            let source: ViewSource = scope == .outsideBatch ? .committed(views) : .batch(scope, of: views)
            let (events, outcome) = try decide(source)
            let request =
                events.isEmpty ? nil : AppendRequest(events: events.map { $0.proposed(actor: caller.userId, correlationID: correlation) })
            return (request, outcome)
        })
        return (outcome, result)
    }
}
