/// A JSON value read by ``StrictJSON``: every object keeps its members in order, and names
/// are compared as the UTF-8 bytes they unescape to, never by Swift `String` equality
/// (which would take `"zo\u{EB}"` and `"zoe\u{308}"` for one name).
enum StrictJSONValue: Sendable, Equatable {
    case object([(name: String, value: StrictJSONValue)])
    case array([StrictJSONValue])
    case string(String)
    /// The number's text as written (`-1.5e3`), so that nothing is rounded on the way.
    case number(String)
    case bool(Bool)
    case null

    /// The member named `name` (bytes compared) of an object; nil for other values.
    subscript(member name: String) -> StrictJSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    static func == (left: StrictJSONValue, right: StrictJSONValue) -> Bool {
        switch (left, right) {
        case (.object(let l), .object(let r)):
            l.count == r.count
                && zip(l, r).allSatisfy { $0.name.utf8.elementsEqual($1.name.utf8) && $0.value == $1.value }
        case (.array(let l), .array(let r)): l == r
        case (.string(let l), .string(let r)), (.number(let l), .number(let r)): l.utf8.elementsEqual(r.utf8)
        case (.bool(let l), .bool(let r)): l == r
        case (.null, .null): true
        default: false
        }
    }
}

/// A complete RFC 8259 reader that refuses what a lenient parser would quietly resolve: a
/// member name given twice in one object (RFC 7493 §2.3; RFC 7515 §4 and RFC 7519 §4 for a
/// token's header and claims, where a reader that keeps the first duplicate and one that keeps
/// the last would disagree on who the caller is), a lone surrogate escape, and text after the
/// value. Used where that ambiguity matters (bearer tokens), not for every request body.
enum StrictJSON {
    /// Why a text is refused.
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// Not JSON: what was expected, at a byte offset.
        case syntax(String, offset: Int)
        /// One object names the same member twice (after unescaping).
        case duplicateMember(String)
        /// Nested deeper than ``StrictJSON/maximumDepth``.
        case tooDeep

        var description: String {
            switch self {
            case .syntax(let expected, let offset): "expected \(expected) at byte \(offset)"
            case .duplicateMember(let name): "the member \"\(name)\" appears twice"
            case .tooDeep: "nested deeper than \(StrictJSON.maximumDepth) levels"
            }
        }
    }

    /// Arrays and objects nested deeper than this are refused.
    static let maximumDepth = 64

    /// The value `bytes` hold, or the reason they do not hold exactly one JSON value.
    static func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> StrictJSONValue {
        var reader = Reader(bytes: Array(bytes))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == reader.bytes.count else { throw .syntax("the end of the text", offset: reader.index) }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) throws(Failure) -> StrictJSONValue {
            guard index < bytes.count else { throw .syntax("a value", offset: index) }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws(Failure) -> StrictJSONValue {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }
            index += 1
            var members: [(name: String, value: StrictJSONValue)] = []
            var names: Set<[UInt8]> = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .syntax("a member name", offset: index) }
                let name = try string()
                guard names.insert(Array(name.utf8)).inserted else { throw .duplicateMember(name) }
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((name, try value(depth: depth)))
                skipSpace()
                guard index < bytes.count else { throw .syntax("',' or '}'", offset: index) }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                try expect(",")
            }
        }

        mutating func array(depth: Int) throws(Failure) -> StrictJSONValue {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }
            index += 1
            var elements: [StrictJSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth))
                skipSpace()
                guard index < bytes.count else { throw .syntax("',' or ']'", offset: index) }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                try expect(",")
            }
        }

        mutating func expect(_ character: Unicode.Scalar) throws(Failure) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else {
                throw .syntax("'\(character)'", offset: index)
            }
            index += 1
        }

        mutating func literal(_ word: String) throws(Failure) {
            for byte in word.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw .syntax("'\(word)'", offset: index) }
                index += 1
            }
        }

        /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number() throws(Failure) -> String {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax("a value", offset: start) }
            if bytes[index] == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax("a digit", offset: index) }
                skipDigits()
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax("a digit", offset: index) }
                skipDigits()
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
        mutating func skipDigits() { while index < bytes.count, isDigit(bytes[index]) { index += 1 } }

        /// A string's unescaped text. Raw bytes must be valid UTF-8 with no control character;
        /// a `\u` escape of a surrogate must be half of a pair.
        mutating func string() throws(Failure) -> String {
            let start = index
            index += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() throws(Failure) {
                guard !raw.isEmpty else { return }
                guard let text = String(validating: raw, as: UTF8.self) else { throw .syntax("valid UTF-8", offset: start) }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll(keepingCapacity: true)
            }
            while true {
                guard index < bytes.count else { throw .syntax("'\"'", offset: index) }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    try flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    try flush()
                    scalars.append(try escape())
                case ..<0x20:
                    throw .syntax("an escaped control character", offset: index)
                default:
                    raw.append(byte)
                    index += 1
                }
            }
        }

        mutating func escape() throws(Failure) -> Unicode.Scalar {
            index += 1
            guard index < bytes.count else { throw .syntax("an escape", offset: index) }
            let letter = bytes[index]
            index += 1
            switch letter {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let first = try hex4()
                if (0xD800...0xDBFF).contains(first) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw .syntax("the low half of a surrogate pair", offset: index)
                    }
                    index += 2
                    let second = try hex4()
                    guard (0xDC00...0xDFFF).contains(second),
                        let scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
                    else { throw .syntax("the low half of a surrogate pair", offset: index - 6) }
                    return scalar
                }
                guard let scalar = Unicode.Scalar(first) else { throw .syntax("a scalar value, not a lone surrogate", offset: index - 6) }
                return scalar
            default:
                throw .syntax("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)", offset: index - 2)
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard index < bytes.count, let digit = hexValue(bytes[index]) else { throw .syntax("4 hex digits", offset: index) }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            case 0x61...0x66: byte - 0x61 + 10
            default: nil
            }
        }
    }
}
