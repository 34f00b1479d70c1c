public import EventLog

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A client-supplied instant inside a domain event: stored as microseconds, shown in JSON
/// as ISO 8601 UTC with six fractional digits (`2026-01-31T12:00:00.000000Z`).
public struct UTCTime: Sendable, Hashable, Comparable, Codable {
    /// The instant.
    public var timestamp: Timestamp

    /// Wraps `timestamp`.
    public init(_ timestamp: Timestamp) { self.timestamp = timestamp }

    public static func < (left: UTCTime, right: UTCTime) -> Bool { left.timestamp < right.timestamp }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let timestamp = ISO8601Micros.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 UTC time: \(text)")
        }
        self.timestamp = timestamp
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(ISO8601Micros.format(timestamp))
    }
}

extension BinaryWriter {
    /// Appends a ``UTCTime``.
    public mutating func write(_ value: UTCTime) { write(value.timestamp) }
}

extension BinaryReader {
    /// A ``UTCTime``.
    public mutating func readUTCTime() throws(DomainCodecError) -> UTCTime { UTCTime(try readTimestamp()) }
}

/// Positions and lengths in a video as `HH:MM:SS` (hours may have more digits), with an
/// optional fraction of up to three digits: `00:08:30`, `1:02:03.250`, `120:00:00`.
public enum Timecode {
    /// The longest timecode accepted: 10,000 hours.
    public static let maxMilliseconds: UInt64 = 10_000 * 3_600_000

    /// Milliseconds of `text`, nil when it is not a timecode or is longer than ``maxMilliseconds``.
    public static func parse(_ text: String) -> UInt64? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, (1...5).contains(parts[0].utf8.count), parts[1].utf8.count == 2 else { return nil }
        let secondsParts = parts[2].split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(secondsParts.count), secondsParts[0].utf8.count == 2 else { return nil }
        func digits(_ text: Substring) -> UInt64? {
            guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
            return UInt64(text)
        }
        guard let hours = digits(parts[0]), let minutes = digits(parts[1]), let seconds = digits(secondsParts[0]),
            minutes < 60, seconds < 60
        else { return nil }
        var millis: UInt64 = 0
        if secondsParts.count == 2 {
            let fraction = secondsParts[1]
            guard (1...3).contains(fraction.utf8.count), let value = digits(fraction) else { return nil }
            millis = value * [100, 10, 1][fraction.utf8.count - 1]
        }
        let total = ((hours * 60 + minutes) * 60 + seconds) * 1_000 + millis
        return total <= maxMilliseconds ? total : nil
    }

    /// `HH:MM:SS`, with `.mmm` when there is a fraction of a second.
    public static func format(_ milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1_000
        func two(_ value: UInt64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(two(seconds / 3_600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
        let fraction = milliseconds % 1_000
        if fraction != 0 { text += "." + String(String(fraction + 1_000).dropFirst()) }
        return text
    }
}

/// The rule for ids that clients choose or name in paths: video and content ids (1 to 128
/// bytes of UTF-8) and user ids (1 to 256, as a token's `sub`), with no control characters
/// and no `/`, so that they can stand in a path segment and fit in read-model keys.
///
/// Requests are parsed into the validated ids (``UserID``, ``VideoID``, ``ContentID``) at the
/// edge; the commands, deciders and the access policy take those and never check again.
public enum ClientIdentifier {
    /// The longest video or content id, in UTF-8 bytes.
    public static let maxBytes = 128

    /// Why `text` is not a valid id of at most `maxBytes` bytes, nil when it is one.
    public static func problem(_ text: String, maxBytes: Int = maxBytes) -> String? {
        guard !text.isEmpty else { return "must not be empty" }
        guard text.utf8.count <= maxBytes else { return "must be at most \(maxBytes) bytes" }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "/" }) else {
            return "must not contain control characters or '/'"
        }
        return nil
    }

    /// Checks an id read back from stored bytes (an event's payload).
    ///
    /// This guards the stored form, not a request: requests are parsed into ``ClientID``
    /// values, which have checked the rule already; a payload decoded from a log (an import
    /// of a doctored export, say) has been through no such value and is checked here.
    static func validate(_ text: String, field: String, maxBytes: Int = maxBytes) throws(DomainCodecError) {
        if let problem = problem(text, maxBytes: maxBytes) { throw DomainCodecError("\(field) \(problem)") }
    }
}

/// What kind of id a ``ClientID`` is: its longest form and the field that names it.
public protocol ClientIDKind: Sendable {
    /// The longest id of this kind, in UTF-8 bytes.
    static var maxBytes: Int { get }
    /// The request field that names an id of this kind, when the caller gives no other.
    static var field: String { get }
}

/// A client-supplied id that follows the ``ClientIdentifier`` rule: the only way to make one
/// is ``init(_:field:)``, which checks the rule, so whoever holds one need not check again.
///
/// Two ids are equal when their UTF-8 bytes are, as the read models key them (`String`'s `==`
/// would take two encodings of an accented id for one).
public struct ClientID<Kind: ClientIDKind>: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The id's text.
    public let text: String

    /// `text` as an id, named `field` in the refusal.
    ///
    /// - Throws: ``CommandError`` `invalid` when `text` is empty, longer than
    ///   `Kind.maxBytes` bytes of UTF-8, or holds a control character or `/`.
    public init(_ text: String, field: String = Kind.field) throws(CommandError) {
        if let problem = ClientIdentifier.problem(text, maxBytes: Kind.maxBytes) {
            throw CommandError(.invalid, "\(field) \(problem)", field: field)
        }
        self.text = text
    }

    public static func == (left: Self, right: Self) -> Bool { left.text.utf8.elementsEqual(right.text.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in text.utf8 { hasher.combine(byte) }
    }

    /// Byte order, as the read models keep ids.
    public static func < (left: Self, right: Self) -> Bool { left.text.utf8.lexicographicallyPrecedes(right.text.utf8) }

    public var description: String { text }
}

/// The kind of a user id: up to ``UserSessionEvents/maxUserIdBytes`` bytes, field `userId`.
public enum UserIDKind: ClientIDKind {
    public static var maxBytes: Int { UserSessionEvents.maxUserIdBytes }
    public static var field: String { "userId" }
}

/// The kind of a video id: up to ``ClientIdentifier/maxBytes`` bytes, field `videoId`.
public enum VideoIDKind: ClientIDKind {
    public static var maxBytes: Int { ClientIdentifier.maxBytes }
    public static var field: String { "videoId" }
}

/// The kind of a content id (what an interaction is with): up to
/// ``ClientIdentifier/maxBytes`` bytes, field `contentId`.
public enum ContentIDKind: ClientIDKind {
    public static var maxBytes: Int { ClientIdentifier.maxBytes }
    public static var field: String { "contentId" }
}

/// A validated user id (a token's `sub`, a path's or a body's `userId`).
public typealias UserID = ClientID<UserIDKind>
/// A validated video id.
public typealias VideoID = ClientID<VideoIDKind>
/// A validated content id.
public typealias ContentID = ClientID<ContentIDKind>

/// Seconds of a video watched, as a progress report gives them: a number from 0 to
/// ``VideoProgressEvents/maxWatchedSeconds``, whole seconds kept (the fraction dropped).
/// The only way to make one is ``init(seconds:field:)``, which checks the bound.
public struct WatchedDuration: Sendable, Hashable, Comparable {
    /// Whole seconds.
    public let seconds: UInt64

    /// `seconds` as a watched duration, named `field` in the refusal.
    ///
    /// - Throws: ``CommandError`` `invalid` when `seconds` is not finite, negative or above
    ///   ``VideoProgressEvents/maxWatchedSeconds``.
    public init(seconds: Double, field: String = "watchedDuration") throws(CommandError) {
        guard seconds.isFinite, seconds >= 0, seconds <= Double(VideoProgressEvents.maxWatchedSeconds) else {
            throw CommandError(.invalid, "\(field) must be a number of seconds from 0 to \(VideoProgressEvents.maxWatchedSeconds)", field: field)
        }
        self.seconds = UInt64(seconds.rounded(.down))
    }

    public static func < (left: Self, right: Self) -> Bool { left.seconds < right.seconds }
}

/// A closed set of values that clients name with strings (player events, interaction
/// types): the JSON form is the name, and an unknown name is an error that says so.
///
/// A conforming enum must implement `init(from:)` and `encode(to:)` itself, forwarding to
/// ``init(nameFrom:)`` and ``encodeName(to:)``. Default implementations in this protocol's
/// extension are not used for such an enum: the compiler synthesizes its own `Codable` for
/// an enum (`{"like":{}}`) in preference to them, which is how exports came to write that
/// form (issue 12). `Tests/WatchDomainTests/TextFormTests.swift` checks every case of every
/// such enum against the names in Docs/events.md.
public protocol NamedValue: CaseIterable, Codable, Hashable, Sendable {
    /// The name clients send and receive.
    var name: String { get }
}

extension NamedValue {
    /// Every name, in declaration order, for messages: `play, pause, seek`.
    public static var allNames: String { allCases.map(\.name).joined(separator: ", ") }

    /// The value a name stands for, nil for names Playhead does not know.
    public init?(name: String) {
        guard let value = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = value
    }

    /// Decodes the value from its name (`"like"`), or from the form that exports written by
    /// builds with the synthesized conformance have: an object whose one key is the Swift
    /// case name and whose value is an empty object (`{"like":{}}`, `{"rateChange":{}}`).
    ///
    /// - Throws: `DecodingError.dataCorrupted` for an unknown name, `typeMismatch` for any
    ///   other shape.
    public init(nameFrom decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer(), let name = try? container.decode(String.self) {
            guard let value = Self(name: name) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "unknown name \(name); expected one of \(Self.allNames)"
                )
            }
            self = value
            return
        }
        let context = DecodingError.Context(
            codingPath: decoder.codingPath,
            debugDescription: "expected one of \(Self.allNames) as a string"
        )
        guard let legacy = try? decoder.container(keyedBy: LegacyCaseKey.self), legacy.allKeys.count == 1,
            let key = legacy.allKeys.first,
            let value = Self.allCases.first(where: { String(describing: $0) == key.stringValue }),
            let inner = try? legacy.nestedContainer(keyedBy: LegacyCaseKey.self, forKey: key), inner.allKeys.isEmpty
        else {
            throw DecodingError.typeMismatch(String.self, context)
        }
        self = value
    }

    /// Encodes the value as its name: `"like"`.
    public func encodeName(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// Any key: the Swift case name of the older keyed form of a ``NamedValue``.
private struct LegacyCaseKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
