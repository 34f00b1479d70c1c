import EventLog
public import Logging
import PostgresLog
public import ServiceLifecycle
import Synchronization
import Views

/// Folds what the PostgreSQL log commits into a node's views: the inline views and the
/// asynchronous ones, each from its own checkpoint, in chunks of ``chunk`` events, each chunk
/// committed with its checkpoints (a restarted node goes on from there). At the head it waits
/// for the log's next commit (`NOTIFY`, or its poll). A failure (PostgreSQL down) is logged,
/// shown by `/ready`, and retried every second.
public struct NodeFollower: Service {
    /// Events read from PostgreSQL and folded per LMDB transaction.
    public static let chunk = 4_096

    enum Views { case inline, async }

    let node: PlayheadNode
    let foldsAsyncProjections: Bool
    let logger: Logger

    /// A follower of `node`'s log; without `foldsAsyncProjections` (`serve
    /// --no-async-projections`) it leaves the analytics where they are.
    public init(node: PlayheadNode, foldsAsyncProjections: Bool = true, logger: Logger) {
        self.node = node
        self.foldsAsyncProjections = foldsAsyncProjections
        self.logger = logger
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await follow(.inline) }
            if foldsAsyncProjections { group.addTask { await follow(.async) } }
        }
    }

    private func follow(_ views: Views) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let generation = node.log.commitGeneration
            do {
                if try await foldOnce(views) == 0 {
                    _ = await cancelWhenGracefulShutdown { await node.log.waitForCommit(after: generation) }
                }
                if views == .inline { node.followerFailure.withLock { $0 = nil } }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                let message = "the node's views could not follow the log: \(error)"
                if views == .inline { node.followerFailure.withLock { $0 = message } }
                logger.error("could not fold the log", metadata: ["views": "\(views)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Reads the next chunk after what `views` applied and folds it; returns how many events
    /// it folded (0: at the head).
    private func foldOnce(_ views: Views) async throws -> Int {
        let applied = try views == .inline ? node.projections.appliedPosition() : node.asyncProjections.appliedPosition()
        let events = try await node.log.events(from: applied + 1, direction: .forward, limit: Self.chunk)
        guard !events.isEmpty else { return 0 }
        let scanner = RecordedEventsScanner(events)
        switch views {
        case .inline:
            try await node.viewsTurn.run { try node.projections.catchUp(scanner) }
            // The chunk is folded whole: the views are at its last event.
            if let last = events.last { node.applied.advance(to: last.position) }
        case .async:
            _ = try node.asyncProjections.catchUp(scanner)
        }
        return events.count
    }
}
