#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension UUID {
    /// Parses 32 hexadecimal digits, with the four hyphens of the canonical form
    /// (`8-4-4-4-12`) or without any, in either case; nil for anything else.
    ///
    /// Every request parses one or two of these (a path id, the request id), and
    /// Foundation's `UUID(uuidString:)` goes through `sscanf` on Linux.
    public init?(hexadecimal text: some StringProtocol) {
        var text = String(text)
        guard let bytes = text.withUTF8({ Self.parseHexadecimal($0) }) else { return nil }
        self.init(uuid: bytes)
    }

    /// The 16 bytes spelled by `utf8`, nil when it is not a UUID in one of the two forms.
    /// Works on a buffer: a generic walk over a string's UTF-8 view cost microseconds per id.
    private static func parseHexadecimal(_ utf8: UnsafeBufferPointer<UInt8>) -> uuid_t? {
        let hyphenated = utf8.count == 36
        guard hyphenated || utf8.count == 32 else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &bytes) { output -> Bool in
            var index = 0
            for byte in 0..<16 {
                if hyphenated && (index == 8 || index == 13 || index == 18 || index == 23) {
                    guard utf8[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = digit(utf8[index]), let low = digit(utf8[index + 1]) else { return false }
                output[byte] = high << 4 | low
                index += 2
            }
            return true
        }
        return parsed ? bytes : nil
    }

    private static func digit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
