import EventLog
import LMDBLog
import Logging
public import PlayheadCore
import PostgresLog
import ServiceLifecycle
import Views

/// What a server serves: the embedded store (`playhead serve`), or a node over a PostgreSQL
/// log (`playhead serve --log postgres://…`). The routes read the same views either way; what
/// differs is where commands append, what feeds the views and what `/ready` reports.
public enum ServedStore: Sendable {
    /// The embedded LMDB store: one process writes it, its inline views fold in the writer's
    /// batches.
    case embedded(PlayheadStore)
    /// A node: the log in PostgreSQL, the views local, folded by the node's follower.
    case node(PlayheadNode)

    /// The inline views.
    var projections: InlineProjections {
        switch self {
        case .embedded(let store): store.projections
        case .node(let node): node.projections
        }
    }

    /// The asynchronous views (the analytics).
    var asyncProjections: AsyncProjections {
        switch self {
        case .embedded(let store): store.asyncProjections
        case .node(let node): node.asyncProjections
        }
    }

    /// Where the commands append.
    var runner: CommandRunner {
        switch self {
        case .embedded(let store): CommandRunner(store: store)
        case .node(let node): CommandRunner(node: node)
        }
    }

    /// The log the live feed follows.
    var feedLog: any EventStore {
        switch self {
        case .embedded(let store): store.log
        case .node(let node): node.log
        }
    }

    /// What the start-up line names: the store's directory, or the node's and its log.
    var description: String {
        switch self {
        case .embedded(let store): store.directory
        case .node(let node): "\(node.directory) (log: \(node.log.location))"
        }
    }

    /// The lag (in events) within which the server counts as ready. The embedded store's
    /// views are folded in the writer's batches: 0. A node's trail the shared log by the
    /// moment its follower takes to fold a commit: a lag within 1,000 events is a node
    /// following under load, not one catching up.
    var readyLag: UInt64 {
        switch self {
        case .embedded: 0
        case .node: 1_000
        }
    }

    /// How far the views are behind the log, and why they cannot catch up, if they can't.
    func readiness() async throws -> (head: LogPosition, lag: UInt64, asyncLag: UInt64, failure: String?) {
        switch self {
        case .embedded(let store):
            let head = try store.log.head
            let applied = try store.projections.appliedPosition()
            // A failed catch-up (a full disk) is retried by the writer; until it succeeds
            // every write fails, so the server is not ready even when the lag is 0.
            return (head, head >= applied ? head - applied : 0, try store.asyncProjections.lag(behind: head), store.log.catchUpFailure?.message)
        case .node(let node):
            let state = await node.readiness()
            let lag = state.head >= state.applied ? state.head - state.applied : 0
            let asyncLag = state.head >= state.asyncApplied ? state.head - state.asyncApplied : 0
            return (state.head, lag, asyncLag, state.failure)
        }
    }

    /// The services the store needs beside the server.
    func services(configuration: ServerConfiguration, logger: Logger) -> [any Service] {
        switch self {
        case .embedded(let store):
            [
                ViewsWatcher(store: store, interval: configuration.viewsPollInterval, logger: logger),
                AsyncProjectionsFolder(store: store, folding: configuration.foldsAsyncProjections, logger: logger),
            ]
        case .node(let node):
            [NodeFollower(node: node, foldsAsyncProjections: configuration.foldsAsyncProjections, logger: logger)]
        }
    }
}
