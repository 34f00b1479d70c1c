import Foundation

/// Decodes a `Decodable` value from JSON text that ``JSONScanner`` has checked, reading the
/// text in place: the domain events' payloads in an import, where `JSONDecoder` took most of
/// the time.
///
/// It reads a strict subset of what `JSONDecoder` reads, the same way: objects (unknown keys
/// ignored), arrays, strings, `true`/`false`, `null` for absent optionals, integers written
/// as integers, and finite doubles. Whenever it meets anything else (an integer written as
/// `1.0`, an object with a key twice, a `Date`, a type mismatch), it throws, and the caller
/// decodes the text with `JSONDecoder` instead, whose result and errors are then the ones
/// that count. `Tests/EventTextTests/EventLineTests.swift` checks that the two agree on every
/// event type.
enum ScannedJSONDecoder {
    /// The text is outside the subset; `JSONDecoder` decides.
    struct Unsupported: Error {}

    /// Decodes `type` from the JSON value in `bytes`.
    static func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        return try ValueDecoder(bytes: bytes, start: scanner.index, pathNode: nil).decode(type)
    }
}

/// A coding path, made only for values decoded through a `Decoder` of their own (a nested
/// object, a UUID), not for every field.
private final class PathNode {
    let parent: PathNode?
    let key: any CodingKey
    init(parent: PathNode?, key: any CodingKey) {
        self.parent = parent
        self.key = key
    }

    var path: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: PathNode? = self
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }
}

private struct ValueDecoder: Decoder {
    let bytes: UnsafeRawBufferPointer
    /// Where the value starts (after white space).
    let start: Int
    let pathNode: PathNode?
    var codingPath: [any CodingKey] { pathNode?.path ?? [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(bytes: UnsafeRawBufferPointer, start: Int, pathNode: PathNode?) {
        self.bytes = bytes
        self.start = start
        self.pathNode = pathNode
    }

    var first: UInt8 { bytes[start] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedContainer<Key>(self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { try UnkeyedContainer(self) }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self) }

    // MARK: Values

    var isNull: Bool { first == UInt8(ascii: "n") }

    func bool() throws -> Bool {
        switch first {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw ScannedJSONDecoder.Unsupported()
        }
    }

    func string() throws -> String {
        guard first == UInt8(ascii: "\"") else { throw ScannedJSONDecoder.Unsupported() }
        var scanner = JSONScanner(bytes)
        scanner.index = start
        return scanner.text(try scanner.scanString())
    }

    /// The number's text, when the value is a number.
    func numberText() throws -> UnsafeRawBufferPointer {
        var scanner = JSONScanner(bytes)
        scanner.index = start
        guard first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw ScannedJSONDecoder.Unsupported()
        }
        return try scanner.number()
    }

    /// An integer written as one (`-12`), in range of `Integer`.
    func integer<Integer: FixedWidthInteger>(_ type: Integer.Type) throws -> Integer {
        let text = try numberText()
        var index = 0
        let negative = text[0] == UInt8(ascii: "-")
        if negative {
            guard Integer.isSigned else { throw ScannedJSONDecoder.Unsupported() }
            index = 1
        }
        var value: Integer = 0
        while index < text.count {
            let byte = text[index]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw ScannedJSONDecoder.Unsupported() }
            let digit = Integer(byte - UInt8(ascii: "0"))
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowAgain) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow && !overflowAgain else { throw ScannedJSONDecoder.Unsupported() }
            value = next
            index += 1
        }
        return value
    }

    func double() throws -> Double {
        guard let value = Double(String(decoding: try numberText(), as: UTF8.self)), value.isFinite else {
            throw ScannedJSONDecoder.Unsupported()
        }
        return value
    }

    func decode<Value: Decodable>(_ type: Value.Type) throws -> Value {
        // As JSONDecoder: these have a form of their own in JSON, left to it.
        if Value.self == Date.self || Value.self == Data.self || Value.self == URL.self || Value.self == Decimal.self {
            throw ScannedJSONDecoder.Unsupported()
        }
        if Value.self == String.self { return try string() as! Value }
        if Value.self == UUID.self {
            // UUID(uuidString:) goes through sscanf; the canonical form is read here, anything
            // else is left to JSONDecoder.
            guard first == UInt8(ascii: "\""),
                let uuid = try string().utf8.withContiguousStorageIfAvailable({ JSONParse.uuid(UnsafeRawBufferPointer($0)) }) ?? nil
            else {
                throw ScannedJSONDecoder.Unsupported()
            }
            return uuid as! Value
        }
        return try Value(from: self)
    }

    /// The value at `start`, read as a field: no coding path of its own.
    func field(at start: Int) -> ValueDecoder { ValueDecoder(bytes: bytes, start: start, pathNode: pathNode) }

    /// The value at `start`, under `key`, to decode through a `Decoder` of its own.
    func nested(at start: Int, key: any CodingKey) -> ValueDecoder {
        ValueDecoder(bytes: bytes, start: start, pathNode: PathNode(parent: pathNode, key: key))
    }
}

/// An array element's coding key (`Index 3`, as Foundation names it); shared by the
/// CLI's JSON decoder and encoder.
struct IndexKey: CodingKey {
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ValueDecoder
    /// Each member's key and where its value starts.
    let members: [(key: JSONScanner.StringToken, value: Int)]
    var codingPath: [any CodingKey] { decoder.codingPath }

    init(_ decoder: ValueDecoder) throws {
        guard decoder.first == UInt8(ascii: "{") else { throw ScannedJSONDecoder.Unsupported() }
        self.decoder = decoder
        var scanner = JSONScanner(decoder.bytes)
        scanner.index = decoder.start + 1
        var members: [(key: JSONScanner.StringToken, value: Int)] = []
        if !scanner.take(UInt8(ascii: "}")) {
            repeat {
                let key = try scanner.scanString()
                try scanner.expect(UInt8(ascii: ":"), "':'")
                scanner.skipWhitespace()
                members.append((key, scanner.index))
                _ = try scanner.skipValue()
            } while scanner.take(UInt8(ascii: ","))
        }
        // A key given twice: which one counts is JSONDecoder's to say.
        for (index, member) in members.enumerated() where members[..<index].contains(where: { Self.same($0.key, member.key, in: decoder.bytes) }) {
            throw ScannedJSONDecoder.Unsupported()
        }
        self.members = members
    }

    private static func same(_ left: JSONScanner.StringToken, _ right: JSONScanner.StringToken, in bytes: UnsafeRawBufferPointer) -> Bool {
        let scanner = JSONScanner(bytes)
        if !left.escaped && !right.escaped {
            return left.range.count == right.range.count && scanner.raw(left).elementsEqual(scanner.raw(right))
        }
        return scanner.text(left) == scanner.text(right)
    }

    private func start(of key: Key) -> Int? {
        var name = key.stringValue
        let scanner = JSONScanner(decoder.bytes)
        return name.withUTF8 { name in
            for member in members {
                if member.key.escaped {
                    if scanner.text(member.key).utf8.elementsEqual(name) { return member.value }
                } else if member.key.range.count == name.count
                    && memcmp(scanner.raw(member.key).baseAddress!, name.baseAddress!, name.count) == 0
                {
                    return member.value
                }
            }
            return nil
        }
    }

    /// The value of `key`, to read as a plain field.
    private func value(_ key: Key) throws -> ValueDecoder {
        guard let start = start(of: key) else { throw ScannedJSONDecoder.Unsupported() }
        return decoder.field(at: start)
    }

    /// The value of `key`, to decode through a `Decoder` of its own.
    private func nested(_ key: Key) throws -> ValueDecoder {
        guard let start = start(of: key) else { throw ScannedJSONDecoder.Unsupported() }
        return decoder.nested(at: start, key: key)
    }

    var allKeys: [Key] {
        let scanner = JSONScanner(decoder.bytes)
        return members.compactMap { Key(stringValue: scanner.text($0.key)) }
    }

    func contains(_ key: Key) -> Bool { start(of: key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(key).bool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try value(key).string() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(key).double() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw ScannedJSONDecoder.Unsupported() }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(key).integer(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(key).integer(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(key).integer(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(key).integer(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(key).integer(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(key).integer(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(key).integer(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(key).integer(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(key).integer(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(key).integer(type) }
    func decode<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Value { try nested(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try nested(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try nested(key).unkeyedContainer() }

    func superDecoder() throws -> any Decoder {
        guard let key = Key(stringValue: "super") else { throw ScannedJSONDecoder.Unsupported() }
        return try nested(key)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try nested(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ValueDecoder
    let elements: [Int]
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(_ decoder: ValueDecoder) throws {
        guard decoder.first == UInt8(ascii: "[") else { throw ScannedJSONDecoder.Unsupported() }
        self.decoder = decoder
        var scanner = JSONScanner(decoder.bytes)
        scanner.index = decoder.start + 1
        var elements: [Int] = []
        if !scanner.take(UInt8(ascii: "]")) {
            repeat {
                scanner.skipWhitespace()
                elements.append(scanner.index)
                _ = try scanner.skipValue()
            } while scanner.take(UInt8(ascii: ","))
        }
        self.elements = elements
    }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else { throw ScannedJSONDecoder.Unsupported() }
        defer { currentIndex += 1 }
        return decoder.nested(at: elements[currentIndex], key: IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw ScannedJSONDecoder.Unsupported() }
        if decoder.nested(at: elements[currentIndex], key: IndexKey(currentIndex)).isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().bool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().string() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().double() }
    mutating func decode(_ type: Float.Type) throws -> Float { throw ScannedJSONDecoder.Unsupported() }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().integer(type) }
    mutating func decode<Value: Decodable>(_ type: Value.Type) throws -> Value { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool() }
    func decode(_ type: String.Type) throws -> String { try decoder.string() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.double() }
    func decode(_ type: Float.Type) throws -> Float { throw ScannedJSONDecoder.Unsupported() }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(type) }
    func decode<Value: Decodable>(_ type: Value.Type) throws -> Value { try decoder.decode(type) }
}
