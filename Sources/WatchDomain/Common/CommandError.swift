/// Why a command (or a query on a caller's behalf) was refused: the one error type of the
/// domain and the application layer. The set of codes can grow; match on ``code``.
///
/// The same pattern as the log's `EventLogError`: a struct with an extensible ``Code``, a
/// message for people, and the input at fault when there is one.
public struct CommandError: Error, Hashable, CustomStringConvertible {
    /// What kind of refusal this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalid
            case notFound = "not found"
            case forbidden
            case conflict
            case unexpected
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An input is missing, malformed or out of range (``CommandError/field`` names it).
        public static let invalid = Code(.invalid)
        /// No such thing, or not the caller's to see (the two are not told apart).
        public static let notFound = Code(.notFound)
        /// The caller may not read or change what they named.
        public static let forbidden = Code(.forbidden)
        /// The thing's state forbids the change (a session that has ended or expired).
        public static let conflict = Code(.conflict)
        /// The command could not produce its outcome though nothing was refused: a broken
        /// invariant, never the caller's fault.
        public static let unexpected = Code(.unexpected)

        public var description: String { base.rawValue }
    }

    /// What kind of refusal.
    public var code: Code
    /// A message for people.
    public var message: String
    /// The input at fault (`userId`, `progressData[3].lastWatched`), when there is one.
    public var field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { message }
}
