public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One user session as the read models keep it: the fold of its stream.
public struct UserSession: Sendable, Hashable {
    /// How a session stands by its events alone; ``UserSession/isActive(at:timeout:)``
    /// adds the clock.
    public enum Status: UInt8, Sendable, Hashable {
        /// Started or renewed, neither ended nor found expired.
        case active = 0
        /// Ended by its user.
        case ended = 1
        /// Found expired by a heartbeat after the timeout.
        case expired = 2
    }

    /// The session's id.
    public var sessionId: UUID
    /// Whose session it is.
    public var userId: String
    /// When it started (the recorded-at of its first event).
    public var startedAt: Timestamp
    /// Its last activity: the recorded-at of its newest start, renewal or heartbeat.
    public var lastActiveAt: Timestamp
    /// Whether the user engaged with content during it.
    public var contentEngaged: Bool
    /// How it stands by its events.
    public var status: Status
    /// When it ended or was found expired.
    public var closedAt: Timestamp?
    /// The expired session it replaced, when it was a renewal.
    public var renewedFrom: UUID?
    /// The session that replaced it, when it expired and was renewed.
    public var renewedBy: UUID?
    /// How many heartbeats it received.
    public var heartbeats: UInt64
    /// The client's `User-Agent` at the start, if known.
    public var userAgent: String?

    /// Creates a session row.
    public init(
        sessionId: UUID,
        userId: String,
        startedAt: Timestamp,
        lastActiveAt: Timestamp? = nil,
        contentEngaged: Bool = false,
        status: Status = .active,
        closedAt: Timestamp? = nil,
        renewedFrom: UUID? = nil,
        renewedBy: UUID? = nil,
        heartbeats: UInt64 = 0,
        userAgent: String? = nil
    ) {
        self.sessionId = sessionId
        self.userId = userId
        self.startedAt = startedAt
        self.lastActiveAt = lastActiveAt ?? startedAt
        self.contentEngaged = contentEngaged
        self.status = status
        self.closedAt = closedAt
        self.renewedFrom = renewedFrom
        self.renewedBy = renewedBy
        self.heartbeats = heartbeats
        self.userAgent = userAgent
    }

    /// Whether the session counts as active at `now`: not closed by an event and with
    /// activity within `timeout` (inclusive).
    public func isActive(at now: Timestamp, timeout: Duration) -> Bool {
        status == .active && now.microsecondsSince1970 - lastActiveAt.microsecondsSince1970 <= timeout.microseconds
    }

    /// From start to last activity.
    public var duration: Duration {
        .microseconds(lastActiveAt.microsecondsSince1970 - startedAt.microsecondsSince1970)
    }

    /// The row's stored form: a version byte, then the two fields every heartbeat changes at
    /// fixed offsets (last activity and heartbeat count, 8 bytes little-endian each, so that
    /// ``recordActivity(in:at:)`` patches them in place), then the rest.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 80 + userId.utf8.count)
        writer.write(UInt8(1))
        writer.writeFixed(UInt64(bitPattern: lastActiveAt.microsecondsSince1970))
        writer.writeFixed(heartbeats)
        writer.write(sessionId)
        writer.write(userId)
        writer.write(startedAt)
        writer.write(contentEngaged)
        writer.write(status.rawValue)
        writer.writeOptional(closedAt) { $0.write($1) }
        writer.writeOptional(renewedFrom) { $0.write($1) }
        writer.writeOptional(renewedBy) { $0.write($1) }
        writer.writeOptional(userAgent) { $0.write($1) }
        return writer.bytes
    }

    /// Records a heartbeat at `time` in a stored row without decoding it: sets the last
    /// activity and adds one to the heartbeat count.
    public static func recordActivity(in row: inout [UInt8], at time: Timestamp) throws(DomainCodecError) {
        guard row.count >= 17, row[0] == 1 else { throw DomainCodecError("not a user-session row") }
        row.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: UInt64(bitPattern: time.microsecondsSince1970).littleEndian, toByteOffset: 1, as: UInt64.self)
            let count = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 9, as: UInt64.self))
            bytes.storeBytes(of: (count &+ 1).littleEndian, toByteOffset: 9, as: UInt64.self)
        }
    }

    /// Reads a stored row.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown user-session row version") }
        lastActiveAt = Timestamp(microsecondsSince1970: Int64(bitPattern: try reader.readFixedUInt64()))
        heartbeats = try reader.readFixedUInt64()
        sessionId = try reader.readUUID()
        userId = try reader.readString()
        startedAt = try reader.readTimestamp()
        contentEngaged = try reader.readBool()
        guard let status = Status(rawValue: try reader.readByte()) else { throw DomainCodecError("unknown session status") }
        self.status = status
        closedAt = try reader.readOptional { reader throws(DomainCodecError) in try reader.readTimestamp() }
        renewedFrom = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUUID() }
        renewedBy = try reader.readOptional { reader throws(DomainCodecError) in try reader.readUUID() }
        userAgent = try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() }
    }
}

extension Duration {
    /// The duration in whole microseconds (rounded toward zero).
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

/// Decides the events of user-session commands from the session's current row. Pure: the
/// clock's reading and any new id come in as arguments.
public enum UserSessionDecider {
    /// What a heartbeat found.
    public enum HeartbeatOutcome: Sendable, Hashable {
        /// The session is active; its last activity moved to now.
        case active
        /// The session had expired; `newSessionId` replaces it.
        case renewed(newSessionId: UUID)
        /// The session was ended by its user: the client must log in again.
        case expired
    }

    /// What ending a session did.
    public enum EndOutcome: Sendable, Hashable {
        /// The session is now ended.
        case ended
        /// It had already ended or expired; nothing changed.
        case alreadyClosed(UserSession.Status)
    }

    /// Starts a session for `userId`.
    public static func start(sessionId: UUID, userId: String, userAgent: String?) -> UserSessionStarted {
        UserSessionStarted(sessionId: sessionId, userId: userId, userAgent: userAgent.map(UserSessionEvents.truncatedUserAgent))
    }

    /// A heartbeat on `session`: active within `timeout`, renewed past it as a session whose
    /// id `newSessionId` makes (called only then), expired when its user ended it. A
    /// heartbeat on a session that was already renewed answers that renewal again, so a
    /// retried heartbeat gets the same new session.
    public static func heartbeat(
        _ session: UserSession?,
        sessionId: UUID,
        caller: Caller,
        now: Timestamp,
        timeout: Duration,
        newSessionId: () -> UUID
    ) throws(CommandError) -> (events: [any DomainEvent], outcome: HeartbeatOutcome) {
        let session = try owned(session, sessionId, by: caller)
        switch session.status {
        case .ended:
            return ([], .expired)
        case .expired:
            if let renewedBy = session.renewedBy { return ([], .renewed(newSessionId: renewedBy)) }
            return ([], .expired)
        case .active:
            if session.isActive(at: now, timeout: timeout) {
                return ([UserSessionHeartbeat(sessionId: sessionId)], .active)
            }
            let newSessionId = newSessionId()
            return (
                [
                    UserSessionExpired(sessionId: sessionId, lastActiveAt: session.lastActiveAt, renewedBy: newSessionId),
                    UserSessionRenewed(sessionId: newSessionId, userId: session.userId, previousSessionId: sessionId),
                ],
                .renewed(newSessionId: newSessionId)
            )
        }
    }

    /// Ends `session`; ending a closed session changes nothing.
    public static func end(
        _ session: UserSession?,
        sessionId: UUID,
        caller: Caller
    ) throws(CommandError) -> (events: [any DomainEvent], outcome: EndOutcome) {
        let session = try owned(session, sessionId, by: caller)
        guard session.status == .active else { return ([], .alreadyClosed(session.status)) }
        return ([UserSessionEnded(sessionId: sessionId)], .ended)
    }

    /// Sets the content-engaged flag of an active session (no event when it already has that value).
    public static func setEngaged(
        _ engaged: Bool,
        _ session: UserSession?,
        sessionId: UUID,
        caller: Caller,
        now: Timestamp,
        timeout: Duration
    ) throws(CommandError) -> [any DomainEvent] {
        let session = try owned(session, sessionId, by: caller)
        guard session.isActive(at: now, timeout: timeout) else {
            throw CommandError(.conflict, "session \(sessionId.uuidString.lowercased()) is no longer active")
        }
        guard session.contentEngaged != engaged else { return [] }
        return [UserSessionEngagementChanged(sessionId: sessionId, engaged: engaged)]
    }

    private static func owned(_ session: UserSession?, _ sessionId: UUID, by caller: Caller) throws(CommandError) -> UserSession {
        guard let session, caller.mayAccess(session.userId) else {
            throw CommandError(.notFound, "no session \(sessionId.uuidString.lowercased())")
        }
        return session
    }
}
