/// Takes part in every batch a deciding log commits: the inline projections, whose read
/// models command deciders read and that must hold exactly what the log holds.
///
/// Every method runs on the log's writer, one batch at a time, so an implementation may
/// keep a write transaction of its own open from ``beginBatch(_:_:)`` to ``commitBatch()``
/// or ``abortBatch()`` (LMDB transactions stay on the thread that opened them).
public protocol BatchParticipant: AnyObject, Sendable {
    /// Called once, before the writer serves its first batch: apply every event the
    /// participant has not seen yet (from its own checkpoint to the head of `log`).
    func catchUp(_ log: some EventScanner) throws

    /// Batch `scope` begins; its submissions are decided and written next. `log` reads the
    /// log as of the batch's start, valid only during this call.
    func beginBatch(_ scope: BatchScope, _ log: some EventScanner) throws

    /// One event the batch has just written, in log order. Called before the next
    /// submission is decided, so a decider sees it. Throwing fails the whole batch.
    func apply(_ event: EventView) throws

    /// The log has durably committed the batch: make its effects permanent. The log can't
    /// be undone at this point; a participant that fails here must catch up on its next start.
    func commitBatch() throws

    /// The batch was not committed (or will be written again): forget everything since
    /// ``beginBatch(_:_:)``.
    func abortBatch()
}

/// The batch a decider runs in: handed by a ``DecidingEventStore`` to each decider, and
/// shown by the decider to the participant (``BatchParticipant``) to read the batch's state.
/// A scope names one batch; once that batch has ended, the participant refuses it.
public struct BatchScope: Sendable, Hashable {
    /// The batch's number, counted by the writer from 1.
    public let batch: UInt64

    /// Made by a log's writer only.
    package init(batch: UInt64) { self.batch = batch }

    /// No batch (number 0): a decider handed it reads the committed views. A log whose
    /// views take no part in its batches hands it (a node's first decision of a command).
    public static let outsideBatch = BatchScope(batch: 0)
}

/// Thrown by a participant when the batch must be written again (for example after its
/// own map filled up: it grows the map in ``BatchParticipant/abortBatch()``). The writer
/// aborts the batch and writes it again, up to ``maxAttempts`` times in all.
public struct BatchRetryRequest: Error, Hashable, CustomStringConvertible {
    /// Why the batch is written again.
    public var reason: String
    /// How many times the writer writes one batch at most.
    public static let maxAttempts = 4

    /// Creates a retry request.
    public init(reason: String) { self.reason = reason }

    public var description: String { "the batch must be written again: \(reason)" }
}
