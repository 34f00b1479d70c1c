public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pieces read-model keys are made of, chosen so that LMDB's byte order is the order
/// the queries want.
public enum ViewKey {
    /// A UUID's 16 bytes.
    public static func uuid(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid) { Array($0) } }

    /// The UUID in the last 16 bytes of `key`.
    public static func uuid(suffixOf key: [UInt8]) -> UUID {
        key.suffix(16).withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
    }

    /// A time as 8 bytes whose byte order is time order: microseconds since 1970 with the
    /// sign bit flipped, big-endian.
    public static func time(_ time: Timestamp) -> [UInt8] {
        bigEndian(UInt64(bitPattern: time.microsecondsSince1970) ^ (1 << 63))
    }

    /// A time as 8 bytes whose byte order is the reverse of time order: newest first.
    public static func newestFirst(_ time: Timestamp) -> [UInt8] {
        bigEndian(~(UInt64(bitPattern: time.microsecondsSince1970) ^ (1 << 63)))
    }

    /// The time ``time(_:)`` wrote at the start of `key`.
    public static func timestamp(prefixOf key: [UInt8]) -> Timestamp {
        Timestamp(microsecondsSince1970: Int64(bitPattern: integer(key.prefix(8)) ^ (1 << 63)))
    }

    /// An unsigned integer as 8 bytes, big-endian.
    public static func bigEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    /// The big-endian integer in `bytes` (at most 8 of them).
    public static func integer(_ bytes: some Collection<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

    /// A string as its UTF-8 length (2 bytes, big-endian) and bytes: a prefix that no other
    /// string's key starts with.
    public static func string(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [UInt8(truncatingIfNeeded: utf8.count >> 8), UInt8(truncatingIfNeeded: utf8.count)] + utf8
    }

    /// The string ``string(_:)`` wrote at `offset` in `key`, and the offset after it.
    public static func string(in key: [UInt8], at offset: Int) -> (String, Int)? {
        guard key.count >= offset + 2 else { return nil }
        let length = Int(key[offset]) << 8 | Int(key[offset + 1])
        let end = offset + 2 + length
        guard key.count >= end else { return nil }
        return (String(decoding: key[(offset + 2)..<end], as: UTF8.self), end)
    }

    /// Whether an event's type is exactly `name` (a length check, then one memcmp).
    package static func matches(_ type: UnsafeRawBufferPointer, _ name: [UInt8]) -> Bool {
        type.count == name.count && matches(type, prefixOf: name)
    }

    /// Whether an event's type starts with `prefix`.
    package static func matches(_ type: UnsafeRawBufferPointer, prefixOf prefix: [UInt8]) -> Bool {
        guard type.count >= prefix.count, let base = type.baseAddress else { return prefix.isEmpty }
        // Most types differ from a prefix in their first byte.
        guard let first = prefix.first else { return true }
        guard type[0] == first else { return false }
        return prefix.withUnsafeBytes { name in name.baseAddress.map { memcmp(base, $0, name.count) == 0 } ?? true }
    }
}
