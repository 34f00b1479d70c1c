#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A global position in the log: 1 is the first event, and positions are contiguous.
/// Position 0 means "before the first event" (the head of an empty log).
public typealias LogPosition = UInt64

/// A point in time, in whole microseconds since 1970-01-01T00:00:00Z (UTC).
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    public var microsecondsSince1970: Int64

    /// Creates a timestamp from microseconds since the Unix epoch.
    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// Creates a timestamp from a `Date`, truncated to the microsecond.
    public init(_ date: Date) {
        self.microsecondsSince1970 = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    /// The wall clock now.
    public static func now() -> Timestamp { Timestamp(Date()) }

    /// The same instant as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(microsecondsSince1970) / 1_000_000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    public var description: String { date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)) }
}

/// What a writer expects a stream's version to be before its batch is appended.
///
/// A stream's version is the number of events in it: 0 before its first event, and the
/// version of an event is the stream's version right after it.
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must have no event yet.
    case noStream
    /// The stream's current version must be exactly this (0 is the same as ``noStream``).
    case exactly(UInt64)

    /// Whether a stream at `actual` satisfies this expectation.
    public func isSatisfied(by actual: UInt64) -> Bool {
        switch self {
        case .any: true
        case .noStream: actual == 0
        case .exactly(let version): actual == version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exactly(let version): "version \(version)"
        }
    }
}

/// An event to append. The payload is opaque to the log.
public struct ProposedEvent: Sendable, Hashable {
    /// The event's type name, e.g. `session.started`; 1 to 255 UTF-8 bytes.
    public var type: String
    /// The stream it belongs to, e.g. `user-session/42`; 1 to ``EventLogLimits/maxStreamBytes`` UTF-8 bytes.
    public var stream: String
    /// The encoded event body.
    public var payload: [UInt8]
    /// A unique id; the log makes one (a UUIDv7) when it is nil.
    public var eventID: UUID?
    /// When the event happened on the client, if known.
    public var occurredAt: Timestamp?
    /// The id of the request or conversation this event belongs to.
    public var correlationID: UUID?
    /// The id of the event or command that caused this one.
    public var causationID: UUID?
    /// Who caused the event (a user id), empty when unknown; at most ``EventLogLimits/maxActorBytes``.
    public var actor: String
    /// Only for imports: the recorded-at time to keep. It must not be earlier than the
    /// last recorded-at in the log; normally nil, and the log stamps its own clock.
    public var recordedAt: Timestamp?

    /// Creates an event to append.
    public init(
        type: String,
        stream: String,
        payload: [UInt8],
        eventID: UUID? = nil,
        occurredAt: Timestamp? = nil,
        correlationID: UUID? = nil,
        causationID: UUID? = nil,
        actor: String = "",
        recordedAt: Timestamp? = nil
    ) {
        self.type = type
        self.stream = stream
        self.payload = payload
        self.eventID = eventID
        self.occurredAt = occurredAt
        self.correlationID = correlationID
        self.causationID = causationID
        self.actor = actor
        self.recordedAt = recordedAt
    }
}

/// A batch of events for one or more streams, appended atomically: all of it or none.
public struct AppendRequest: Sendable, Hashable {
    /// The events, in the order they are to be stored.
    public var events: [ProposedEvent]
    /// Expected versions per stream, checked before anything is written. A stream that
    /// is not named here is appended to whatever its version. Streams are keyed by their
    /// bytes, as the log stores them (a string literal makes a key).
    public var expectations: [UTF8Key: ExpectedVersion]
    /// When set, a retry with the same key returns the first append's positions and
    /// writes nothing. At most ``EventLogLimits/maxIdempotencyKeyBytes`` UTF-8 bytes.
    public var idempotencyKey: String?

    /// Creates a request.
    public init(events: [ProposedEvent], expectations: [UTF8Key: ExpectedVersion] = [:], idempotencyKey: String? = nil) {
        self.events = events
        self.expectations = expectations
        self.idempotencyKey = idempotencyKey
    }

    /// A request for one stream with one expectation.
    public init(stream: String, expecting expected: ExpectedVersion, events: [ProposedEvent], idempotencyKey: String? = nil) {
        self.init(events: events, expectations: [UTF8Key(stream): expected], idempotencyKey: idempotencyKey)
    }
}

extension AppendRequest {
    /// Checks the request against ``EventLogLimits`` and returns its approximate size in
    /// bytes. Every log runs it before anything else, so the rules are one set everywhere.
    ///
    /// - Throws: ``EventLogError`` with ``EventLogError/Code/invalidRequest`` naming the field.
    public func validate() throws -> Int {
        let request = self
        guard !request.events.isEmpty else { throw EventLogError(.invalidRequest, "an append needs at least one event") }
        if let key = request.idempotencyKey {
            guard (1...EventLogLimits.maxIdempotencyKeyBytes).contains(key.utf8.count) else {
                throw EventLogError(.invalidRequest, "idempotencyKey must be 1 to \(EventLogLimits.maxIdempotencyKeyBytes) bytes")
            }
        }
        for stream in request.expectations.keys where !(1...EventLogLimits.maxStreamBytes).contains(stream.string.utf8.count) {
            throw EventLogError(.invalidRequest, "expectations: stream ids must be 1 to \(EventLogLimits.maxStreamBytes) bytes")
        }
        // Each field is read where the array keeps it: no copy of the event per check.
        return try request.events.withUnsafeBufferPointer { events in
            var bytes = 0
            for index in events.indices {
                let type = events[index].type.utf8.count
                let stream = events[index].stream.utf8.count
                let actor = events[index].actor.utf8.count
                let payload = events[index].payload.count
                guard (1...EventLogLimits.maxTypeBytes).contains(type) else {
                    throw EventLogError(.invalidRequest, "events[\(index)].type must be 1 to \(EventLogLimits.maxTypeBytes) bytes")
                }
                guard (1...EventLogLimits.maxStreamBytes).contains(stream) else {
                    throw EventLogError(.invalidRequest, "events[\(index)].stream must be 1 to \(EventLogLimits.maxStreamBytes) bytes")
                }
                guard actor <= EventLogLimits.maxActorBytes else {
                    throw EventLogError(.invalidRequest, "events[\(index)].actor must be at most \(EventLogLimits.maxActorBytes) bytes")
                }
                guard payload <= EventLogLimits.maxPayloadBytes else {
                    throw EventLogError(.invalidRequest, "events[\(index)].payload must be at most \(EventLogLimits.maxPayloadBytes) bytes")
                }
                bytes += 128 + type + stream + actor + payload
            }
            return bytes
        }
    }
}

/// What an append did.
public struct AppendResult: Sendable, Hashable {
    /// The global positions of the batch's events, in request order (contiguous).
    public var positions: ClosedRange<LogPosition>
    /// True when the idempotency key was already stored and nothing was written.
    public var deduplicated: Bool
    /// The recorded-at time of the request's last event; nil when it was deduplicated.
    public var recordedAt: Timestamp?

    /// Creates a result.
    public init(positions: ClosedRange<LogPosition>, deduplicated: Bool, recordedAt: Timestamp? = nil) {
        self.positions = positions
        self.deduplicated = deduplicated
        self.recordedAt = recordedAt
    }
}

/// Which way to read.
public enum ReadDirection: Sendable, Hashable {
    /// Oldest first.
    case forward
    /// Newest first.
    case backward
}

/// A stream's length and where its newest event is.
public struct StreamInfo: Sendable, Hashable {
    /// The number of events in the stream, which is also its current version (0: no stream).
    public var version: UInt64
    /// The global position of its newest event, nil when the stream has none.
    public var lastPosition: LogPosition?

    /// Creates a stream's info.
    public init(version: UInt64, lastPosition: LogPosition?) {
        self.version = version
        self.lastPosition = lastPosition
    }
}

/// A stored event, copied out of the log. For scans that must not copy, see ``EventRecord``.
public struct RecordedEvent: Sendable, Hashable {
    /// Its global position.
    public var position: LogPosition
    /// Its type name.
    public var type: String
    /// Its stream.
    public var stream: String
    /// Its version in the stream (1 for the stream's first event).
    public var streamVersion: UInt64
    /// When the log stored it (never earlier than the event before it).
    public var recordedAt: Timestamp
    /// When it happened on the client, if known.
    public var occurredAt: Timestamp?
    /// Its unique id.
    public var eventID: UUID
    /// See ``ProposedEvent/correlationID``.
    public var correlationID: UUID?
    /// See ``ProposedEvent/causationID``.
    public var causationID: UUID?
    /// See ``ProposedEvent/actor``.
    public var actor: String
    /// The encoded body.
    public var payload: [UInt8]

    /// Creates a stored event (a log hands these out; tests make their own).
    public init(
        position: LogPosition,
        type: String,
        stream: String,
        streamVersion: UInt64,
        recordedAt: Timestamp,
        occurredAt: Timestamp?,
        eventID: UUID,
        correlationID: UUID?,
        causationID: UUID?,
        actor: String,
        payload: [UInt8]
    ) {
        self.position = position
        self.type = type
        self.stream = stream
        self.streamVersion = streamVersion
        self.recordedAt = recordedAt
        self.occurredAt = occurredAt
        self.eventID = eventID
        self.correlationID = correlationID
        self.causationID = causationID
        self.actor = actor
        self.payload = payload
    }

    /// `proposed` as a log stores it at `position`, the `streamVersion`-th event of its
    /// stream, recorded at `recordedAt`; without an event id of its own it gets a new one.
    public init(_ proposed: ProposedEvent, position: LogPosition, streamVersion: UInt64, recordedAt: Timestamp) {
        self.init(
            position: position,
            type: proposed.type,
            stream: proposed.stream,
            streamVersion: streamVersion,
            recordedAt: recordedAt,
            occurredAt: proposed.occurredAt,
            eventID: proposed.eventID ?? UUID(),
            correlationID: proposed.correlationID,
            causationID: proposed.causationID,
            actor: proposed.actor,
            payload: proposed.payload
        )
    }
}

/// Size limits enforced on every append.
public enum EventLogLimits {
    /// Longest event type name, in UTF-8 bytes.
    public static let maxTypeBytes = 255
    /// Longest stream id, in UTF-8 bytes (LMDB keys are at most 511 bytes).
    public static let maxStreamBytes = 400
    /// Longest actor, in UTF-8 bytes.
    public static let maxActorBytes = 1024
    /// Longest idempotency key, in UTF-8 bytes.
    public static let maxIdempotencyKeyBytes = 400
    /// Largest payload of one event.
    public static let maxPayloadBytes = 16 << 20
}
