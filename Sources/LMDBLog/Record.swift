import CCRC32C
public import EventLog
import LMDBKit

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The stored form of one event (format version 1), little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | format version (1) |
/// | 1 | 1 | flags: 1 occurred-at, 2 correlation id, 4 causation id |
/// | 2 | 2 | type length |
/// | 4 | 2 | stream length |
/// | 6 | 2 | actor length |
/// | 8 | 4 | payload length |
/// | 12 | 8 | stream version |
/// | 20 | 8 | previous position of the same stream (0: none) |
/// | 28 | 8 | recorded-at, microseconds since 1970 |
/// | 36 | 16 | event id |
/// | 52 | 8, 16, 16 | occurred-at, correlation id, causation id, each only when flagged |
/// | … | … | type, stream, actor, payload bytes |
/// | end-4 | 4 | CRC-32C of every byte before it |
enum RecordLayout {
    static let formatVersion: UInt8 = 1
    static let fixedHeaderSize = 52
    static let checksumSize = 4

    static let hasOccurredAt: UInt8 = 1
    static let hasCorrelationID: UInt8 = 2
    static let hasCausationID: UInt8 = 4
    static let knownFlags: UInt8 = 7

    static func optionalFieldsSize(flags: UInt8) -> Int {
        (flags & hasOccurredAt != 0 ? 8 : 0) + (flags & hasCorrelationID != 0 ? 16 : 0) + (flags & hasCausationID != 0 ? 16 : 0)
    }
}

/// Encodes records straight into the page LMDB reserves for them: the writer's work for
/// every event, so it reads the event's fields where the request keeps them (no copy of
/// the event, no reference counting of its strings) and writes each byte once.
enum RecordEncoding {
    /// The flags byte of `event`.
    @inline(__always)
    static func flags(of event: UnsafePointer<ProposedEvent>) -> UInt8 {
        var flags: UInt8 = 0
        if event.pointee.occurredAt != nil { flags |= RecordLayout.hasOccurredAt }
        if event.pointee.correlationID != nil { flags |= RecordLayout.hasCorrelationID }
        if event.pointee.causationID != nil { flags |= RecordLayout.hasCausationID }
        return flags
    }

    /// The stored size of `event`, whose stream id is `streamCount` bytes.
    @inline(__always)
    static func size(of event: UnsafePointer<ProposedEvent>, flags: UInt8, streamCount: Int) -> Int {
        RecordLayout.fixedHeaderSize + RecordLayout.optionalFieldsSize(flags: flags) + event.pointee.type.utf8.count + streamCount
            + event.pointee.actor.utf8.count + event.pointee.payload.count + RecordLayout.checksumSize
    }

    /// Encodes `event` into `buffer`, which must be exactly ``size(of:flags:streamCount:)``
    /// bytes. `stream` holds the stream id's UTF-8 bytes and `eventID` the id's 16 bytes as
    /// two words in memory order.
    @inline(__always)
    static func encode(
        _ event: UnsafePointer<ProposedEvent>,
        flags: UInt8,
        stream: UnsafeRawBufferPointer,
        eventID: (UInt64, UInt64),
        streamVersion: UInt64,
        previousPosition: LogPosition,
        recordedAt: Int64,
        into buffer: UnsafeMutableRawBufferPointer
    ) {
        guard let base = buffer.baseAddress else { preconditionFailure("a record has at least a header") }
        let payloadCount = event.pointee.payload.count
        base.storeBytes(of: RecordLayout.formatVersion, toByteOffset: 0, as: UInt8.self)
        base.storeBytes(of: flags, toByteOffset: 1, as: UInt8.self)
        base.storeBytes(of: UInt16(truncatingIfNeeded: event.pointee.type.utf8.count).littleEndian, toByteOffset: 2, as: UInt16.self)
        base.storeBytes(of: UInt16(truncatingIfNeeded: stream.count).littleEndian, toByteOffset: 4, as: UInt16.self)
        base.storeBytes(of: UInt16(truncatingIfNeeded: event.pointee.actor.utf8.count).littleEndian, toByteOffset: 6, as: UInt16.self)
        base.storeBytes(of: UInt32(truncatingIfNeeded: payloadCount).littleEndian, toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: streamVersion.littleEndian, toByteOffset: 12, as: UInt64.self)
        base.storeBytes(of: previousPosition.littleEndian, toByteOffset: 20, as: UInt64.self)
        base.storeBytes(of: recordedAt.littleEndian, toByteOffset: 28, as: Int64.self)
        base.storeBytes(of: eventID.0, toByteOffset: 36, as: UInt64.self)
        base.storeBytes(of: eventID.1, toByteOffset: 44, as: UInt64.self)
        var offset = RecordLayout.fixedHeaderSize
        if flags != 0 {
            if let occurredAt = event.pointee.occurredAt {
                base.storeBytes(of: occurredAt.microsecondsSince1970.littleEndian, toByteOffset: offset, as: Int64.self)
                offset += 8
            }
            if let correlationID = event.pointee.correlationID {
                withUnsafeBytes(of: correlationID.uuid) { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: 16) }
                offset += 16
            }
            if let causationID = event.pointee.causationID {
                withUnsafeBytes(of: causationID.uuid) { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: 16) }
                offset += 16
            }
        }
        withUTF8Bytes(event.pointee.type) { offset = copy($0, to: base, at: offset) }
        offset = copy(stream, to: base, at: offset)
        withUTF8Bytes(event.pointee.actor) { offset = copy($0, to: base, at: offset) }
        event.pointee.payload.withUnsafeBytes { offset = copy($0, to: base, at: offset) }
        precondition(offset + RecordLayout.checksumSize == buffer.count, "the record's size was computed from other fields")
        let crc = playhead_crc32c_extend(0, base, offset)
        base.storeBytes(of: crc.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// The 16 bytes of `id`, as two words in memory order.
    @inline(__always)
    static func words(of id: UUID) -> (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }

    /// Copies `bytes` to `base + offset` and returns the offset after them. Ids and type
    /// names are a few words: copied in line, where a call to `memmove` cost more.
    @inline(__always)
    private static func copy(_ bytes: UnsafeRawBufferPointer, to base: UnsafeMutableRawPointer, at offset: Int) -> Int {
        let count = bytes.count
        guard let source = bytes.baseAddress, count > 0 else { return offset }
        let target = base + offset
        if count > 16 {
            target.copyMemory(from: source, byteCount: count)
        } else if count >= 8 {
            let (head, tail) = (source.loadUnaligned(as: UInt64.self), source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
            target.storeBytes(of: head, as: UInt64.self)
            target.storeBytes(of: tail, toByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 {
            let (head, tail) = (source.loadUnaligned(as: UInt32.self), source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: count - 4, as: UInt32.self)
        } else {
            for index in 0..<count { target.storeBytes(of: source.load(fromByteOffset: index, as: UInt8.self), toByteOffset: index, as: UInt8.self) }
        }
        return offset + count
    }
}

/// A zero-copy view of one stored event, valid only inside the read transaction (the
/// closure) that produced it: it points into LMDB's memory map. Fields are decoded only
/// when asked for. Use ``copy()`` to keep an event beyond the closure.
public struct EventRecord {
    /// The event's global position.
    public let position: LogPosition
    /// The whole stored record, header, payload and checksum.
    public let bytes: UnsafeRawBufferPointer

    // Offsets parsed once by `init`, so that each accessor is a load and no re-parse.
    @usableFromInline let typeStart: Int
    @usableFromInline let streamStart: Int
    @usableFromInline let actorStart: Int
    @usableFromInline let payloadStart: Int
    @usableFromInline let payloadEnd: Int

    /// Wraps stored bytes after checking them: that the header's lengths fit in them, then
    /// the CRC-32C. This is the one way records are read from the log (folds, exports, tails,
    /// subscriptions, stream reads), so no reader ever sees a damaged record: it gets a
    /// ``RecordFormatError`` naming the position instead, and nothing is read out of bounds.
    init(position: LogPosition, bytes: UnsafeRawBufferPointer) throws(RecordFormatError) {
        try self.init(position: position, bytes: bytes, verifyingChecksum: true)
    }

    /// Wraps a record the writer has just encoded, in its own transaction: its lengths and
    /// checksum are right by construction, so only the offsets are parsed.
    init(justWritten position: LogPosition, bytes: UnsafeRawBufferPointer) throws(RecordFormatError) {
        try self.init(position: position, bytes: bytes, verifyingChecksum: false)
    }

    private init(position: LogPosition, bytes: UnsafeRawBufferPointer, verifyingChecksum: Bool) throws(RecordFormatError) {
        guard bytes.count >= RecordLayout.fixedHeaderSize + RecordLayout.checksumSize else {
            throw RecordFormatError(position: position, reason: "record of \(bytes.count) bytes is shorter than a header")
        }
        let version = bytes[0]
        guard version == RecordLayout.formatVersion else {
            throw RecordFormatError(position: position, reason: "unknown record format version \(version)")
        }
        let flags = bytes[1]
        guard flags & ~RecordLayout.knownFlags == 0 else {
            throw RecordFormatError(position: position, reason: "unknown record flags \(flags)")
        }
        typeStart = RecordLayout.fixedHeaderSize + RecordLayout.optionalFieldsSize(flags: flags)
        streamStart = typeStart + Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        actorStart = streamStart + Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        payloadStart = actorStart + Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        payloadEnd = payloadStart + Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        // Checked before the checksum, which reads every byte: a damaged size must not send
        // it past the record.
        guard payloadEnd + RecordLayout.checksumSize == bytes.count else {
            throw RecordFormatError(position: position, reason: "record lengths do not add up to its \(bytes.count) bytes")
        }
        self.position = position
        self.bytes = bytes
        if verifyingChecksum && !isChecksumValid {
            throw RecordFormatError(position: position, reason: RecordFormatError.checksumMismatch)
        }
    }

    @inlinable @inline(__always)
    func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A view of `start..<end`; `init` proved those offsets lie inside `bytes`.
    @inlinable @inline(__always)
    func view(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes.baseAddress.map { $0 + start }, count: end - start)
    }

    private var flags: UInt8 { bytes[1] }

    /// The record format version.
    public var formatVersion: UInt8 { bytes[0] }
    /// The event's version in its stream.
    @inlinable public var streamVersion: UInt64 { load(12, as: UInt64.self) }
    /// The position of the stream's previous event, 0 for its first.
    @inlinable public var previousPositionInStream: LogPosition { load(20, as: UInt64.self) }
    /// When the log stored it.
    @inlinable public var recordedAt: Timestamp { Timestamp(microsecondsSince1970: load(28, as: Int64.self)) }
    /// The event id.
    public var eventID: UUID { uuid(at: 36) }

    private var optionalOffset: Int { RecordLayout.fixedHeaderSize }

    /// When the event happened on the client, if the writer said.
    public var occurredAt: Timestamp? {
        guard flags & RecordLayout.hasOccurredAt != 0 else { return nil }
        return Timestamp(microsecondsSince1970: load(optionalOffset, as: Int64.self))
    }

    /// The correlation id, if any.
    public var correlationID: UUID? {
        guard flags & RecordLayout.hasCorrelationID != 0 else { return nil }
        return uuid(at: optionalOffset + (flags & RecordLayout.hasOccurredAt != 0 ? 8 : 0))
    }

    /// The causation id, if any.
    public var causationID: UUID? {
        guard flags & RecordLayout.hasCausationID != 0 else { return nil }
        let offset =
            optionalOffset + (flags & RecordLayout.hasOccurredAt != 0 ? 8 : 0) + (flags & RecordLayout.hasCorrelationID != 0 ? 16 : 0)
        return uuid(at: offset)
    }

    /// The type name's UTF-8 bytes, without decoding them.
    @inlinable public var typeBytes: UnsafeRawBufferPointer { view(typeStart, streamStart) }
    /// The stream id's UTF-8 bytes, without decoding them.
    @inlinable public var streamBytes: UnsafeRawBufferPointer { view(streamStart, actorStart) }
    /// The actor's UTF-8 bytes.
    @inlinable public var actorBytes: UnsafeRawBufferPointer { view(actorStart, payloadStart) }
    /// The payload, without copying it.
    @inlinable public var payload: UnsafeRawBufferPointer { view(payloadStart, payloadEnd) }

    /// The type name.
    public var type: String { String(decoding: typeBytes, as: UTF8.self) }
    /// The stream id.
    public var stream: String { String(decoding: streamBytes, as: UTF8.self) }
    /// The actor.
    public var actor: String { String(decoding: actorBytes, as: UTF8.self) }

    /// The checksum stored in the record.
    public var storedChecksum: UInt32 { load(bytes.count - RecordLayout.checksumSize, as: UInt32.self) }

    /// Whether the stored CRC-32C matches the record's bytes.
    public var isChecksumValid: Bool {
        playhead_crc32c_extend(0, bytes.baseAddress, bytes.count - RecordLayout.checksumSize) == storedChecksum
    }

    /// The store-neutral view projectors fold; it points into the same memory.
    @inlinable public var view: EventView {
        EventView(
            position: position,
            streamVersion: streamVersion,
            recordedAt: recordedAt,
            occurredAt: occurredAt,
            typeBytes: typeBytes,
            streamBytes: streamBytes,
            actorBytes: actorBytes,
            payload: payload
        )
    }

    /// Copies the event out of the memory map.
    public func copy() -> RecordedEvent {
        RecordedEvent(
            position: position,
            type: type,
            stream: stream,
            streamVersion: streamVersion,
            recordedAt: recordedAt,
            occurredAt: occurredAt,
            eventID: eventID,
            correlationID: correlationID,
            causationID: causationID,
            actor: actor,
            payload: Array(payload)
        )
    }

    private func uuid(at offset: Int) -> UUID {
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: view(offset, offset + 16)) }
        return UUID(uuid: value)
    }
}

/// A stored record that cannot be read: its checksum does not match or its header does not
/// parse. The log (or a copy of it) is damaged at ``position``; Docs/operations.md, "A
/// damaged log", says what to do.
public struct RecordFormatError: Error, Hashable, CustomStringConvertible {
    /// Where the damaged record is.
    public var position: LogPosition
    /// What is wrong with it.
    public var reason: String

    /// The reason given when a record's CRC-32C does not match its bytes.
    public static let checksumMismatch = "checksum mismatch: the record is damaged"

    public var description: String { "position \(position): \(reason)" }
}
