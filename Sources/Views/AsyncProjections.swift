public import EventLog
import Foundation
import LMDBKit
public import Logging
import Synchronization

/// Projectors folded behind the log's writer, for read models too heavy for the durable
/// write path (analytics): the writer commits without them, and a fold catches them up from
/// their own checkpoints shortly after.
///
/// They live in an environment of their own, `async/` inside the live views directory, so
/// that their write transactions never wait for (or hold up) the writer's batch, and a
/// rebuild replaces them together with the inline views. Each projector keeps its checkpoint
/// in the same transaction as its read models, so after a crash it continues where its last
/// commit left it. Their answers may lag the log; ``lag(behind:)`` says by how much.
public final class AsyncProjections: Sendable {
    /// The projectors, in the order they are applied.
    public let projectors: [any Projector]
    private let initialMapSize: Int
    private let logger: Logger
    private let current: Mutex<ViewsStore>
    /// Serialises folds (a fold and a switch to rebuilt views never overlap).
    private let folding = Mutex<Void>(())

    /// The directory of the asynchronous views inside the views directory `views`.
    public static func directory(in views: String) -> String { views + "/async" }

    /// Opens (creating when missing) the asynchronous views in `directory` for `projectors`;
    /// with `readOnly`, only to read, compare and copy existing ones.
    public init(
        directory: String,
        projectors: [any Projector],
        initialMapSize: Int = 1 << 30,
        readOnly: Bool = false,
        logger: Logger = Logger(label: "playhead.projections.async")
    ) throws {
        self.projectors = projectors
        self.initialMapSize = initialMapSize
        self.logger = logger
        current = Mutex(try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize, readOnly: readOnly))
    }

    /// The directory of the live asynchronous views.
    public var directory: String { current.withLock { $0.directory } }

    /// Folds every event of `log` beyond the projectors' checkpoints (through `last`, the
    /// scanner's head when nil) and commits; returns how many events it read. Called by the
    /// service that follows the log, by `rebuild`, and by tests.
    @discardableResult
    public func catchUp(_ log: some EventScanner, through last: LogPosition? = nil) throws -> Int {
        try folding.withLock { _ in
            try current.withLock { $0 }.catchUp(projectors, from: log, through: last)
        }
    }

    /// The oldest position every asynchronous projector has applied.
    public func appliedPosition() throws -> LogPosition {
        try current.withLock { $0 }.oldestCheckpoint(projectors)
    }

    /// How many events the slowest asynchronous projector is behind a log whose head is `head`.
    public func lag(behind head: LogPosition) throws -> UInt64 {
        // No projector is behind anything.
        guard !projectors.isEmpty else { return 0 }
        let applied = try appliedPosition()
        return head > applied ? head - applied : 0
    }

    /// Runs `body` with the committed views of `projector`, in a read transaction of their own.
    public func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T {
        let store = current.withLock { $0 }
        guard store.handles[projector] != nil else { throw ViewError("no asynchronous projector named '\(projector)'") }
        return try store.environment.withReadTransaction { txn in try body(store.view(projector, txn, writable: false)) }
    }

    /// Switches to the asynchronous views in `directory` (those of rebuilt views), catching
    /// them up with `log` first. A failure keeps the old ones and is logged.
    public func swap(to directory: String, log: some EventScanner) {
        folding.withLock { _ in
            do {
                let store = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
                try store.catchUp(projectors, from: log)
                current.withLock { $0 = store }
            } catch {
                logger.error("could not switch to the rebuilt asynchronous views", metadata: ["directory": "\(directory)", "error": "\(error)"])
            }
        }
    }

    /// Compares these views with those in `directory`, key by key; see
    /// ``InlineProjections/differences(from:limit:)``.
    public func differences(from directory: String, limit: Int = 10) throws -> (position: LogPosition, differences: [ViewDifference]) {
        let other = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
        return try current.withLock { $0 }.differences(from: other, projectors: projectors, limit: limit)
    }
}
