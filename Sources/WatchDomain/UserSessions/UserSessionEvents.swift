public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The events of the user-sessions module. Each session is one stream,
/// `user-session/<session id>`, that begins with ``UserSessionStarted`` or
/// ``UserSessionRenewed``.
public enum UserSessionEvents {
    /// Every event type of the module.
    public static let all: [any DomainEvent.Type] = [
        UserSessionStarted.self,
        UserSessionRenewed.self,
        UserSessionHeartbeat.self,
        UserSessionEngagementChanged.self,
        UserSessionEnded.self,
        UserSessionExpired.self,
    ]

    /// The stream of one session.
    public static func stream(_ sessionID: UUID) -> String { "user-session/" + sessionID.uuidString.lowercased() }

    /// The longest user id, in UTF-8 bytes (a token's `sub` is held to the same).
    public static let maxUserIdBytes = 256
    /// The longest user agent kept, in UTF-8 bytes; a longer one is cut at a character boundary.
    public static let maxUserAgentBytes = 256

    static func validateUserId(_ userId: String) throws(DomainCodecError) {
        guard (1...maxUserIdBytes).contains(userId.utf8.count) else {
            throw DomainCodecError("userId must be 1 to \(maxUserIdBytes) bytes")
        }
    }

    /// `agent` cut to ``maxUserAgentBytes`` bytes without splitting a character.
    public static func truncatedUserAgent(_ agent: String) -> String {
        guard agent.utf8.count > maxUserAgentBytes else { return agent }
        var result = ""
        for character in agent {
            guard result.utf8.count + character.utf8.count <= maxUserAgentBytes else { break }
            result.append(character)
        }
        return result
    }
}

/// A user logged in and a session began.
///
/// Schema history: 1 `sessionId`, `userId`; 2 adds `userAgent`.
public struct UserSessionStarted: DomainEvent {
    public static let eventType = "user-session.started"
    public static let schemaVersion: UInt8 = 2
    /// The new session.
    public var sessionId: UUID
    /// Whose session it is.
    public var userId: String
    /// The client's `User-Agent`, when it sent one (schema 2).
    public var userAgent: String?

    /// Creates the event.
    public init(sessionId: UUID, userId: String, userAgent: String? = nil) {
        self.sessionId = sessionId
        self.userId = userId
        self.userAgent = userAgent
    }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func validate() throws(DomainCodecError) {
        try UserSessionEvents.validateUserId(userId)
        if let userAgent, userAgent.utf8.count > UserSessionEvents.maxUserAgentBytes {
            throw DomainCodecError("userAgent must be at most \(UserSessionEvents.maxUserAgentBytes) bytes")
        }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(userId)
        writer.writeOptional(userAgent) { $0.write($1) }
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        userId = try reader.readString()
        userAgent = version >= 2 ? try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() } : nil
    }
}

/// A heartbeat arrived after the previous session had expired, and a new session took
/// its place; the first event of the new session's stream.
///
/// Schema history: 1 `sessionId`, `userId`, `previousSessionId`.
public struct UserSessionRenewed: DomainEvent {
    public static let eventType = "user-session.renewed"
    public static let schemaVersion: UInt8 = 1
    /// The new session.
    public var sessionId: UUID
    /// Whose session it is.
    public var userId: String
    /// The expired session it replaces.
    public var previousSessionId: UUID

    /// Creates the event.
    public init(sessionId: UUID, userId: String, previousSessionId: UUID) {
        self.sessionId = sessionId
        self.userId = userId
        self.previousSessionId = previousSessionId
    }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func validate() throws(DomainCodecError) { try UserSessionEvents.validateUserId(userId) }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(userId)
        writer.write(previousSessionId)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        userId = try reader.readString()
        previousSessionId = try reader.readUUID()
    }
}

/// The session's client showed it is still there; its recorded-at time is the new last activity.
///
/// Schema history: 1 `sessionId`.
public struct UserSessionHeartbeat: DomainEvent {
    public static let eventType = "user-session.heartbeat"
    public static let schemaVersion: UInt8 = 1
    /// The session.
    public var sessionId: UUID

    /// Creates the event.
    public init(sessionId: UUID) { self.sessionId = sessionId }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func encodeFields(to writer: inout BinaryWriter) { writer.write(sessionId) }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
    }
}

/// The user's engagement with content was set for the session.
///
/// Schema history: 1 `sessionId`, `engaged`.
public struct UserSessionEngagementChanged: DomainEvent {
    public static let eventType = "user-session.engagement-changed"
    public static let schemaVersion: UInt8 = 1
    /// The session.
    public var sessionId: UUID
    /// Whether the user engaged with content.
    public var engaged: Bool

    /// Creates the event.
    public init(sessionId: UUID, engaged: Bool) {
        self.sessionId = sessionId
        self.engaged = engaged
    }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(engaged)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        engaged = try reader.readBool()
    }
}

/// The user ended the session (logout).
///
/// Schema history: 1 `sessionId`.
public struct UserSessionEnded: DomainEvent {
    public static let eventType = "user-session.ended"
    public static let schemaVersion: UInt8 = 1
    /// The session.
    public var sessionId: UUID

    /// Creates the event.
    public init(sessionId: UUID) { self.sessionId = sessionId }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func encodeFields(to writer: inout BinaryWriter) { writer.write(sessionId) }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
    }
}

/// The session went without activity for longer than the timeout and was found so by a
/// heartbeat; ``renewedBy`` names the session that replaced it.
///
/// Schema history: 1 `sessionId`, `lastActiveAt`, `renewedBy`.
public struct UserSessionExpired: DomainEvent {
    public static let eventType = "user-session.expired"
    public static let schemaVersion: UInt8 = 1
    /// The session.
    public var sessionId: UUID
    /// Its last activity, for readers of the event alone.
    public var lastActiveAt: Timestamp
    /// The session that replaced it, if any.
    public var renewedBy: UUID?

    /// Creates the event.
    public init(sessionId: UUID, lastActiveAt: Timestamp, renewedBy: UUID?) {
        self.sessionId = sessionId
        self.lastActiveAt = lastActiveAt
        self.renewedBy = renewedBy
    }

    public var stream: String { UserSessionEvents.stream(sessionId) }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(sessionId)
        writer.write(lastActiveAt)
        writer.writeOptional(renewedBy) { $0.write($1) }
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        sessionId = try reader.readUUID()
        lastActiveAt = try reader.readTimestamp()
        renewedBy = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUUID() }
    }

    private enum CodingKeys: String, CodingKey { case sessionId, lastActiveAt, renewedBy }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sessionId = try container.decode(UUID.self, forKey: .sessionId)
        let text = try container.decode(String.self, forKey: .lastActiveAt)
        guard let time = ISO8601Micros.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .lastActiveAt, in: container, debugDescription: "not an ISO 8601 UTC time")
        }
        lastActiveAt = time
        renewedBy = try container.decodeIfPresent(UUID.self, forKey: .renewedBy)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sessionId, forKey: .sessionId)
        try container.encode(ISO8601Micros.format(lastActiveAt), forKey: .lastActiveAt)
        try container.encodeIfPresent(renewedBy, forKey: .renewedBy)
    }
}
