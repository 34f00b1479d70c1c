public import EventLog
import Foundation
import LMDBKit
public import Logging
import Synchronization

/// The inline projections: a `views` LMDB environment and the projectors that fold the log
/// into it, taking part in every batch the log's writer commits (see ``BatchParticipant``).
///
/// The views are written without waiting for the disk: they are derived, so after a crash a projection
/// behind the log catches up from its checkpoint (the last position it applied, kept in the
/// same transaction as its read models). A projector whose ``Projector/version`` changed
/// is emptied and folds the whole log again.
///
/// Command deciders read the views of their batch with ``read(_:in:_:)`` and see the effects
/// of the batch's earlier submissions; queries read the last committed state with
/// ``read(_:_:)``; ``ViewSource`` names one or the other. ``swap(to:)`` replaces the views with a rebuilt environment while the log is live.
public final class InlineProjections: BatchParticipant, ViewReading, @unchecked Sendable {
    /// The projectors, in the order they are applied.
    public let projectors: [any Projector]
    /// Which of them each event goes to.
    private let routing: ProjectorRouting
    private let initialMapSize: Int
    private let logger: Logger
    /// The live views; readers take a reference and keep the store open while they read.
    private let current: Mutex<ViewsStore>
    /// A rebuilt views directory to switch to at the start of the next batch.
    private let pendingSwap = Mutex<String?>(nil)

    /// The batch the writer has open. Published under a lock because readers on other
    /// threads look at it to learn that it is not theirs; only the thread that opened the
    /// transaction uses it (deciders run on the writer).
    private struct OpenBatch: @unchecked Sendable {
        let store: ViewsStore
        let transaction: LMDBTransaction
        let scope: BatchScope
        /// Each projector's view of the batch's transaction, by index, made once per batch.
        let views: [ViewTransaction]
    }
    private let openBatch = Mutex<OpenBatch?>(nil)
    /// The open batch's write transaction, owned (and ended) by the log's writer thread.
    private var batchTransaction: LMDBWriteTransaction?

    // Touched only by the log's writer thread.
    private var lastApplied: LogPosition = 0
    private var mapFull = false
    /// Set when a views commit failed after the log's: the views miss that batch, so the
    /// next batch first folds what the log has beyond their checkpoint.
    private var behindLog = false
    /// Clears the views' reader slots of dead processes (a killed `verify --projections`)
    /// every few batches: a dead reader would keep LMDB from reusing pages.
    private var readerSweep = StaleReaderSweep()
    /// Tests set it (from their own thread) to make the next views commit fail.
    let failNextCommit = Atomic<Bool>(false)

    /// Opens (creating when missing) the views in `directory` for `projectors`. With
    /// `readOnly`, opens existing views only to read, compare and copy them (`verify
    /// --projections`, `rebuild --projection` beside a server): such an instance can't take
    /// part in a log's batches.
    public init(
        directory: String,
        projectors: [any Projector],
        initialMapSize: Int = 1 << 30,
        readOnly: Bool = false,
        logger: Logger = Logger(label: "playhead.projections")
    ) throws {
        self.projectors = projectors
        routing = ProjectorRouting(projectors)
        self.initialMapSize = initialMapSize
        self.logger = logger
        current = Mutex(try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize, readOnly: readOnly))
    }

    /// The directory of the live `views` environment.
    public var directory: String { current.withLock { $0.directory } }

    // MARK: Reading

    /// Runs `body` with the views of `projector` as last committed, in a read transaction
    /// of their own (a snapshot: nothing a later commit does is seen during the call).
    public func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T {
        let store = current.withLock { $0 }
        guard store.handles[projector] != nil else { throw ViewError("no projector named '\(projector)'") }
        return try store.environment.withReadTransaction { txn in
            try body(store.view(projector, txn, writable: false))
        }
    }

    /// Runs `body` with the views of `projector` as batch `scope` has left them so far: what
    /// a command's decider reads, on the writer, during its batch (``DecidingEventStore``).
    ///
    /// - Throws: ``ViewError`` when `scope` is not the open batch (it has ended, or it is
    ///   another log's).
    public func read<T>(_ projector: String, in scope: BatchScope, _ body: (ViewTransaction) throws -> T) throws -> T {
        guard let batch = openBatch.withLock({ $0 }), batch.scope == scope else {
            throw ViewError("batch \(scope.batch) is not open: a decider's views are read during its batch only")
        }
        guard batch.store.handles[projector] != nil else { throw ViewError("no projector named '\(projector)'") }
        return try body(batch.store.view(projector, batch.transaction, writable: false))
    }

    /// The version and last applied position stored for `projector`.
    public func checkpoint(of projector: String) throws -> (version: UInt32, position: LogPosition)? {
        let store = current.withLock { $0 }
        return try store.environment.withReadTransaction { txn in try store.storedCheckpoint(projector, txn) }
    }

    /// The oldest position every projector has applied.
    public func appliedPosition() throws -> LogPosition {
        try current.withLock { $0 }.oldestCheckpoint(projectors)
    }

    // MARK: Rebuild and verify

    /// Switches to the views in `directory` (a rebuild of the same projectors) at the start
    /// of the writer's next batch: it catches them up with the log first, so the switch
    /// loses nothing. Readers move to them with their next read; the old environment
    /// closes when its last reader is done.
    public func swap(to directory: String) {
        pendingSwap.withLock { $0 = directory }
    }

    /// Folds the log that `reader` sees, through `last` (its head when nil), into the views
    /// in `directory` for `projectors` (fresh ones, or ones a previous build left, which it
    /// continues), and returns how many events it read.
    @discardableResult
    public static func build(
        directory: String,
        projectors: [any Projector],
        from reader: some EventScanner,
        through last: LogPosition? = nil,
        initialMapSize: Int = 1 << 30,
        progress: ((LogPosition) -> Void)? = nil
    ) throws -> Int {
        let store = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
        let read = try store.catchUp(projectors, from: reader, through: last, progress: progress)
        // Views are written without sync; a build that is about to be published must be
        // whole on disk first.
        try store.environment.sync()
        return read
    }

    /// Writes into the empty `directory` a copy of these views in which the projectors named
    /// in `refolding` start again from the first event; ``build(directory:projectors:from:through:initialMapSize:progress:)``
    /// then folds those from scratch and brings the others forward from their checkpoints.
    public func copy(to directory: String, refolding: Set<String>) throws {
        for name in refolding where !projectors.contains(where: { $0.name == name }) {
            throw ViewError("no projector named '\(name)'")
        }
        try current.withLock { $0 }.copy(to: directory)
        let copy = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
        for name in refolding { try copy.reset(name) }
    }

    /// Compares the live views with the views in `directory`, key by key, for every database
    /// of the projectors. Returns the position the live views had applied in the snapshot
    /// compared, and up to `limit` differences (none: identical).
    public func differences(from directory: String, limit: Int = 10) throws -> (position: LogPosition, differences: [ViewDifference]) {
        let other = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
        return try current.withLock { $0 }.differences(from: other, projectors: projectors, limit: limit)
    }

    // MARK: BatchParticipant

    public func catchUp(_ reader: some EventScanner) throws {
        try current.withLock { $0 }.catchUp(projectors, from: reader)
    }

    public func beginBatch(_ scope: BatchScope, _ log: some EventScanner) throws {
        if let directory = pendingSwap.withLock({ pending in
            defer { pending = nil }
            return pending
        }) {
            switchViews(to: directory, log)
        }
        let store = current.withLock { $0 }
        if mapFull {
            try store.grow()
            mapFull = false
        }
        if behindLog {
            try store.catchUp(projectors, from: log)
            behindLog = false
            logger.notice("views caught up after a failed commit")
        }
        readerSweep.afterBatch(store.environment)
        let owner = try store.environment.beginWriteTransaction()
        let transaction = owner.transaction
        batchTransaction = consume owner
        let views = projectors.map { store.view($0.name, transaction, writable: true) }
        openBatch.withLock { $0 = OpenBatch(store: store, transaction: transaction, scope: scope, views: views) }
        lastApplied = 0
    }

    /// Opens the rebuilt views, brings them to the log's head and makes them the live ones.
    /// A failure keeps the old views and is logged: the rebuild can be run again.
    private func switchViews(to directory: String, _ log: some EventScanner) {
        do {
            let store = try ViewsStore(directory: directory, projectors: projectors, initialMapSize: initialMapSize)
            let caughtUp = try store.catchUp(projectors, from: log)
            let previous = current.withLock { live in
                defer { live = store }
                return live.directory
            }
            logger.notice("views switched", metadata: ["from": "\(previous)", "to": "\(directory)", "caughtUp": "\(caughtUp)"])
        } catch {
            logger.error("could not switch to the rebuilt views", metadata: ["directory": "\(directory)", "error": "\(error)"])
        }
    }

    public func apply(_ record: EventView) throws {
        guard let batch = openBatch.withLock({ $0 }) else { throw ViewError("apply outside a batch") }
        do {
            let type = record.typeBytes
            for index in projectors.indices where routing.wants(index, type) {
                try projectors[index].apply(record, to: batch.views[index])
            }
        } catch let error as LMDBError where error.isMapFull {
            mapFull = true
            throw BatchRetryRequest(reason: "the views map is full; it grows and the batch is written again")
        }
        lastApplied = record.position
    }

    public func commitBatch() throws {
        guard let batch = openBatch.withLock({ $0 }) else { return }
        let (store, txn) = (batch.store, batch.transaction)
        endBatch()
        guard let owner = batchTransaction.take() else { return }
        do {
            if lastApplied > 0 {
                for projector in projectors { try store.storeCheckpoint(projector, position: lastApplied, txn) }
            }
            if failNextCommit.exchange(false, ordering: .relaxed) {
                throw ViewError("injected views commit failure")
            }
        } catch {
            owner.abort()
            behindLog = true
            throw error
        }
        do {
            try owner.commit()
        } catch {
            behindLog = true
            throw error
        }
    }

    public func abortBatch() {
        endBatch()
        // Dropping the transaction aborts it.
        batchTransaction = nil
    }

    private func endBatch() {
        openBatch.withLock { $0 = nil }
    }
}
