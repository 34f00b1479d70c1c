import EventLog
import Foundation
import Projections
import WatchDomain

/// Runs a command through the log's single writer: `decide` reads the read models as the
/// batch left them and returns the events to append (none is fine) and an outcome; the
/// outcome is returned after the batch's durable commit.
struct CommandRunner: Sendable {
    let store: PlayheadStore

    func run<Outcome: Sendable>(
        caller: Caller,
        correlation: UUID,
        _ decide: @escaping @Sendable () throws -> (events: [any DomainEvent], outcome: Outcome)
    ) async throws -> Outcome {
        try await runAppending(caller: caller, correlation: correlation, decide).outcome
    }

    /// ``run(caller:correlation:_:)``, also returning what the append did (nil when the
    /// decision appended nothing): its positions and recorded-at time.
    func runAppending<Outcome: Sendable>(
        caller: Caller,
        correlation: UUID,
        _ decide: @escaping @Sendable () throws -> (events: [any DomainEvent], outcome: Outcome)
    ) async throws -> (outcome: Outcome, append: AppendResult?) {
        let (result, outcome) = try await store.log.append(deciding: {
            let (events, outcome) = try decide()
            let request = events.isEmpty ? nil : AppendRequest(events: events.map { $0.proposed(actor: caller.userId, correlationID: correlation) })
            return (request, outcome)
        })
        return (outcome, result)
    }
}
