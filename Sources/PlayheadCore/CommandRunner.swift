public import EventLog
public import Foundation
import LMDBLog
public import Views
public import WatchDomain

/// Runs a command through the log's single writer: `decide` reads the views as the batch
/// has left them (the ``ViewSource`` it is handed) and returns the events to append (none is
/// fine) and an outcome; the outcome is returned after the batch's durable commit.
public struct CommandRunner: Sendable {
    /// The store the commands change.
    public let store: PlayheadStore

    /// A runner for `store`.
    public init(store: PlayheadStore) { self.store = store }

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
        let projections = store.projections
        let (result, outcome) = try await store.log.append(deciding: { scope in
            let (events, outcome) = try decide(.batch(scope, of: projections))
            let request = events.isEmpty ? nil : AppendRequest(events: events.map { $0.proposed(actor: caller.userId, correlationID: correlation) })
            return (request, outcome)
        })
        return (outcome, result)
    }
}
