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
        UserSessionsProjector(), WatchSessionsProjector(), VideoProgressProjector(), InteractionsProjector(),
    ]

    /// The store directory.
    public let directory: String
    /// The event log.
    public let log: LMDBEventLog
    /// The read models.
    public let projections: InlineProjections
    /// Where the live views are and how a rebuild replaces them.
    public let views: ViewsLocation

    /// Opens (creating when missing) the store in `directory` for writing; `configure`
    /// adjusts the log's configuration (clock, commit observer, …) before it opens.
    public init(directory: String, configure: (inout LMDBEventLog.Configuration) -> Void = { _ in }) throws {
        let views = ViewsLocation(store: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let projections = try InlineProjections(directory: views.current(), projectors: Self.projectors)
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
