import Testing

@testable import PlayheadServer

@Suite("Strict JSON")
struct StrictJSONTests {
    private func parse(_ text: String) throws(StrictJSON.Failure) -> StrictJSONValue { try StrictJSON.parse(Array(text.utf8)) }

    @Test("reads every kind of value, keeping members in order and numbers as written")
    func readsValues() throws {
        let value = try parse(#" {"b":[1,-2.5e3,true,false,null],"a":"x\u00e9\ud83c\udfac\n","c":{}} "#)
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.name) == ["b", "a", "c"])
        #expect(value[member: "b"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value[member: "a"] == .string("xé🎬\n"))
        #expect(value[member: "c"] == .object([]))
    }

    @Test(
        "refuses a member named twice, also when one spelling is escaped",
        arguments: [#"{"role":"admin","role":"viewer"}"#, #"{"sub":"ops","s\u0075b":"alice"}"#, #"{"a":{"x":1,"x":2}}"#]
    )
    func refusesDuplicates(_ text: String) {
        #expect(throws: StrictJSON.Failure.self) { try parse(text) }
        if case .object = try? parse(text) { Issue.record("accepted \(text)") }
    }

    @Test("two spellings of one text are two names")
    func namesAreBytes() throws {
        let value = try parse("{\"zo\u{EB}\":1,\"zoe\u{308}\":2}")
        #expect(value[member: "zo\u{EB}"] == .number("1"))
        #expect(value[member: "zoe\u{308}"] == .number("2"))
    }

    @Test(
        "refuses what is not exactly one JSON value",
        arguments: [
            "", "{", #"{"a"}"#, #"{"a":1,}"#, "[1,]", "01", "1.", ".5", "1e", "-", "+1", "tru", "nul", #""\x""#, #""\ud800""#,
            #""\udc00""#, #""\ud800\u0041""#, "\"a\u{01}\"", "{} {}", #"{'a':1}"#, "NaN", "Infinity",
        ]
    )
    func refusesMalformed(_ text: String) {
        #expect(throws: StrictJSON.Failure.self) { try parse(text) }
    }

    @Test("refuses invalid UTF-8 in a string and nesting past the limit")
    func refusesBadBytesAndDepth() {
        #expect(throws: StrictJSON.Failure.self) { try StrictJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: StrictJSON.Failure.tooDeep) { try parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) }
        #expect((try? parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))) != nil)
    }

    @Test(
        "a whole number is read from its digits, never through Double",
        arguments: [
            ("5", "5"), ("-5", "-5"), ("5.0", "5"), ("5e0", "5"), ("50e-1", "5"), ("0.5e1", "5"), ("1E2", "100"), ("-0", "0"),
            ("0.000e5", "0"), ("9223372036854775807", "9223372036854775807"), ("-9223372036854775808", "-9223372036854775808"),
            ("9223372036854775808", "out of range"), ("1e19", "out of range"), ("1e999999999", "out of range"),
            ("0.99999999999999999", "fraction"), ("122.99999999999999999", "fraction"), ("1.5", "fraction"), ("1e-1", "fraction"),
            ("1e-999999999", "fraction"), ("0e-999999999", "0"), ("12345678901234567890.5", "fraction"),
        ]
    )
    func wholeNumbers(_ text: String, _ expected: String) {
        let result: String =
            switch StrictJSONDecoder.wholeNumber(text, as: Int64.self) {
            case nil: "fraction"
            case .some(nil): "out of range"
            case .some(let number?): "\(number)"
            }
        #expect(result == expected, "\(text)")
    }

    private struct Body: Decodable {
        var id: Int64
        var count: UInt64?
        var share: Double?
        var name: String?
        var tags: [String]?
    }

    @Test("the decoder refuses a fraction for a whole-number field and names the field")
    func decoderNamesTheField() throws {
        let decoder = StrictJSONDecoder()
        #expect(try decoder.decode(Body.self, from: Array(#"{"id":7.0,"count":2e1,"share":0.55,"tags":["a"]}"#.utf8)).count == 20)
        #expect(try decoder.decode(Body.self, from: Array(#"{"id":7,"share":0.55}"#.utf8)).share == 0.55)
        for (text, path) in [
            (#"{"id":0.99999999999999999}"#, "id"), (#"{"id":1,"count":1.5}"#, "count"),
            (#"{"id":"1"}"#, "id"), (#"{"id":1,"tags":[1]}"#, "tags.0"),
        ] {
            do {
                _ = try decoder.decode(Body.self, from: Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch let DecodingError.typeMismatch(_, context) {
                #expect(context.codingPath.map(\.stringValue).joined(separator: ".") == path, "\(text)")
            } catch {
                Issue.record("\(text): \(error)")
            }
        }
        #expect(throws: DecodingError.self) { try decoder.decode(Body.self, from: Array(#"{"id":1,"id":2}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Body.self, from: Array(#"{"id":1e30}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Body.self, from: Array(#"{"id":1,"count":-1}"#.utf8)) }
    }
}
