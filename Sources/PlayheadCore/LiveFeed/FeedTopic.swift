public import EventLog
public import Foundation

/// What a live-feed subscriber follows: a kind of topic and the id it is about, keyed by the
/// id's bytes (two spellings of one text, `zoë` precomposed and decomposed, are two topics,
/// as they are two users to the read models).
///
/// A user's progress is a topic today; a watch party's room is the next kind.
public struct FeedTopic: Hashable, Sendable, CustomStringConvertible {
    /// A kind of topic. The set can grow.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A user's progress in every video.
        public static let progress = Kind("progress")
        /// A watch party's room: its log entries as they are committed.
        public static let party = Kind("party")

        public var description: String { name }
    }

    /// The kind.
    public let kind: Kind
    /// The id's bytes.
    public let key: UTF8Key

    /// The topic of `kind` about the id `key`.
    public init(_ kind: Kind, _ key: UTF8Key) {
        self.kind = kind
        self.key = key
    }

    /// The progress of `userId`.
    public static func progress(of userId: String) -> FeedTopic { FeedTopic(.progress, UTF8Key(userId)) }

    /// The room of the party `partyId`.
    public static func party(_ partyId: UUID) -> FeedTopic { FeedTopic(.party, UTF8Key(partyId.uuidString.lowercased())) }

    public var description: String { "\(kind)/\(key)" }
}
