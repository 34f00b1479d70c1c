public import EventLog
import Foundation
import LMDBKit
import Logging
public import PostgresLog
import Synchronization
public import Views

/// A Playhead node over a PostgreSQL log: the composition root of `playhead serve --log`.
///
/// The log is shared by every node; the views are the node's own, in local LMDB (`directory`
/// holds them as an embedded store does, without `log/`). A ``NodeFollower`` folds what the
/// log commits, from any node, into them. Commands decide against these views and append
/// through ``NodeCommandLog``, on the condition that the streams they write did not change
/// after the views' position; on a conflict the node catches up and decides again.
///
/// One process serves a node directory at a time (`node.lock`).
public final class PlayheadNode: Sendable {
    /// The node's directory: its views generations and its lock.
    public let directory: String
    /// The shared log.
    public let log: PostgresEventLog
    /// The node's inline views, fed by the follower instead of the log's batches.
    public let projections: InlineProjections
    /// The node's asynchronous views (the analytics), fed by the follower too.
    public let asyncProjections: AsyncProjections
    /// The log the node's commands append through.
    public let commandLog: NodeCommandLog
    /// Advanced to the views' position whenever the follower has folded more of the log.
    let applied = PositionSignal()
    /// Turns at writing the inline views: the follower's folds and the commands' rows.
    let viewsTurn = ViewsTurn()
    /// Why the follower last failed, until it folds again.
    let followerFailure = Mutex<String?>(nil)
    private let lock: FileLock

    /// Opens (or creates) the node directory `directory` and connects to the log at
    /// `location`, migrating its schema if needed. Folds nothing yet: the follower does.
    ///
    /// - Throws: `EventLogError` (`storage`: PostgreSQL unreachable; `alreadyOpen`: another
    ///   process serves this directory), or a `ViewError` for damaged views.
    public static func open(
        directory: String,
        log location: PostgresLocation,
        asyncProjectors: [any Projector] = PlayheadStore.asyncProjectors,
        configuration: PostgresEventLog.Configuration = PostgresEventLog.Configuration()
    ) async throws -> PlayheadNode {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: directory + "/log") {
            throw EventLogError(
                .invalidRequest,
                "\(directory) holds an embedded log; a node keeps only its views (give it a directory of its own, or import the log with playhead import --log)"
            )
        }
        let lock: FileLock
        do {
            lock = try FileLock(path: directory + "/node.lock")
        } catch {
            throw EventLogError(.alreadyOpen, "another playhead serves the node directory \(directory)")
        }
        let views = ViewsLocation(store: directory)
        let projections = try InlineProjections(directory: views.current(), projectors: PlayheadStore.projectors)
        let asyncProjections = try AsyncProjections(directory: AsyncProjections.directory(in: views.current()), projectors: asyncProjectors)
        let log = try await PostgresEventLog.open(location, configuration: configuration)
        // Views past the log's head were folded from another log (or from this one before it
        // was restored to an earlier point): serving them would decide on events the log
        // does not hold.
        let head: LogPosition
        let applied: LogPosition
        do {
            head = try await log.currentHead()
            applied = max(try projections.appliedPosition(), try asyncProjections.appliedPosition())
        } catch {
            await log.close()
            throw error
        }
        guard applied <= head else {
            await log.close()
            throw EventLogError(
                .invalidRequest,
                "the views in \(directory) are at position \(applied), past the log's head \(head): they were not folded from this log. "
                    + "Remove the directory (the node folds the log again) or run playhead rebuild --log"
            )
        }
        return PlayheadNode(directory: directory, log: log, projections: projections, asyncProjections: asyncProjections, lock: lock)
    }

    private init(directory: String, log: PostgresEventLog, projections: InlineProjections, asyncProjections: AsyncProjections, lock: FileLock) {
        self.directory = directory
        self.log = log
        self.projections = projections
        self.asyncProjections = asyncProjections
        self.lock = lock
        self.commandLog = NodeCommandLog(log: log, views: projections, applied: applied, viewsTurn: viewsTurn)
    }

    /// How far the node is: the log's head, and what its views applied.
    public func readiness() async -> (head: LogPosition, applied: LogPosition, asyncApplied: LogPosition, failure: String?) {
        let applied = (try? projections.appliedPosition()) ?? 0
        let asyncApplied = (try? asyncProjections.appliedPosition()) ?? 0
        do {
            let head = try await log.currentHead()
            return (head, applied, asyncApplied, followerFailure.withLock { $0 })
        } catch {
            return (applied, applied, asyncApplied, "\(error)")
        }
    }

    /// Closes the log's connections and releases the directory.
    public func close() async {
        await log.close()
        lock.release()
    }
}
