/// What Playhead needs of an event log, whatever keeps it: the embedded LMDB log
/// (`LMDBEventLog`, module LMDBLog), the in-memory log of unit tests
/// (``InMemoryEventStore``), and a PostgreSQL log serving several API nodes later.
///
/// The promises every implementation keeps:
/// - **Atomic, durable appends.** A batch is written whole or not at all, and answered only
///   once it is durable (fsynced, or committed by the database).
/// - **Positions.** Every event gets a global position; positions start at 1, are
///   contiguous (no gaps) and follow commit order: a reader that has seen position `p` has
///   seen every position below it, and no event is ever given a position below one that a
///   reader has already seen. The head of an empty log is 0.
/// - **Time.** Recorded-at times never decrease along the log.
/// - **Streams.** A stream's version is its event count; the `n`th event of a stream has
///   stream version `n`. Expected versions are checked against it before anything is written
///   (``WrongExpectedVersionError``).
/// - **Idempotency.** A retried request with a stored idempotency key writes nothing and
///   answers the first append's positions.
/// - **Subscriptions** yield every event from their start position exactly once, in order,
///   then each new one after it is committed.
public protocol EventStore: Sendable {
    /// The live sequence ``subscribe(from:)`` returns.
    associatedtype Subscription: AsyncSequence<RecordedEvent, any Error> & Sendable

    /// Appends a batch atomically and answers once it is durable.
    ///
    /// - Throws: ``WrongExpectedVersionError`` when an expectation fails (nothing written);
    ///   ``EventLogError`` with ``EventLogError/Code/invalidRequest`` (a limit of
    ///   ``EventLogLimits`` broken), ``EventLogError/Code/recordedAtWentBack``,
    ///   ``EventLogError/Code/overloaded``, ``EventLogError/Code/storage`` or
    ///   ``EventLogError/Code/closed``.
    func append(_ request: AppendRequest) async throws -> AppendResult
    /// The newest committed position (0 when empty).
    func currentHead() async throws -> LogPosition
    /// Up to `limit` events from `position` (inclusive) in `direction`.
    func events(from position: LogPosition, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent]
    /// Up to `limit` events of `stream` from `version` (inclusive) in `direction`.
    func events(inStream stream: String, from version: UInt64, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent]
    /// The stream's version and newest position.
    func info(ofStream stream: String) async throws -> StreamInfo
    /// Every event from `position` on, then each new one as it is committed.
    func subscribe(from position: LogPosition) -> Subscription
}

/// A log that decides commands inside its own write batches: a decider reads the state the
/// batch's earlier submissions left in the log's ``BatchParticipant`` (through the
/// ``BatchScope`` it is handed) and returns what to append. Decisions are serialised with
/// the writes they depend on, so a decider never races another one.
public protocol DecidingEventStore: EventStore {
    /// Appends what `decide` returns, deciding it inside a batch; answers after the durable
    /// commit with the append's result (nil when the decider appended nothing; the caller is
    /// still answered after the batch's commit, so it never sees state that is not durable)
    /// and the decider's value.
    ///
    /// - Throws: whatever `decide` throws (nothing is written), and everything
    ///   ``EventStore/append(_:)`` throws.
    func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision)
}
