/// Writes JSON text by hand for the responses that carry many rows (interaction history
/// pages and exports, a week of concurrent viewers per minute), where Foundation's
/// `JSONEncoder` took most of the time: the output is
/// byte for byte what the server's encoder (sorted keys, unescaped slashes) writes for the
/// same values, as the tests check.
struct JSONText {
    /// The text so far.
    private(set) var text = ""
    private var needsComma: [Bool] = []

    init(capacity: Int = 256) { text.reserveCapacity(capacity) }

    /// `{`; keys must then be given in sorted order.
    mutating func beginObject() {
        separate()
        text.append("{")
        needsComma.append(false)
    }

    mutating func endObject() {
        text.append("}")
        needsComma.removeLast()
    }

    mutating func beginArray() {
        separate()
        text.append("[")
        needsComma.append(false)
    }

    mutating func endArray() {
        text.append("]")
        needsComma.removeLast()
    }

    /// A key; the value written next belongs to it. Keys are the response's own field
    /// names, which need no escaping.
    mutating func key(_ name: StaticString) {
        separate()
        text.append("\"")
        name.withUTF8Buffer { text.append(String(decoding: $0, as: UTF8.self)) }
        text.append("\":")
        // The value follows the colon without a comma.
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    mutating func value(_ string: String) {
        separate()
        Self.appendQuoted(string, to: &text)
    }

    mutating func value(_ number: Int64) {
        separate()
        text.append(String(number))
    }

    mutating func value(_ number: UInt64) {
        separate()
        text.append(String(number))
    }

    mutating func value(_ number: Int) {
        separate()
        text.append(String(number))
    }

    /// A finite number as `JSONEncoder` writes it: its shortest round-trip form, without a
    /// trailing `.0` (`300`, `2627.771`, `1e-07`).
    mutating func value(_ number: Double) {
        separate()
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        self.text.append(text)
    }

    /// `value`, or `null`.
    mutating func valueOrNull(_ value: Double?) {
        if let value { self.value(value) } else { null() }
    }

    /// `null`.
    mutating func null() {
        separate()
        text.append("null")
    }

    /// `value`, or `null` (as the encoder writes an optional it is told to encode).
    mutating func valueOrNull(_ value: String?) {
        if let value { self.value(value) } else { null() }
    }

    /// `key: value`, skipped when `value` is nil (as the encoder skips nil optionals).
    mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        self.value(value)
    }

    /// `key: value`, skipped when `value` is nil.
    mutating func field(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        self.value(value)
    }

    private mutating func separate() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { text.append(",") }
        needsComma[needsComma.count - 1] = true
    }

    /// `string` in quotes, escaped as JSON requires: quote, backslash and control characters.
    static func appendQuoted(_ string: String, to text: inout String) {
        text.append("\"")
        var plainStart = string.utf8.startIndex
        var index = plainStart
        let utf8 = string.utf8
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                text.append(contentsOf: string[plainStart..<index])
                switch byte {
                case UInt8(ascii: "\""): text.append("\\\"")
                case UInt8(ascii: "\\"): text.append("\\\\")
                case 0x08: text.append("\\b")
                case 0x0C: text.append("\\f")
                case 0x0A: text.append("\\n")
                case 0x0D: text.append("\\r")
                case 0x09: text.append("\\t")
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    text.append("\\u00")
                    text.append(Character(Unicode.Scalar(hex[Int(byte >> 4)])))
                    text.append(Character(Unicode.Scalar(hex[Int(byte & 0xF)])))
                }
                plainStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        text.append(contentsOf: string[plainStart..<utf8.endIndex])
        text.append("\"")
    }
}

extension InteractionBody {
    /// Writes the interaction as the encoder would (keys sorted, nil fields left out).
    func write(to json: inout JSONText) {
        json.beginObject()
        json.field("contentId", contentId)
        json.field("contentType", contentType)
        json.field("context", context)
        json.key("count")
        json.value(count)
        json.field("createdAt", createdAt)
        json.field("id", id)
        json.field("interactionDurationSeconds", interactionDurationSeconds)
        json.field("interactionType", interactionType)
        json.field("interactionValue", interactionValue)
        json.field("moodAtInteraction", moodAtInteraction)
        json.field("moodIntensityAtInteraction", moodIntensityAtInteraction)
        json.field("notes", notes)
        json.field("updatedAt", updatedAt)
        json.field("userId", userId)
        json.endObject()
    }
}
