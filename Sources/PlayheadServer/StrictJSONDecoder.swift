/// Decodes request bodies from ``StrictJSON``, where `JSONDecoder` would guess.
///
/// - A whole-number field (`Int64`, `UInt64`, `Int`, …) takes a number only if its decimal
///   text is exactly a whole number in range: `5`, `5.0` and `5e0` are 5, but
///   `0.99999999999999999` is refused, where `JSONDecoder` rounds it through `Double` to 1.
///   The refusal is a `typeMismatch`, so the answer is "… must be a whole number".
/// - A `Double` field takes the number's text correctly rounded (`Double(String)`).
/// - Member names are matched by their bytes, and a name given twice is refused (the
///   reader would otherwise pick one of the two silently).
/// - Unknown members are ignored, as with `JSONDecoder`.
///
/// Errors are `DecodingError`s with the field's coding path, as `JSONDecoder` throws them, so
/// that `Request.decodeJSON` names the field in its 400.
struct StrictJSONDecoder {
    /// `T` from the JSON text `bytes`.
    func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        let value: StrictJSONValue
        do {
            value = try StrictJSON.parse(bytes)
        } catch .duplicateMember(let name) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [AnyKey(name)], debugDescription: "the member \(name) appears twice in one object")
            )
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the body is not valid JSON: \(error)"))
        }
        return try T(from: ValueDecoder(value: value, codingPath: []))
    }

    /// The exact whole number a JSON number's text (RFC 8259 §6 grammar) denotes, if it is
    /// one and fits `T`: `nil` for a fraction (`1.5`, `0.99999999999999999`); `.some(nil)` for
    /// a whole number out of `T`'s range. Works on the decimal digits, never through `Double`.
    static func wholeNumber<T: FixedWidthInteger>(_ text: String, as _: T.Type) -> T?? {
        var bytes = Array(text.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes.removeFirst() }
        var exponent = 0
        if let e = bytes.firstIndex(where: { $0 | 0x20 == UInt8(ascii: "e") }) {
            var sign = 1
            for byte in bytes[(e + 1)...] {
                switch byte {
                case UInt8(ascii: "-"): sign = -1
                case UInt8(ascii: "+"): break
                // Saturates: an exponent past a million makes any nonzero digit out of range
                // or fractional all the same.
                default: exponent = min(exponent * 10 + Int(byte - UInt8(ascii: "0")), 1_000_000)
                }
            }
            exponent *= sign
            bytes.removeSubrange(e...)
        }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var seenPoint = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else {
                digits.append(byte - UInt8(ascii: "0"))
                if seenPoint { fractionDigits += 1 }
            }
        }
        guard let firstNonZero = digits.firstIndex(where: { $0 != 0 }) else { return .some(0) }
        digits.removeFirst(firstNonZero)
        // The value is digits × 10^scale.
        var scale = exponent - fractionDigits
        while scale < 0, digits.last == 0 {
            digits.removeLast()
            scale += 1
        }
        guard scale >= 0 else { return nil }
        // No 64-bit (or smaller) integer has more than 20 digits.
        guard digits.count + scale <= 40 else { return .some(nil) }
        var magnitude: T.Magnitude = 0
        for digit in digits + [UInt8](repeating: 0, count: scale) {
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(T.Magnitude(digit))
            guard !overflow, !carry else { return .some(nil) }
            magnitude = sum
        }
        if negative {
            guard T.isSigned, magnitude <= T.Magnitude(T.max) + 1 else { return .some(nil) }
            // Two's complement negation of the magnitude; T.min's magnitude included.
            return .some(T(truncatingIfNeeded: ~magnitude &+ 1))
        }
        guard magnitude <= T.Magnitude(T.max) else { return .some(nil) }
        return .some(T(magnitude))
    }
}

/// A coding key made from a member name or an array index.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

private struct ValueDecoder: Decoder {
    let value: StrictJSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self, value, codingPath) }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(value: value, codingPath: codingPath) }
}

private func mismatch(_ type: Any.Type, _ value: StrictJSONValue, _ path: [any CodingKey]) -> DecodingError {
    if case .null = value {
        return .valueNotFound(type, .init(codingPath: path, debugDescription: "null where a value is needed"))
    }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "a value of another type"))
}

/// Reads one value as a scalar; shared by the three container kinds.
private struct Scalar {
    let value: StrictJSONValue
    let codingPath: [any CodingKey]

    func bool() throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, value, codingPath) }
        return flag
    }

    func string() throws -> String {
        guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath) }
        return text
    }

    func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ type: T.Type) throws -> T {
        guard case .number(let text) = value, let number = T(text), number.isFinite else {
            if case .number = value {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number is out of range"))
            }
            throw mismatch(T.self, value, codingPath)
        }
        return number
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard case .number(let text) = value, let whole = StrictJSONDecoder.wholeNumber(text, as: T.self) else {
            throw mismatch(T.self, value, codingPath)
        }
        guard let number = whole else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "it must be from \(T.min) to \(T.max)"))
        }
        return number
    }

    /// A scalar type read here, so that `Optional<Int64>` and friends get the same checks as
    /// a direct `decode(Int64.self)`; anything else decodes itself.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let scalar: Any? =
            switch type {
            case is Bool.Type: try bool()
            case is String.Type: try string()
            case is Double.Type: try floatingPoint(Double.self)
            case is Float.Type: try floatingPoint(Float.self)
            case is Int.Type: try integer(Int.self)
            case is Int64.Type: try integer(Int64.self)
            case is Int32.Type: try integer(Int32.self)
            case is UInt64.Type: try integer(UInt64.self)
            case is UInt.Type: try integer(UInt.self)
            case is UInt32.Type: try integer(UInt32.self)
            default: nil
            }
        if let value = scalar as? T { return value }
        return try T(from: ValueDecoder(value: value, codingPath: codingPath))
    }
}

private struct SingleValue: SingleValueDecodingContainer {
    let value: StrictJSONValue
    let codingPath: [any CodingKey]
    private var scalar: Scalar { Scalar(value: value, codingPath: codingPath) }

    init(value: StrictJSONValue, codingPath: [any CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try scalar.bool() }
    func decode(_ type: String.Type) throws -> String { try scalar.string() }
    func decode(_ type: Double.Type) throws -> Double { try scalar.floatingPoint(Double.self) }
    func decode(_ type: Float.Type) throws -> Float { try scalar.floatingPoint(Float.self) }
    func decode(_ type: Int.Type) throws -> Int { try scalar.integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar.integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar.integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar.integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar.integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar.integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar.integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar.integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar.integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar.integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try scalar.decode(T.self) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(name: String, value: StrictJSONValue)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.name) } }

    func contains(_ key: Key) -> Bool { member(key) != nil }

    private func member(_ key: Key) -> StrictJSONValue? {
        members.first { $0.name.utf8.elementsEqual(key.stringValue.utf8) }?.value
    }

    private func required(_ key: Key) throws -> Scalar {
        guard let value = member(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \(key.stringValue)"))
        }
        return Scalar(value: value, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { member(key) == nil || member(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try required(key).bool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try required(key).string() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try required(key).floatingPoint(Double.self) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try required(key).floatingPoint(Float.self) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try required(key).integer(Int.self) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try required(key).integer(Int8.self) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try required(key).integer(Int16.self) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try required(key).integer(Int32.self) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try required(key).integer(Int64.self) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try required(key).integer(UInt.self) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try required(key).integer(UInt8.self) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try required(key).integer(UInt16.self) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try required(key).integer(UInt32.self) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try required(key).integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try required(key).decode(T.self) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let scalar = try required(key)
        return try ValueDecoder(value: scalar.value, codingPath: scalar.codingPath).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let scalar = try required(key)
        return try ValueDecoder(value: scalar.value, codingPath: scalar.codingPath).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: members.first { $0.name == "super" }?.value ?? .null, codingPath: codingPath + [AnyKey("super")])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: member(key) ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [StrictJSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(elements: [StrictJSONValue], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    private mutating func next() throws -> Scalar {
        let path = codingPath + [AnyKey(intValue: currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: path, debugDescription: "the array has no more elements"))
        }
        defer { currentIndex += 1 }
        return Scalar(value: elements[currentIndex], codingPath: path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().bool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().string() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().floatingPoint(Double.self) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().floatingPoint(Float.self) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().integer(Int.self) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().integer(Int8.self) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().integer(Int16.self) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().integer(Int32.self) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().integer(Int64.self) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().integer(UInt.self) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().integer(UInt8.self) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().integer(UInt16.self) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().integer(UInt32.self) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().integer(UInt64.self) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let scalar = try next()
        return try ValueDecoder(value: scalar.value, codingPath: scalar.codingPath).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let scalar = try next()
        return try ValueDecoder(value: scalar.value, codingPath: scalar.codingPath).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let scalar = try next()
        return ValueDecoder(value: scalar.value, codingPath: scalar.codingPath)
    }
}
