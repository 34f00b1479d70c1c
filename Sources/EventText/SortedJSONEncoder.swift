import Foundation

/// Encodes an `Encodable` value as compact JSON with sorted keys, straight into bytes: the
/// text `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` writes for the domain
/// events' payloads, at a fraction of its cost (it builds no intermediate `Data` and no
/// Foundation objects).
///
/// It handles what the payloads are made of: keyed, unkeyed and single-value containers,
/// strings, booleans, integers, finite doubles and floats, and values that encode
/// themselves through those (UUIDs, the domain's own types). For anything `JSONEncoder`
/// treats specially (`Date`, `Data`, `URL`, `Decimal`) or cannot write (a non-finite
/// number), it throws ``Unsupported``, and the caller uses `JSONEncoder` instead.
/// `Tests/EventTextTests/EventLineTests.swift` checks that the two agree on every event type.
enum SortedJSONEncoder {
    /// A value this encoder does not write the way `JSONEncoder` does.
    struct Unsupported: Error, CustomStringConvertible {
        var reason: String
        var description: String { "the line encoder can't write \(reason)" }
    }

    /// Appends the JSON text of `value` to `out`; on error, `out` is as it was.
    static func append<Value: Encodable>(_ value: Value, to out: inout [UInt8]) throws {
        let root = Node()
        try encode(value, into: root, codingPath: [])
        root.write(to: &out)
    }

    fileprivate static func encode<Value: Encodable>(_ value: Value, into node: Node, codingPath: @autoclosure () -> [any CodingKey]) throws {
        // Type comparisons, not casts: a dynamic cast per value cost more than the rest.
        if Value.self == String.self {
            node.setScalar { out in
                withUnsafePointer(to: value) { $0.withMemoryRebound(to: String.self, capacity: 1) { JSONBytes.appendQuoted($0.pointee, to: &out) } }
            }
        } else if Value.self == UUID.self {
            // As `UUID.encode(to:)` writes it: `uuidString`, upper case.
            node.setScalar { out in
                withUnsafePointer(to: value) {
                    $0.withMemoryRebound(to: UUID.self, capacity: 1) { JSONBytes.appendQuotedUUID($0.pointee, upperCase: true, to: &out) }
                }
            }
        } else if Value.self == Double.self {
            try withUnsafePointer(to: value) { try $0.withMemoryRebound(to: Double.self, capacity: 1) { try node.setDouble($0.pointee) } }
        } else if Value.self == Date.self || Value.self == Data.self || Value.self == URL.self || Value.self == Decimal.self {
            throw Unsupported(reason: "a \(Value.self)")
        } else {
            try value.encode(to: NodeEncoder(node: node, codingPath: codingPath()))
        }
    }

    /// Whether `left` sorts before `right`, byte by byte in UTF-8.
    fileprivate static func precedes(_ left: String, _ right: String) -> Bool {
        var left = left
        var right = right
        return left.withUTF8 { left in
            right.withUTF8 { right in
                let order = memcmp(left.baseAddress!, right.baseAddress!, min(left.count, right.count))
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }
}

/// One JSON value, built while the value encodes itself, then written with sorted keys.
private final class Node {
    enum Kind {
        case empty
        case scalar
        case object
        case array
    }

    var kind = Kind.empty
    var text: [UInt8] = []
    var members: [(key: String, value: Node)] = []
    var elements: [Node] = []

    func setScalar(_ write: (inout [UInt8]) -> Void) {
        kind = .scalar
        text.removeAll(keepingCapacity: true)
        write(&text)
    }

    func setInteger<Integer: BinaryInteger>(_ value: Integer) {
        setScalar { out in
            if let unsigned = UInt64(exactly: value) {
                JSONBytes.appendDecimal(unsigned, to: &out)
            } else {
                JSONBytes.appendDecimal(Int64(value), to: &out)
            }
        }
    }

    /// `JSONEncoder`'s form of a double: its shortest round-trip digits (`description`),
    /// without a trailing `.0`.
    func setDouble(_ value: Double) throws {
        guard value.isFinite else { throw SortedJSONEncoder.Unsupported(reason: "the non-finite number \(value)") }
        setScalar { _ = JSONBytes.appendDouble(value, to: &$0) }
    }

    func write(to out: inout [UInt8]) {
        switch kind {
        case .empty:
            // A value that encoded nothing: JSONEncoder writes an empty object.
            out.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")])
        case .scalar:
            out.append(contentsOf: text)
        case .object:
            out.append(UInt8(ascii: "{"))
            // An insertion sort of the members' indices: a handful of keys, mostly in order already.
            var order = Array(members.indices)
            for next in order.indices.dropFirst() {
                var index = next
                while index > 0 && SortedJSONEncoder.precedes(members[order[index]].key, members[order[index - 1]].key) {
                    order.swapAt(index, index - 1)
                    index -= 1
                }
            }
            for (position, index) in order.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                JSONBytes.appendQuoted(members[index].key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[index].value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array:
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    /// The member for `key`, replacing one encoded before under the same key.
    func member(_ key: String) -> Node {
        let child = Node()
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = child
        } else {
            members.append((key, child))
        }
        return child
    }

    func element() -> Node {
        let child = Node()
        elements.append(child)
        return child
    }
}

private struct NodeEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.kind != .object {
            node.kind = .object
            node.members = []
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.kind != .array {
            node.kind = .array
            node.elements = []
        }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.member(key.stringValue).setScalar { $0.append(contentsOf: "null".utf8) } }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        node.member(key.stringValue).setScalar { $0.append(contentsOf: (value ? "true" : "false").utf8) }
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        node.member(key.stringValue).setScalar { JSONBytes.appendQuoted(value, to: &$0) }
    }
    mutating func encode(_ value: Double, forKey key: Key) throws { try node.member(key.stringValue).setDouble(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        throw SortedJSONEncoder.Unsupported(reason: "a Float (\(value))")
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { node.member(key.stringValue).setInteger(value) }
    mutating func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
        try SortedJSONEncoder.encode(value, into: node.member(key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.member("super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.elements.count }

    private var nextPath: [any CodingKey] { codingPath + [IndexKey(node.elements.count)] }

    mutating func encodeNil() throws { node.element().setScalar { $0.append(contentsOf: "null".utf8) } }
    mutating func encode(_ value: Bool) throws { node.element().setScalar { $0.append(contentsOf: (value ? "true" : "false").utf8) } }
    mutating func encode(_ value: String) throws { node.element().setScalar { JSONBytes.appendQuoted(value, to: &$0) } }
    mutating func encode(_ value: Double) throws { try node.element().setDouble(value) }
    mutating func encode(_ value: Float) throws { throw SortedJSONEncoder.Unsupported(reason: "a Float (\(value))") }
    mutating func encode(_ value: Int) throws { node.element().setInteger(value) }
    mutating func encode(_ value: Int8) throws { node.element().setInteger(value) }
    mutating func encode(_ value: Int16) throws { node.element().setInteger(value) }
    mutating func encode(_ value: Int32) throws { node.element().setInteger(value) }
    mutating func encode(_ value: Int64) throws { node.element().setInteger(value) }
    mutating func encode(_ value: UInt) throws { node.element().setInteger(value) }
    mutating func encode(_ value: UInt8) throws { node.element().setInteger(value) }
    mutating func encode(_ value: UInt16) throws { node.element().setInteger(value) }
    mutating func encode(_ value: UInt32) throws { node.element().setInteger(value) }
    mutating func encode(_ value: UInt64) throws { node.element().setInteger(value) }
    mutating func encode<Value: Encodable>(_ value: Value) throws {
        let path = nextPath
        try SortedJSONEncoder.encode(value, into: node.element(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return NodeEncoder(node: node.element(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        return NodeEncoder(node: node.element(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextPath
        return NodeEncoder(node: node.element(), codingPath: path)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.setScalar { $0.append(contentsOf: "null".utf8) } }
    mutating func encode(_ value: Bool) throws { node.setScalar { $0.append(contentsOf: (value ? "true" : "false").utf8) } }
    mutating func encode(_ value: String) throws { node.setScalar { JSONBytes.appendQuoted(value, to: &$0) } }
    mutating func encode(_ value: Double) throws { try node.setDouble(value) }
    mutating func encode(_ value: Float) throws { throw SortedJSONEncoder.Unsupported(reason: "a Float (\(value))") }
    mutating func encode(_ value: Int) throws { node.setInteger(value) }
    mutating func encode(_ value: Int8) throws { node.setInteger(value) }
    mutating func encode(_ value: Int16) throws { node.setInteger(value) }
    mutating func encode(_ value: Int32) throws { node.setInteger(value) }
    mutating func encode(_ value: Int64) throws { node.setInteger(value) }
    mutating func encode(_ value: UInt) throws { node.setInteger(value) }
    mutating func encode(_ value: UInt8) throws { node.setInteger(value) }
    mutating func encode(_ value: UInt16) throws { node.setInteger(value) }
    mutating func encode(_ value: UInt32) throws { node.setInteger(value) }
    mutating func encode(_ value: UInt64) throws { node.setInteger(value) }
    mutating func encode<Value: Encodable>(_ value: Value) throws {
        try SortedJSONEncoder.encode(value, into: node, codingPath: codingPath)
    }
}
