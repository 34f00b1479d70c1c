import EventLog
import LMDBLog
public import Logging
public import ServiceLifecycle
import Views

/// Keeps a store's asynchronous projections (``PlayheadStore/asyncProjections``) following
/// the log: it folds whatever the log holds beyond their checkpoints, then waits for the
/// next commit and folds again. It runs beside the writer, never in its batch, so the
/// durable write path does not wait for it; `/ready` reports how far behind it is.
///
/// A fold that fails (a full disk) is logged and tried again after a second; the writer is
/// not affected. It returns on a graceful shutdown; a log closed under it stops the folding
/// (logged) until then.
public struct AsyncProjectionsFolder: Service {
    let store: PlayheadStore
    let folding: Bool
    let logger: Logger

    /// A folder for `store`'s asynchronous projections; one that is not `folding` only waits
    /// for the shutdown (the projections stay where they are).
    public init(store: PlayheadStore, folding: Bool = true, logger: Logger) {
        self.store = store
        self.folding = folding
        self.logger = logger
    }

    /// Events folded between two checks for a shutdown (a few tens of milliseconds of work).
    static let step: UInt64 = 8_192

    /// How long the folder lets commits gather after one wakes it, so that under load it folds
    /// many batches at once instead of waking for every commit of the writer, whose CPU it
    /// shares (measured with `tools/bench-http --compare-args --no-async-projections`).
    static let gathering: Duration = .milliseconds(20)

    public func run() async throws {
        guard folding, !store.asyncProjections.projectors.isEmpty else {
            // Nothing to fold, but a service that returns ends the whole server: wait for
            // the shutdown like the others.
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let folded: LogPosition
            do {
                // In steps of ``step`` events, each committed: a long fold (a new projector,
                // or a new version, refolds the whole log) stops between two steps at a
                // shutdown, keeping what it folded, instead of holding the shutdown up.
                var applied = try store.asyncProjections.appliedPosition()
                var head = try store.log.head
                while applied < head {
                    guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
                    let through = min(head, applied + Self.step)
                    try store.log.withReader { _ = try store.asyncProjections.catchUp($0, through: through) }
                    applied = through
                    head = try store.log.head
                    await Task.yield()
                }
                folded = try store.asyncProjections.appliedPosition()
            } catch {
                logger.error("could not fold the asynchronous projections", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            // Wait for the next commit: a subscription from just past what was folded yields
            // as soon as the log holds one more event. A graceful shutdown ends the wait (the
            // service group waits for every service to return).
            let subscription = store.log.subscribe(from: folded + 1, chunkSize: 1)
            do {
                let committed = try await cancelWhenGracefulShutdown {
                    var next = subscription.makeAsyncIterator()
                    return try await next.next() != nil
                }
                if committed {
                    try? await Task.sleep(for: Self.gathering)
                    continue
                }
                // A cancelled subscription ends without an error: that is the shutdown.
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                // The log closed under the server: nothing more will commit. A service that
                // returns ends the whole server, so wait for the shutdown like the others.
                logger.warning("the log closed: the asynchronous projections stop following it")
                try? await gracefulShutdown()
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.error("could not follow the log", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
