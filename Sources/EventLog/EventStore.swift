/// What Playhead needs of an event log, whatever keeps it: the embedded LMDB log
/// (``LMDBEventLog``) today, a PostgreSQL-backed log serving several API nodes later.
///
/// The contract every implementation keeps: an append is atomic and answered only once
/// durable; positions are global, contiguous and start at 1; recorded-at times never
/// decrease along the log; a stream's version is its event count; a subscription yields
/// every event from its start position exactly once, in order.
public protocol EventStore: Sendable {
    /// The live sequence ``subscribe(from:)`` returns.
    associatedtype Subscription: AsyncSequence<RecordedEvent, any Error> & Sendable

    /// Appends a batch atomically; see ``LMDBEventLog/append(_:)`` for the errors.
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

extension LMDBEventLog: EventStore {
    /// The committed head; see ``EventStore/currentHead()``.
    public func currentHead() async throws -> LogPosition { try head }

    /// Copies of events from a global position; see ``read(from:direction:limit:)``.
    public func events(from position: LogPosition, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try read(from: position, direction: direction, limit: limit)
    }

    /// Copies of one stream's events; see ``readStream(_:from:direction:limit:)``.
    public func events(inStream stream: String, from version: UInt64, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try readStream(stream, from: version, direction: direction, limit: limit)
    }

    /// The stream's version and newest position; see ``streamInfo(_:)``.
    public func info(ofStream stream: String) async throws -> StreamInfo { try streamInfo(stream) }

    /// A subscription reading 1,024 events at a time; see ``subscribe(from:chunkSize:)``.
    public func subscribe(from position: LogPosition) -> LogSubscription { subscribe(from: position, chunkSize: 1024) }
}
