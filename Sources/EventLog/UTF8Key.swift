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

    public static func == (left: UTF8Key, right: UTF8Key) -> Bool { left.string.utf8.elementsEqual(right.string.utf8) }

    public func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { string }
}

extension UTF8Key: Comparable {
    /// Byte order, as LMDB orders keys (not Swift's order of canonical equivalents).
    public static func < (left: UTF8Key, right: UTF8Key) -> Bool {
        left.string.utf8.lexicographicallyPrecedes(right.string.utf8)
    }
}

extension UTF8Key: ExpressibleByStringLiteral {
    /// The key of a literal: `["orders-1": .noStream]`.
    public init(stringLiteral value: String) { self.init(value) }
}
