#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A string that compares and hashes by its UTF-8 bytes, for ids used as keys.
///
/// Swift's `String` equality and hashing follow Unicode canonical equivalence: `"zo\u{EB}"`
/// (NFC) equals `"zoe\u{308}"` (NFD), and `"\u{212A}"` (KELVIN SIGN) equals `"K"`. Playhead's
/// ids are bytes everywhere else (LMDB keys, rights checks, routes), so two spellings are two
/// ids; a `Dictionary` or `Set` keyed by `String` would merge them. Key by `UTF8Key` instead.
public struct UTF8Key: Hashable, Sendable, CustomStringConvertible {
    /// The id.
    public let string: String

    /// The key of `string`.
    public init(_ string: String) { self.string = string }

    // Both on the writer's hot path (its stream cache): a length check and one memcmp, and
    // the bytes hashed in one call, where a walk of the UTF-8 views was 4 times slower than
    // `String`'s own lookup.
    public static func == (left: UTF8Key, right: UTF8Key) -> Bool {
        let (l, r) = (left.string.utf8, right.string.utf8)
        guard l.count == r.count else { return false }
        guard l.count > 0 else { return true }
        let equal = l.withContiguousStorageIfAvailable { lb in
            r.withContiguousStorageIfAvailable { rb in
                guard let lbase = lb.baseAddress, let rbase = rb.baseAddress else { return lb.count == rb.count }
                return memcmp(lbase, rbase, lb.count) == 0
            }
        }
        return (equal ?? nil) ?? l.elementsEqual(r)
    }

    public func hash(into hasher: inout Hasher) {
        // The same byte stream either way: `combine(bytes:)` feeds the hasher as the bytes one by one would.
        if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
    }

    public var description: String { string }
}

extension UTF8Key: Comparable {
    /// Byte order, as LMDB orders keys (not Swift's order of canonical equivalents).
    public static func < (left: UTF8Key, right: UTF8Key) -> Bool {
        let (l, r) = (left.string.utf8, right.string.utf8)
        // One memcmp of the common prefix, then the shorter first; a walk of the UTF-8 views
        // when a string does not keep its bytes contiguous.
        let ordered = l.withContiguousStorageIfAvailable { lb in
            r.withContiguousStorageIfAvailable { rb -> Bool in
                let common = min(lb.count, rb.count)
                if common > 0, let lbase = lb.baseAddress, let rbase = rb.baseAddress {
                    let order = memcmp(lbase, rbase, common)
                    if order != 0 { return order < 0 }
                }
                return lb.count < rb.count
            }
        }
        return (ordered ?? nil) ?? l.lexicographicallyPrecedes(r)
    }
}

extension UTF8Key: ExpressibleByStringLiteral {
    /// The key of a literal: `["orders-1": .noStream]`.
    public init(stringLiteral value: String) { self.init(value) }
}
