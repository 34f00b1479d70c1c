public import EventLog

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The events of the content-interactions module: each user's interactions are one stream,
/// `interactions/<userId>`.
public enum InteractionEvents {
    /// Every event type of the module.
    public static let all: [any DomainEvent.Type] = [InteractionTracked.self]

    /// The stream of a user's interactions.
    public static func stream(_ userId: String) -> String { "interactions/" + userId }

    /// The longest mood, in characters (the spec's `VARCHAR(50)`).
    public static let maxMoodCharacters = 50
    /// The longest context, in UTF-8 bytes.
    public static let maxContextBytes = 1_000
    /// The longest notes, in UTF-8 bytes.
    public static let maxNotesBytes = 4_000
    /// The longest content type, in UTF-8 bytes.
    public static let maxContentTypeBytes = 64
    /// The longest interaction duration, in seconds (10,000 hours).
    public static let maxDurationSeconds: Int64 = 36_000_000
}

/// How a user interacted with content.
public enum InteractionType: UInt8, NamedValue {
    /// Liked it.
    case like = 0
    /// Disliked it.
    case dislike = 1
    /// Saved it for later.
    case save = 2
    /// Shared it.
    case share = 3
    /// Skipped it.
    case skip = 4
    /// Played it.
    case play = 5
    /// Finished it.
    case complete = 6
    /// Rated it (`interactionValue` is the rating).
    case rate = 7
    /// Viewed its page.
    case view = 8

    /// The name clients send and receive.
    public var name: String {
        switch self {
        case .like: "like"
        case .dislike: "dislike"
        case .save: "save"
        case .share: "share"
        case .skip: "skip"
        case .play: "play"
        case .complete: "complete"
        case .rate: "rate"
        case .view: "view"
        }
    }

    /// Decodes the name (see ``NamedValue/init(nameFrom:)``).
    public init(from decoder: any Decoder) throws { try self.init(nameFrom: decoder) }

    /// Encodes the name.
    public func encode(to encoder: any Encoder) throws { try encodeName(to: encoder) }
}

/// What a tracking request says about one interaction, beyond who, what and how.
public struct InteractionDetails: Sendable, Hashable, Codable {
    /// A value, e.g. a rating, 1 to 10.
    public var interactionValue: Int64?
    /// The user's mood, at most 50 characters.
    public var moodAtInteraction: String?
    /// How strong the mood was, 1 to 10.
    public var moodIntensityAtInteraction: Int64?
    /// How long the interaction lasted, in seconds (at least 0).
    public var interactionDurationSeconds: Int64?
    /// Where it happened ("evening relaxation").
    public var context: String?
    /// Free text.
    public var notes: String?
    /// The kind of content ("movies", "series"), for the content-type preference.
    public var contentType: String?

    /// Creates details.
    public init(
        interactionValue: Int64? = nil,
        moodAtInteraction: String? = nil,
        moodIntensityAtInteraction: Int64? = nil,
        interactionDurationSeconds: Int64? = nil,
        context: String? = nil,
        notes: String? = nil,
        contentType: String? = nil
    ) {
        self.interactionValue = interactionValue
        self.moodAtInteraction = moodAtInteraction
        self.moodIntensityAtInteraction = moodIntensityAtInteraction
        self.interactionDurationSeconds = interactionDurationSeconds
        self.context = context
        self.notes = notes
        self.contentType = contentType
    }

    /// The first field that breaks a rule, with why; nil when all hold.
    public func problem() -> (field: String, message: String)? {
        if let value = interactionValue, !(1...10).contains(value) { return ("interactionValue", "interactionValue must be 1 to 10") }
        // Characters, as the spec's VARCHAR(50) counts them, and bytes, since one character
        // may carry any number of combining marks.
        if let mood = moodAtInteraction,
            mood.isEmpty || mood.utf8.count > 4 * InteractionEvents.maxMoodCharacters
                || mood.count > InteractionEvents.maxMoodCharacters
        {
            return ("moodAtInteraction", "moodAtInteraction must be 1 to \(InteractionEvents.maxMoodCharacters) characters")
        }
        if let intensity = moodIntensityAtInteraction, !(1...10).contains(intensity) {
            return ("moodIntensityAtInteraction", "moodIntensityAtInteraction must be 1 to 10")
        }
        if let duration = interactionDurationSeconds, !(0...InteractionEvents.maxDurationSeconds).contains(duration) {
            return ("interactionDurationSeconds", "interactionDurationSeconds must be 0 to \(InteractionEvents.maxDurationSeconds)")
        }
        if let context, context.utf8.count > InteractionEvents.maxContextBytes {
            return ("context", "context must be at most \(InteractionEvents.maxContextBytes) bytes")
        }
        if let notes, notes.utf8.count > InteractionEvents.maxNotesBytes {
            return ("notes", "notes must be at most \(InteractionEvents.maxNotesBytes) bytes")
        }
        if let contentType, contentType.isEmpty || contentType.utf8.count > InteractionEvents.maxContentTypeBytes {
            return ("contentType", "contentType must be 1 to \(InteractionEvents.maxContentTypeBytes) bytes")
        }
        return nil
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeOptional(interactionValue) { $0.write($1) }
        writer.writeOptional(moodAtInteraction) { $0.write($1) }
        writer.writeOptional(moodIntensityAtInteraction) { $0.write($1) }
        writer.writeOptional(interactionDurationSeconds) { $0.write($1) }
        writer.writeOptional(context) { $0.write($1) }
        writer.writeOptional(notes) { $0.write($1) }
        writer.writeOptional(contentType) { $0.write($1) }
    }

    init(from reader: inout BinaryReader) throws(DomainCodecError) {
        func text() throws(DomainCodecError) -> String? { try reader.readOptional { reader throws(DomainCodecError) in try reader.readString() } }
        func number() throws(DomainCodecError) -> Int64? { try reader.readOptional { reader throws(DomainCodecError) in try reader.readInt() } }
        interactionValue = try number()
        moodAtInteraction = try text()
        moodIntensityAtInteraction = try number()
        interactionDurationSeconds = try number()
        context = try text()
        notes = try text()
        contentType = try text()
    }
}

/// A user interacted with content. Tracking the same user, content and type again is
/// another event for the same interaction (`interactionId`): the read models keep its
/// latest details and how often it was tracked.
///
/// Schema history: 1 `interactionId`, `userId`, `contentId`, `interactionType`, the details.
public struct InteractionTracked: DomainEvent {
    public static let eventType = "interaction.tracked"
    public static let schemaVersion: UInt8 = 1
    /// The interaction: the same for every tracking of one user, content and type.
    public var interactionId: UUID
    /// Who.
    public var userId: String
    /// What content.
    public var contentId: String
    /// How.
    public var interactionType: InteractionType
    /// The rest of what was tracked.
    public var details: InteractionDetails

    /// Creates the event.
    public init(interactionId: UUID, userId: String, contentId: String, interactionType: InteractionType, details: InteractionDetails) {
        self.interactionId = interactionId
        self.userId = userId
        self.contentId = contentId
        self.interactionType = interactionType
        self.details = details
    }

    public var stream: String { InteractionEvents.stream(userId) }

    public func validate() throws(DomainCodecError) {
        try ClientIdentifier.validate(userId, field: "userId", maxBytes: UserSessionEvents.maxUserIdBytes)
        try ClientIdentifier.validate(contentId, field: "contentId")
        if let problem = details.problem() { throw DomainCodecError(problem.message) }
    }

    public func encodeFields(to writer: inout BinaryWriter) {
        writer.write(interactionId)
        writer.write(userId)
        writer.write(contentId)
        writer.write(interactionType.rawValue)
        details.encode(to: &writer)
    }

    public init(fieldsFrom reader: inout BinaryReader, version: UInt8) throws(DomainCodecError) {
        interactionId = try reader.readUUID()
        userId = try reader.readString()
        contentId = try reader.readString()
        let raw = try reader.readByte()
        guard let type = InteractionType(rawValue: raw) else { throw DomainCodecError("unknown interaction type \(raw)") }
        interactionType = type
        details = try InteractionDetails(from: &reader)
    }
}

/// One interaction (a user, a content, a type) as the read models keep it.
public struct Interaction: Sendable, Hashable {
    /// Its id.
    public var interactionId: UUID
    /// Who.
    public var userId: String
    /// What content.
    public var contentId: String
    /// How.
    public var interactionType: InteractionType
    /// The latest tracking's details.
    public var details: InteractionDetails
    /// How many times it was tracked.
    public var count: UInt64
    /// When it was first tracked (server clock).
    public var createdAt: Timestamp
    /// When it was last tracked (server clock).
    public var updatedAt: Timestamp
    /// The log position of its first tracking, which orders interactions created in the same microsecond.
    public var position: UInt64

    /// The interaction a first tracking makes.
    public init(_ event: InteractionTracked, at: Timestamp, position: UInt64) {
        interactionId = event.interactionId
        userId = event.userId
        contentId = event.contentId
        interactionType = event.interactionType
        details = event.details
        count = 1
        createdAt = at
        updatedAt = at
        self.position = position
    }

    /// The stored form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 96)
        writer.write(UInt8(1))
        writer.write(interactionId)
        writer.write(userId)
        writer.write(contentId)
        writer.write(interactionType.rawValue)
        details.encode(to: &writer)
        writer.write(count)
        writer.write(createdAt)
        writer.write(updatedAt)
        writer.write(position)
        return writer.bytes
    }

    /// Reads the stored form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(DomainCodecError) {
        var reader = BinaryReader(bytes)
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown interaction row version") }
        interactionId = try reader.readUUID()
        userId = try reader.readString()
        contentId = try reader.readString()
        let raw = try reader.readByte()
        guard let type = InteractionType(rawValue: raw) else { throw DomainCodecError("unknown interaction type \(raw)") }
        interactionType = type
        details = try InteractionDetails(from: &reader)
        count = try reader.readUInt()
        createdAt = try reader.readTimestamp()
        updatedAt = try reader.readTimestamp()
        position = try reader.readUInt()
    }
}

/// Decides the events of content-interaction commands. Pure.
public enum InteractionDecider {
    /// Tracks an interaction of `userId` with `contentId`; `existing` is the read model's
    /// interaction for the same user, content and type (its id is kept), `newId` makes the
    /// id of a first tracking.
    public static func track(
        userId: UserID,
        contentId: ContentID,
        type: InteractionType,
        details: InteractionDetails,
        caller: Caller,
        existing: Interaction?,
        newId: () -> UUID
    ) throws(CommandError) -> InteractionTracked {
        guard caller.mayAccess(userId.text) else {
            throw CommandError(.forbidden, "you may only track your own interactions", field: "userId")
        }
        if let problem = details.problem() { throw CommandError(.invalid, problem.message, field: problem.field) }
        return InteractionTracked(
            interactionId: existing?.interactionId ?? newId(),
            userId: userId.text,
            contentId: contentId.text,
            interactionType: type,
            details: details
        )
    }
}
