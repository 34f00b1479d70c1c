public import EventLog

extension LMDBEventLog: DecidingEventStore {
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
