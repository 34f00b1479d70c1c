import EventLog
import Foundation
public import LMDBLog
import Projections
public import Views

/// A Playhead store: the event log and the inline projections of every module, opened
/// together so that every append goes through the projections in the same batch.
///
/// ```
/// <store>/log/            the event log (durable truth)
/// <store>/views…/         the read models (see ``ViewsLocation``)
/// ```
public final class PlayheadStore: Sendable {
    /// Every projector Playhead runs, in the order they are applied.
    public static let projectors: [any Projector] = [
        UserSessionsProjector(), WatchSessionsProjector(), VideoProgressProjector(), InteractionsProjector(), WatchPartiesProjector(),
    ]

    /// The projectors folded behind the writer (``AsyncProjections``): read models too heavy
    /// for the durable write path, the analytics.
    public static let asyncProjectors: [any Projector] = [PartyAnalyticsProjector(), VideoAnalyticsProjector()]

    /// The store directory.
    public let directory: String
    /// The event log.
    public let log: LMDBEventLog
    /// The read models.
    public let projections: InlineProjections
    /// Where the live views are and how a rebuild replaces them.
    public let views: ViewsLocation
    /// The read models folded behind the writer, in `async/` of the live views directory
    /// (``AsyncProjectionsFolder`` keeps them following the log).
    public let asyncProjections: AsyncProjections

    /// Opens (creating when missing) the store in `directory` for writing; `configure`
    /// adjusts the log's configuration (clock, commit observer, …) before it opens.
    /// `asyncProjectors` are the projectors folded behind the writer (tests choose their own).
    public init(
        directory: String,
        asyncProjectors: [any Projector] = PlayheadStore.asyncProjectors,
        configure: (inout LMDBEventLog.Configuration) -> Void = { _ in }
    ) throws {
        let views = ViewsLocation(store: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let projections = try InlineProjections(directory: views.current(), projectors: Self.projectors)
        asyncProjections = try AsyncProjections(directory: AsyncProjections.directory(in: views.current()), projectors: asyncProjectors)
        var configuration = LMDBEventLog.Configuration()
        configure(&configuration)
        configuration.participant = projections
        self.log = try LMDBEventLog(directory: directory + "/log", configuration: configuration)
        self.directory = directory
        self.projections = projections
        self.views = views
    }

    /// Switches to the views a rebuild published, when they are not the live ones, and
    /// waits until the writer has done it. Returns whether it switched.
    @discardableResult
    public func adoptPublishedViews() async throws -> Bool {
        let published = views.current()
        let live = projections.directory
        guard published != live else { return false }
        projections.swap(to: published)
        // A batch that appends nothing: the switch happens at its start.
        _ = try await log.append(deciding: { _ in (nil, ()) })
        if projections.directory == published {
            let asyncDirectory = AsyncProjections.directory(in: published)
            try log.withReader { asyncProjections.swap(to: asyncDirectory, log: $0) }
            views.remove(live)
            return true
        }
        return false
    }

    /// Closes the log (its writer finishes the batches already submitted first).
    public func close() async {
        await log.close()
    }
}
