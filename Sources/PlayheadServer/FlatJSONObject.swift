import EventLog
import LMDBLog
import PlayheadCore
import Views

/// The members of a JSON body that is one flat object of plain values, read without a
/// general decoder: the fast path for the hottest ingestion bodies.
///
/// It reads only the common shape: an object whose keys are unescaped strings and whose
/// values are unescaped strings, whole numbers that fit in an `Int64` (`-0` aside), `true`,
/// `false` or `null`, with no key twice (keys compared by their bytes, as ``StrictJSON``
/// compares them). For anything else (an escape, a fraction or exponent, a nested value, a
/// duplicate key, bad UTF-8, a syntax error) it returns nil, and the caller decodes the body
/// with ``StrictJSONDecoder``, which accepts or rejects it with its own message: the fast path
/// never decides what a body means differently, it only declines.
struct FlatJSONObject {
    /// A plain JSON value.
    enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case boolean(Bool)
        case null
    }

    /// The members, by key.
    private(set) var members: [UTF8Key: Value] = [:]

    /// Reads `bytes`, or returns nil when they are not of the shape described above.
    init?(_ bytes: UnsafeRawBufferPointer) {
        var reader = Reader(bytes: bytes)
        members.reserveCapacity(16)  // the hot bodies have about ten members: no regrowth
        guard reader.skipSpace(), reader.take(UInt8(ascii: "{")), reader.skipSpace() else { return nil }
        if reader.take(UInt8(ascii: "}")) {
            guard reader.skipSpace(), reader.atEnd else { return nil }
            return
        }
        while true {
            guard let key = reader.string(), reader.skipSpace(), reader.take(UInt8(ascii: ":")), reader.skipSpace(),
                let value = reader.value(), members.updateValue(value, forKey: UTF8Key(key)) == nil, reader.skipSpace()
            else { return nil }
            if reader.take(UInt8(ascii: ",")) {
                guard reader.skipSpace() else { return nil }
                continue
            }
            guard reader.take(UInt8(ascii: "}")), reader.skipSpace(), reader.atEnd else { return nil }
            return
        }
    }

    subscript(key: String) -> Value? { members[UTF8Key(key)] }

    /// A cursor over the body's bytes. Each method returns nil or false when the bytes
    /// ahead are not what it reads, leaving the whole read to fail.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var atEnd: Bool { index == bytes.count }

        /// Skips JSON whitespace; always true, so that it chains in a `guard`.
        mutating func skipSpace() -> Bool {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return true
                }
            }
            return true
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// An unescaped string of valid UTF-8 with no control characters.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                // An escape, or a control character JSON forbids unescaped.
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                index += 1
            }
            return nil
        }

        mutating func value() -> Value? {
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true", .boolean(true))
            case UInt8(ascii: "f"): return literal("false", .boolean(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return integer().map(Value.integer)
            }
        }

        private mutating func literal(_ word: StaticString, _ value: Value) -> Value? {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count,
                UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]).elementsEqual(
                    UnsafeRawBufferPointer(start: word.utf8Start, count: count)
                )
            else { return nil }
            index += count
            return value
        }

        /// `-?(0|[1-9][0-9]*)` within `Int64`, not `-0`, not followed by a fraction or exponent.
        private mutating func integer() -> Int64? {
            let negative = take(UInt8(ascii: "-"))
            let start = index
            var magnitude: UInt64 = 0
            while index < bytes.count, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflowAgain) = times10.addingReportingOverflow(UInt64(digit))
                guard !overflow && !overflowAgain else { return nil }
                magnitude = sum
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                return nil
            }
            if negative {
                // `-0` is 0 to an integer field but -0.0 to a Double one: left to the decoder.
                guard magnitude != 0, magnitude <= UInt64(Int64.max) + 1 else { return nil }
                return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return Int64(magnitude)
        }
    }
}

/// A body type with a fast path: `Request.decodeJSON` first reads the body as a
/// ``FlatJSONObject`` and builds the value from it, and decodes with ``StrictJSONDecoder``
/// only when either declines.
protocol FlatDecodable: Decodable {
    /// The value from a flat body, or nil when a member is missing or of a type the field
    /// does not take as is (then ``StrictJSONDecoder`` decides, and names the field in its error).
    init?(flat object: FlatJSONObject)
}

extension FlatJSONObject {
    /// A member that may be absent: `.some(nil)` when absent or null, `.some(text)` for a
    /// string, nil (decline) for anything else.
    func optionalString(_ key: String) -> String?? {
        switch self[key] {
        case nil, .null?: .some(nil)
        case .string(let text)?: .some(text)
        default: nil
        }
    }

    /// A member that may be absent: `.some(nil)` when absent or null, `.some(number)` for a
    /// whole number, nil (decline) for anything else.
    func optionalInteger(_ key: String) -> Int64?? {
        switch self[key] {
        case nil, .null?: .some(nil)
        case .integer(let number)?: .some(number)
        default: nil
        }
    }
}
