/// A store-neutral, zero-copy view of one recorded event: what projectors fold.
///
/// The LMDB log hands out views that point into its memory map, valid only during the call
/// that receives them; an in-memory log or a copied ``RecordedEvent`` hands out views of
/// its own buffers (``RecordedEvent/withView(_:)``). Keep nothing of it beyond the call:
/// copy what you need (`Array(view.payload)`, ``type``).
public struct EventView {
    /// Its global position.
    public let position: LogPosition
    /// Its version in its stream (1 for the stream's first event).
    public let streamVersion: UInt64
    /// When the log stored it.
    public let recordedAt: Timestamp
    /// When it happened on the client, if the writer said.
    public let occurredAt: Timestamp?
    /// The type name's UTF-8 bytes.
    public let typeBytes: UnsafeRawBufferPointer
    /// The stream id's UTF-8 bytes.
    public let streamBytes: UnsafeRawBufferPointer
    /// The actor's UTF-8 bytes (empty when unknown).
    public let actorBytes: UnsafeRawBufferPointer
    /// The encoded body.
    public let payload: UnsafeRawBufferPointer

    /// Creates a view of bytes that stay valid while the view is used.
    @inlinable
    public init(
        position: LogPosition,
        streamVersion: UInt64,
        recordedAt: Timestamp,
        occurredAt: Timestamp?,
        typeBytes: UnsafeRawBufferPointer,
        streamBytes: UnsafeRawBufferPointer,
        actorBytes: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer
    ) {
        self.position = position
        self.streamVersion = streamVersion
        self.recordedAt = recordedAt
        self.occurredAt = occurredAt
        self.typeBytes = typeBytes
        self.streamBytes = streamBytes
        self.actorBytes = actorBytes
        self.payload = payload
    }

    /// The type name.
    public var type: String { String(decoding: typeBytes, as: UTF8.self) }
    /// The stream id.
    public var stream: String { String(decoding: streamBytes, as: UTF8.self) }
    /// The actor.
    public var actor: String { String(decoding: actorBytes, as: UTF8.self) }
}

extension RecordedEvent {
    /// Runs `body` with a view of this event's own storage.
    public func withView<T>(_ body: (EventView) throws -> T) rethrows -> T {
        var type = type
        var stream = stream
        var actor = actor
        return try type.withUTF8 { type in
            try stream.withUTF8 { stream in
                try actor.withUTF8 { actor in
                    try payload.withUnsafeBytes { payload in
                        try body(
                            EventView(
                                position: position,
                                streamVersion: streamVersion,
                                recordedAt: recordedAt,
                                occurredAt: occurredAt,
                                typeBytes: UnsafeRawBufferPointer(type),
                                streamBytes: UnsafeRawBufferPointer(stream),
                                actorBytes: UnsafeRawBufferPointer(actor),
                                payload: payload
                            )
                        )
                    }
                }
            }
        }
    }
}

/// Reads a log's events in one consistent snapshot without copying them: what catch-up,
/// rebuild and verify fold. Exists only inside the call that hands it out.
public protocol EventScanner {
    /// The newest position in this snapshot (0 when the log is empty).
    func head() throws -> LogPosition
    /// Calls `visit` with each event from `position` (inclusive) in log order until it
    /// returns false or the snapshot ends; returns how many it visited. A damaged event
    /// throws instead of being skipped.
    @discardableResult
    func scan(from position: LogPosition, _ visit: (EventView) throws -> Bool) throws -> Int
}

/// An ``EventScanner`` over recorded events held in memory, consecutive from the first one's
/// position: the in-memory log's snapshot, or a chunk a node read from its PostgreSQL log.
public struct RecordedEventsScanner: EventScanner {
    /// The events, in position order without a gap.
    public let events: [RecordedEvent]
    private let first: LogPosition

    /// A scanner over `events`, which hold the positions from `events[0].position` on (1 when
    /// empty).
    public init(_ events: [RecordedEvent]) {
        self.events = events
        self.first = events.first?.position ?? 1
    }

    public func head() throws -> LogPosition { events.last?.position ?? first - 1 }

    /// Visits the events from `position` on; a position before the first one held is an
    /// `EventLogError` (`invalidRequest`): the caller asked for events it did not read.
    public func scan(from position: LogPosition, _ visit: (EventView) throws -> Bool) throws -> Int {
        let start = max(position, 1)
        guard start >= first else {
            throw EventLogError(.invalidRequest, "the scanner holds positions from \(first); \(start) was asked for")
        }
        var visited = 0
        for event in events.dropFirst(Int(start - first)) {
            visited += 1
            guard try event.withView(visit) else { break }
        }
        return visited
    }
}
