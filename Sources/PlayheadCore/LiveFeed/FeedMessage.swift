public import WatchDomain

/// What a live-feed subscriber receives: domain values, presented by whoever serves the
/// subscriber (an SSE stream, a socket).
public enum FeedMessage: Sendable, Hashable {
    /// A user's merged progress in a video changed.
    case progress(MergedProgress)
    /// A user's progress in a video was deleted.
    case progressDeleted(userId: String, videoId: String)
    /// An entry of a party's log was committed (a join, leave, message or player action),
    /// with its event and video times.
    case partyEntry(PartyLogEntry)
    /// Nothing happened for a while (sent at the subscription's keep-alive interval).
    case keepAlive
    /// The feed ended the subscription; nothing follows.
    case ended(FeedEnd)
}

/// Why the feed ended a subscription.
public struct FeedEnd: Hashable, Sendable, CustomStringConvertible {
    /// The kinds of end. The set can grow.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The subscriber read too slowly: its queue filled up, and it was dropped rather
        /// than slow anyone else down.
        public static let fellBehind = Reason("fell behind")
        /// The feed could not read the log; the subscriber should subscribe again.
        public static let failed = Reason("failed")
        /// The feed stopped (the server is shutting down).
        public static let stopped = Reason("stopped")

        public var description: String { name }
    }

    /// The kind of end.
    public var reason: Reason
    /// What happened, for people.
    public var message: String

    /// Creates an end.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { message }
}
