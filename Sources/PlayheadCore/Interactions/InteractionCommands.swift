import EventLog
public import Foundation
import Projections
import Views
public import WatchDomain

/// The content-interaction commands.
public struct InteractionCommands: Sendable {
    /// Runs the commands through the log's writer.
    public let runner: CommandRunner

    /// Commands through `runner`.
    public init(runner: CommandRunner) { self.runner = runner }

    /// What tracking did: the interaction as it now stands, and whether this was its first tracking.
    public struct Tracked: Sendable, Hashable {
        /// The interaction, with this tracking.
        public var interaction: Interaction
        /// Whether the tracking created it.
        public var created: Bool
    }

    /// Tracks an interaction of `userId` with `contentId`: a first tracking creates it,
    /// another one of the same user, content and type updates it.
    public func track(
        userId: UserID,
        contentId: ContentID,
        type: InteractionType,
        details: InteractionDetails,
        caller: Caller,
        correlation: UUID
    ) async throws -> Tracked {
        let (decided, append) = try await runner.runAppending(caller: caller, correlation: correlation) { views in
            let existing = try InteractionQueries(views).interaction(user: userId.text, content: contentId.text, type: type)
            let event = try InteractionDecider.track(
                userId: userId,
                contentId: contentId,
                type: type,
                details: details,
                caller: caller,
                existing: existing,
                newId: { UUID() }
            )
            return ([event], (existing: existing, event: event))
        }
        guard let append, let recordedAt = append.recordedAt else {
            throw CommandError(.unexpected, "the tracking was not appended")
        }
        // The interaction as the projector made it from this event, in the same batch: the
        // answer needs no read, and shows this tracking even when another one of the same
        // interaction follows at once.
        let interaction =
            decided.existing.map { InteractionsProjector.tracked($0, decided.event, at: recordedAt) }
            ?? Interaction(decided.event, at: recordedAt, position: append.positions.upperBound)
        return Tracked(interaction: interaction, created: decided.existing == nil)
    }
}
