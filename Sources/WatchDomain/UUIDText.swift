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
        let utf8 = text.utf8
        let hyphenated = utf8.count == 36
        guard hyphenated || utf8.count == 32 else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &bytes) { output -> Bool in
            var high: UInt8?
            var count = 0
            for (offset, character) in utf8.enumerated() {
                if hyphenated && (offset == 8 || offset == 13 || offset == 18 || offset == 23) {
                    guard character == UInt8(ascii: "-") else { return false }
                    continue
                }
                let digit: UInt8
                switch character {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = character - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = character - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = character - UInt8(ascii: "A") + 10
                default: return false
                }
                if let pending = high {
                    output[count] = pending << 4 | digit
                    count += 1
                    high = nil
                } else {
                    high = digit
                }
            }
            return count == 16
        }
        guard parsed else { return nil }
        self.init(uuid: bytes)
    }
}
