import EventLog
import Foundation
import LMDBLog
import WatchDomain

/// Writes the pieces of the NDJSON line format as UTF-8 bytes, straight into a buffer.
///
/// Every function writes exactly what the Codable/`JSONSerialization` form of the line
/// writes for the same value (`Tests/EventTextTests/EventLineTests.swift` compares the two
/// on every event type): strings escaped as JSON requires (quote, backslash, control
/// characters; `\b \f \n \r \t` by name, the others as `\u00xx`; nothing else, slashes and
/// non-ASCII characters as they are), ids as lower-case UUIDs, times as ISO 8601 UTC with six
/// fractional digits, bytes as standard base64 with padding.
enum JSONBytes {
    /// Lower-case hexadecimal digits.
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    /// The base64 alphabet (RFC 4648, section 4).
    static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends `"…"` for the UTF-8 text `bytes`. Invalid UTF-8 (a damaged record) is written
    /// with U+FFFD in place of each bad sequence, as `String(decoding:as:)` reads it.
    static func appendQuoted(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii || String(validating: bytes, as: UTF8.self) != nil {
            appendQuotedValidUTF8(bytes, to: &out)
        } else {
            var text = String(decoding: bytes, as: UTF8.self)
            text.withUTF8 { appendQuotedValidUTF8(UnsafeRawBufferPointer($0), to: &out) }
        }
    }

    /// Appends `"…"` for `text`.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendQuotedValidUTF8(UnsafeRawBufferPointer($0), to: &out) }
    }

    private static func appendQuotedValidUTF8(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var plainStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if plainStart < index { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[plainStart..<index])) }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)],
                ])
            }
            plainStart = index + 1
        }
        if plainStart < bytes.count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[plainStart...])) }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `value`.
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var value = value
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            } while value != 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    /// Appends the decimal digits of `value`, with a minus sign when negative.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude, to: &out)
    }

    /// Upper-case hexadecimal digits.
    static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Appends a finite double as `JSONEncoder` writes it: its shortest round-trip digits
    /// (`description`), without a trailing `.0`. Returns false, writing nothing, for a
    /// non-finite one, which JSON can't show.
    static func appendDouble(_ value: Double, to out: inout [UInt8]) -> Bool {
        guard value.isFinite else { return false }
        var description = value.description
        if description.hasSuffix(".0") { description.removeLast(2) }
        out.append(contentsOf: description.utf8)
        return true
    }

    /// Appends `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"`, in lower case (the header ids) or
    /// upper case (as `UUID.uuidString`, inside payloads).
    static func appendQuotedUUID(_ uuid: UUID, upperCase: Bool = false, to out: inout [UInt8]) {
        let digits = upperCase ? upperHexDigits : hexDigits
        out.append(UInt8(ascii: "\""))
        withUnsafeBytes(of: uuid.uuid) { bytes in
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
                out.append(digits[Int(bytes[index] >> 4)])
                out.append(digits[Int(bytes[index] & 0xF)])
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `"YYYY-MM-DDTHH:MM:SS.ffffffZ"`: ``ISO8601Micros/format(_:)``, written
    /// without going through a `String` for the years 0 to 9999.
    static func appendQuotedTime(_ timestamp: Timestamp, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let micros = timestamp.microsecondsSince1970
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros + 1) / 1_000_000 - 1
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds + 1) / 86_400 - 1
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(fromDays: days)
        guard (0...9999).contains(year) else {
            out.append(contentsOf: ISO8601Micros.format(timestamp).utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        func digits(_ value: Int64, _ count: Int, then separator: UInt8) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor))
                value %= divisor
                divisor /= 10
            }
            out.append(separator)
        }
        digits(year, 4, then: UInt8(ascii: "-"))
        digits(month, 2, then: UInt8(ascii: "-"))
        digits(day, 2, then: UInt8(ascii: "T"))
        digits(secondOfDay / 3_600, 2, then: UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, then: UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, then: UInt8(ascii: "."))
        digits(fraction, 6, then: UInt8(ascii: "Z"))
        out.append(UInt8(ascii: "\""))
    }

    /// The proleptic Gregorian date of a day number (0 is 1970-01-01), after Howard
    /// Hinnant's `civil_from_days`, as `gmtime` counts.
    static func civilDate(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The day number (0 is 1970-01-01) of a date, after Howard Hinnant's
    /// `days_from_civil`. A day past the month's end runs into the next month, as `timegm`
    /// takes it.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Appends `"…"` with `bytes` in standard base64 with padding, as
    /// `Data.base64EncodedString()` writes it.
    static func appendQuotedBase64(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let count = bytes.count
        let encodedCount = (count + 2) / 3 * 4
        base64Alphabet.withUnsafeBufferPointer { alphabet in
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: encodedCount))
            out.withUnsafeMutableBufferPointer { buffer in
                var write = start
                var read = 0
                while read + 3 <= count {
                    let chunk = UInt32(bytes[read]) << 16 | UInt32(bytes[read + 1]) << 8 | UInt32(bytes[read + 2])
                    buffer[write] = alphabet[Int(chunk >> 18)]
                    buffer[write + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    buffer[write + 2] = alphabet[Int(chunk >> 6 & 0x3F)]
                    buffer[write + 3] = alphabet[Int(chunk & 0x3F)]
                    read += 3
                    write += 4
                }
                let rest = count - read
                if rest > 0 {
                    let chunk = UInt32(bytes[read]) << 16 | (rest == 2 ? UInt32(bytes[read + 1]) << 8 : 0)
                    buffer[write] = alphabet[Int(chunk >> 18)]
                    buffer[write + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    buffer[write + 2] = rest == 2 ? alphabet[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "=")
                    buffer[write + 3] = UInt8(ascii: "=")
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Reads the tokens of one JSON text in a buffer, for the line format: strict JSON
/// (RFC 8259), UTF-8 checked, with the position of every error.
struct JSONScanner {
    /// The text.
    let bytes: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    var index = 0

    /// A syntax error: what was expected and where (a 1-based column).
    struct SyntaxError: Error, CustomStringConvertible {
        var column: Int
        var expected: String
        var description: String { "expected \(expected) at column \(column)" }
    }

    /// A string read by ``scanString()``: where its contents are (without the quotes), and
    /// whether they hold escapes (then ``unescape(_:column:)`` gives the text). The contents
    /// are checked: valid escapes, no control characters, UTF-8.
    struct StringToken {
        var range: Range<Int>
        var escaped: Bool
    }

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Whether only white space is left.
    var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return index == bytes.count
        }
    }

    /// The next byte after white space, without taking it; nil at the end.
    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    func error(_ expected: String) -> SyntaxError { SyntaxError(column: index + 1, expected: expected) }

    /// Takes `byte` (after white space), or throws naming `what`.
    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
        guard peek() == byte else { throw error(what) }
        index += 1
    }

    /// Takes `byte` if it comes next (after white space).
    @inline(__always)
    mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// Zero when none of the eight bytes of `word` is a quote, a backslash, a control
    /// character or not ASCII (the bit tricks of "Bit Twiddling Hacks", exact as a whole).
    @inline(__always)
    private static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote
        let hasBackslash = (backslash &- ones) & ~backslash
        return (control | hasQuote | hasBackslash | word) & high
    }

    /// Reads the string that comes next (after white space), checking it.
    mutating func scanString() throws(SyntaxError) -> StringToken {
        guard peek() == UInt8(ascii: "\"") else { throw error("a string") }
        index += 1
        let start = index
        var escaped = false
        var ascii = true
        guard let base = bytes.baseAddress else { throw error("the end of a string") }
        let count = bytes.count
        while true {
            // Sixteen bytes at a time while none of them is special, then eight.
            while index + 16 <= count {
                let first = UInt64(littleEndian: (base + index).loadUnaligned(as: UInt64.self))
                let second = UInt64(littleEndian: (base + index + 8).loadUnaligned(as: UInt64.self))
                guard Self.specialBytes(first) | Self.specialBytes(second) == 0 else { break }
                index += 16
            }
            while index + 8 <= count && Self.specialBytes(UInt64(littleEndian: (base + index).loadUnaligned(as: UInt64.self))) == 0 {
                index += 8
            }
            guard index < count else { throw error("the end of a string") }
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw error("no control character inside a string") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
                continue
            }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        let token = StringToken(range: start..<index, escaped: escaped)
        index += 1
        if escaped {
            _ = try unescape(token)  // checks the escapes and the UTF-8 they make
        } else if !ascii && String(validating: UnsafeRawBufferPointer(rebasing: bytes[token.range]), as: UTF8.self) == nil {
            throw SyntaxError(column: start + 1, expected: "UTF-8 text in the string")
        }
        return token
    }

    /// The raw contents of `token` (valid when it has no escapes).
    @inline(__always)
    func raw(_ token: StringToken) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[token.range]) }

    /// The text of `token`.
    func text(_ token: StringToken) -> String {
        if !token.escaped { return String(decoding: raw(token), as: UTF8.self) }
        return String(decoding: (try? unescape(token)) ?? [], as: UTF8.self)
    }

    /// Calls `body` with the text of `token`, unescaped when it has escapes.
    func withText<T>(_ token: StringToken, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        if !token.escaped { return body(raw(token)) }
        return ((try? unescape(token)) ?? []).withUnsafeBytes { body($0) }
    }

    /// The string value that comes next.
    mutating func stringValue() throws(SyntaxError) -> String {
        text(try scanString())
    }

    /// The bytes a string with escapes stands for.
    func unescape(_ token: StringToken) throws(SyntaxError) -> [UInt8] {
        let raw = raw(token)
        let column = token.range.lowerBound + 1
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        func hex4(_ at: Int) throws(SyntaxError) -> UInt32 {
            guard at + 4 <= raw.count else { throw SyntaxError(column: column + at, expected: "four hexadecimal digits") }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = raw[at + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw SyntaxError(column: column + at + offset, expected: "a hexadecimal digit")
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { throw SyntaxError(column: column + index, expected: "an escape") }
            switch raw[index + 1] {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(index + 2)
                index += 6
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard index + 1 < raw.count, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u") else {
                        throw SyntaxError(column: column + index, expected: "the low surrogate of a \\u escape pair")
                    }
                    let low = try hex4(index + 2)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw SyntaxError(column: column + index, expected: "a low surrogate")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw SyntaxError(column: column + index - 6, expected: "no unpaired low surrogate")
                }
                guard let value = Unicode.Scalar(scalar) else { throw SyntaxError(column: column + index, expected: "a Unicode scalar") }
                if let encoded = UTF8.encode(value) { out.append(contentsOf: encoded) }
                continue
            default:
                throw SyntaxError(column: column + index, expected: "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u")
            }
            index += 2
        }
        guard String(validating: out, as: UTF8.self) != nil else { throw SyntaxError(column: column, expected: "UTF-8 text in the string") }
        return out
    }

    /// A number's text, when the next token is a number (JSON's grammar).
    mutating func number() throws(SyntaxError) -> UnsafeRawBufferPointer {
        skipWhitespace()
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            index = start
            throw error("a number")
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("a digit after the decimal point") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            guard digits() > 0 else { throw error("a digit in the exponent") }
        }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<index])
    }

    /// Skips one whole value of any kind, checking its syntax, and returns where it is.
    mutating func skipValue(depth: Int = 0) throws(SyntaxError) -> Range<Int> {
        guard depth < 512 else { throw error("less nesting") }
        guard let next = peek() else { throw error("a value") }
        let start = index
        switch next {
        case UInt8(ascii: "{"):
            index += 1
            if !take(UInt8(ascii: "}")) {
                repeat {
                    _ = try scanString()
                    try expect(UInt8(ascii: ":"), "':'")
                    _ = try skipValue(depth: depth + 1)
                } while take(UInt8(ascii: ","))
                try expect(UInt8(ascii: "}"), "',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            if !take(UInt8(ascii: "]")) {
                repeat { _ = try skipValue(depth: depth + 1) } while take(UInt8(ascii: ","))
                try expect(UInt8(ascii: "]"), "',' or ']'")
            }
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            var matched = false
            for word in ["true", "false", "null"] {
                let utf8 = Array(word.utf8)
                if index + utf8.count <= bytes.count && bytes[index..<(index + utf8.count)].elementsEqual(utf8) {
                    index += utf8.count
                    matched = true
                    break
                }
            }
            guard matched else { throw error("a value") }
        default:
            _ = try number()
        }
        return start..<index
    }
}

/// Reads the pieces of the line format that ``JSONBytes`` writes.
enum JSONParse {
    /// A canonical UUID (8-4-4-4-12 hexadecimal digits, either case), as
    /// `UUID(uuidString:)` reads it; nil otherwise.
    static func uuid(_ text: UnsafeRawBufferPointer) -> UUID? {
        guard text.count == 36 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &value) { output -> Bool in
            var index = 0
            for byte in 0..<16 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard text[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = hexDigit(text[index]), let low = hexDigit(text[index + 1]) else { return false }
                output[byte] = high << 4 | low
                index += 2
            }
            return true
        }
        return parsed ? UUID(uuid: value) : nil
    }

    private static func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.f…]Z` with up to six fractional digits: what
    /// ``ISO8601Micros/parse(_:)`` accepts, to the same instant; nil otherwise.
    static func time(_ bytes: UnsafeRawBufferPointer) -> Timestamp? {
        guard bytes.count >= 20, bytes[bytes.count - 1] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if bytes.count > 20 {
            let digits = bytes.count - 21
            guard bytes[19] == UInt8(ascii: "."), (1...6).contains(digits), let fraction = number(20..<(20 + digits)) else { return nil }
            var scale: Int64 = 1
            for _ in digits..<6 { scale *= 10 }
            micros = fraction * scale
        }
        let seconds = JSONBytes.days(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second
        return Timestamp(microsecondsSince1970: seconds * 1_000_000 + micros)
    }

    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in JSONBytes.base64Alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    /// The bytes of standard base64 with padding (RFC 4648, section 4; the length a
    /// multiple of 4, `=` only at the end); nil for anything else.
    static func base64(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        if text.isEmpty { return [] }
        var padding = 0
        if text[text.count - 1] == UInt8(ascii: "=") { padding += 1 }
        if text[text.count - 2] == UInt8(ascii: "=") { padding += 1 }
        let count = text.count / 4 * 3 - padding
        return base64Values.withUnsafeBufferPointer { values -> [UInt8]? in
            var valid = true
            let result = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                var read = 0
                var write = 0
                let whole = padding > 0 ? text.count - 4 : text.count
                while read < whole {
                    let a = values[Int(text[read])]
                    let b = values[Int(text[read + 1])]
                    let c = values[Int(text[read + 2])]
                    let d = values[Int(text[read + 3])]
                    if (a | b | c | d) & 0xC0 != 0 {
                        valid = false
                        break
                    }
                    let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    output[write] = UInt8(truncatingIfNeeded: chunk >> 16)
                    output[write + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
                    output[write + 2] = UInt8(truncatingIfNeeded: chunk)
                    read += 4
                    write += 3
                }
                if valid && padding > 0 {
                    let a = values[Int(text[read])]
                    let b = values[Int(text[read + 1])]
                    let c = padding == 1 ? values[Int(text[read + 2])] : 0
                    if (a | b | c) & 0xC0 != 0 {
                        valid = false
                    } else {
                        let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                        output[write] = UInt8(truncatingIfNeeded: chunk >> 16)
                        if padding == 1 { output[write + 1] = UInt8(truncatingIfNeeded: chunk >> 8) }
                    }
                }
                initialized = valid ? count : 0
            }
            return valid ? result : nil
        }
    }
}
