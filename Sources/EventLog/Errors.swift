/// An error from the event log. The set of codes can grow; match on ``code``.
public struct EventLogError: Error, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidRequest = "invalid request"
            case overloaded
            case closed
            case storage
            case notALog = "not a Playhead log"
            case newerFormat = "newer format"
            case recordedAtWentBack = "recorded-at went back"
            case alreadyOpen = "already open"
            case damaged
            case unavailable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request breaks a rule (an empty batch, an oversized field); nothing was written.
        public static let invalidRequest = Code(.invalidRequest)
        /// The submission queue was full and the log is configured to refuse rather than wait.
        public static let overloaded = Code(.overloaded)
        /// The log has been closed.
        public static let closed = Code(.closed)
        /// LMDB or the file system failed (a full disk, an I/O error); the batch was not written.
        public static let storage = Code(.storage)
        /// The directory holds something that is not a Playhead log.
        public static let notALog = Code(.notALog)
        /// The log was written by a newer Playhead with a format this build cannot read.
        public static let newerFormat = Code(.newerFormat)
        /// An imported event's recorded-at time is earlier than the last one in the log.
        public static let recordedAtWentBack = Code(.recordedAtWentBack)
        /// This process already has the log open: share that instance (LMDB forbids opening
        /// one environment twice in a process).
        public static let alreadyOpen = Code(.alreadyOpen)
        /// The log's data file is damaged (truncated, or a page LMDB cannot read): it is not
        /// opened. `playhead verify` names the damage; Docs/operations.md, "A damaged log",
        /// says what to do.
        public static let damaged = Code(.damaged)
        /// The log's database cannot be reached (a PostgreSQL log whose server is down or
        /// restarting, or whose connection was lost). Transient: retry. When it happened at a
        /// commit, the message says the batch may or may not have been written.
        public static let unavailable = Code(.unavailable)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, for people.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// An append whose expected stream version did not match: nothing of the batch was written.
public struct WrongExpectedVersionError: Error, Hashable, CustomStringConvertible {
    /// The stream whose version did not match.
    public var stream: String
    /// What the request expected.
    public var expected: ExpectedVersion
    /// The stream's version when the batch was checked.
    public var actual: UInt64

    /// Creates a conflict error.
    public init(stream: String, expected: ExpectedVersion, actual: UInt64) {
        self.stream = stream
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        "wrong expected version for stream '\(stream)': expected \(expected), actual version \(actual)"
    }
}
