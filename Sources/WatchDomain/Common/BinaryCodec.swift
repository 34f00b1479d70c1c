public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Writes the compact binary form of domain events and read-model rows.
///
/// Fields are written in a fixed order with no names: unsigned integers as LEB128
/// varints, signed ones zig-zagged first, strings and byte strings prefixed with their
/// length, UUIDs as their 16 bytes, optionals behind a presence byte. A type gains a field
/// only at the end, so an older encoding is a prefix of the newer one (see ``BinaryReader/isAtEnd``).
public struct BinaryWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Starts an empty buffer with room for `capacity` bytes.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    public mutating func write(_ byte: UInt8) { bytes.append(byte) }

    /// Appends a boolean as one byte (0 or 1).
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Appends an unsigned integer as a LEB128 varint.
    public mutating func write(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Appends a signed integer, zig-zag encoded so that small magnitudes stay short.
    public mutating func write(_ value: Int64) {
        write(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Appends a timestamp (microseconds since 1970, zig-zag varint).
    public mutating func write(_ value: Timestamp) { write(value.microsecondsSince1970) }

    /// Appends an unsigned integer as 8 bytes, little-endian: for fields patched in place.
    public mutating func writeFixed(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a double as its 8 IEEE 754 bytes, little-endian.
    public mutating func write(_ value: Double) {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a UUID's 16 bytes.
    public mutating func write(_ value: UUID) {
        withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
    }

    /// Appends a string as its UTF-8 length and bytes.
    public mutating func write(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            write(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends a presence byte, then the value when there is one.
    public mutating func writeOptional<T>(_ value: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            body(&self, value)
        } else {
            bytes.append(0)
        }
    }
}

/// Reads what ``BinaryWriter`` wrote, checking every length against the bytes it has.
public struct BinaryReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    /// Reads `bytes`, which must stay valid while the reader is used.
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Whether every byte has been read: a field added after the encoding was written is
    /// absent, and its reader takes the default.
    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next byte.
    public mutating func readByte() throws(DomainCodecError) -> UInt8 {
        guard offset < bytes.count else { throw DomainCodecError("ends inside a field at byte \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A boolean byte (0 or 1).
    public mutating func readBool() throws(DomainCodecError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other: throw DomainCodecError("byte \(offset - 1) is \(other), not a boolean")
        }
    }

    /// A LEB128 varint.
    public mutating func readUInt() throws(DomainCodecError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 64 else { throw DomainCodecError("varint longer than 64 bits at byte \(offset)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A zig-zag varint.
    public mutating func readInt() throws(DomainCodecError) -> Int64 {
        let raw = try readUInt()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A timestamp.
    public mutating func readTimestamp() throws(DomainCodecError) -> Timestamp {
        Timestamp(microsecondsSince1970: try readInt())
    }

    /// An unsigned integer of 8 bytes, little-endian.
    public mutating func readFixedUInt64() throws(DomainCodecError) -> UInt64 {
        guard bytes.count - offset >= 8 else { throw DomainCodecError("ends inside a fixed integer at byte \(offset)") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A double.
    public mutating func readDouble() throws(DomainCodecError) -> Double {
        guard bytes.count - offset >= 8 else { throw DomainCodecError("ends inside a double at byte \(offset)") }
        defer { offset += 8 }
        return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }

    /// A UUID.
    public mutating func readUUID() throws(DomainCodecError) -> UUID {
        guard bytes.count - offset >= 16 else { throw DomainCodecError("ends inside a UUID at byte \(offset)") }
        defer { offset += 16 }
        return UUID(uuid: bytes.loadUnaligned(fromByteOffset: offset, as: uuid_t.self))
    }

    /// A length-prefixed UTF-8 string.
    public mutating func readString() throws(DomainCodecError) -> String {
        let length = try readUInt()
        guard length <= UInt64(bytes.count - offset) else {
            throw DomainCodecError("a string of \(length) bytes at byte \(offset) runs past the end")
        }
        let start = offset
        offset += Int(length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
    }

    /// A presence byte, then the value when present.
    public mutating func readOptional<T>(_ body: (inout BinaryReader) throws(DomainCodecError) -> T) throws(DomainCodecError) -> T? {
        try readBool() ? try body(&self) : nil
    }
}

/// Bytes that are not a valid encoding of what they were read as.
public struct DomainCodecError: Error, Hashable, CustomStringConvertible {
    /// What is wrong with them.
    public var reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
