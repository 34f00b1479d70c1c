/// Who sends a command or a query: the authenticated user.
public struct Caller: Sendable, Hashable {
    /// The user's id (the token's `sub`).
    public var userId: String
    /// Whether the user is an administrator, who may read and change everyone's data.
    public var isAdmin: Bool

    /// Creates a caller.
    public init(userId: String, isAdmin: Bool = false) {
        self.userId = userId
        self.isAdmin = isAdmin
    }

    /// Whether the caller may read or change what belongs to `owner`. Ids are compared byte
    /// for byte, as the read models key them: `String`'s `==` would take two different
    /// encodings of an accented id for the same user.
    public func mayAccess(_ owner: String) -> Bool { isAdmin || owner.utf8.elementsEqual(userId.utf8) }
}
