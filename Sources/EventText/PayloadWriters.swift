import EventLog
import Foundation
import LMDBLog
import WatchDomain

/// The JSON form of each domain event's payload, written by hand: what its `Codable` form
/// writes with sorted keys (Docs/events.md), without building it through an `Encoder`,
/// which cost ten times as much. An event type without a writer here is written through
/// ``SortedJSONEncoder``. `Tests/EventTextTests/EventLineTests.swift` checks both against
/// the `Codable` form on every event type, and that every type has a writer.
enum PayloadWriters {
    /// The writer of each event type, by name: it decodes the stored payload, appends the
    /// JSON and returns true, or returns false (leaving `out` as it was) when the payload
    /// does not decode or holds a value JSON can't show (a non-finite number).
    static let byName: [String: @Sendable (UnsafeRawBufferPointer, inout [UInt8]) -> Bool] = {
        var writers: [String: @Sendable (UnsafeRawBufferPointer, inout [UInt8]) -> Bool] = [:]
        func add<Event: DomainEvent>(_ type: Event.Type, _ write: @escaping @Sendable (Event, inout JSONObjectWriter) -> Void) {
            writers[Event.eventType] = { payload, out in
                guard let event = try? Event.decode(payload) else { return false }
                let start = out.count
                var object = JSONObjectWriter(out: out)
                out = []
                object.begin()
                write(event, &object)
                object.end()
                out = object.out
                if object.failed {
                    out.removeSubrange(start...)
                    return false
                }
                return true
            }
        }
        add(UserSessionStarted.self) { event, json in
            json.field("sessionId", upperUUID: event.sessionId)
            json.field("userAgent", event.userAgent)
            json.field("userId", event.userId)
        }
        add(UserSessionRenewed.self) { event, json in
            json.field("previousSessionId", upperUUID: event.previousSessionId)
            json.field("sessionId", upperUUID: event.sessionId)
            json.field("userId", event.userId)
        }
        add(UserSessionHeartbeat.self) { event, json in json.field("sessionId", upperUUID: event.sessionId) }
        add(UserSessionEngagementChanged.self) { event, json in
            json.field("engaged", event.engaged)
            json.field("sessionId", upperUUID: event.sessionId)
        }
        add(UserSessionEnded.self) { event, json in json.field("sessionId", upperUUID: event.sessionId) }
        add(UserSessionExpired.self) { event, json in
            json.field("lastActiveAt", time: event.lastActiveAt)
            json.field("renewedBy", upperUUID: event.renewedBy)
            json.field("sessionId", upperUUID: event.sessionId)
        }
        add(WatchSessionStarted.self) { event, json in
            json.field("actualTimeWatchedMillis", event.actualTimeWatchedMillis)
            json.field("endTime", time: event.endTime?.timestamp)
            json.field("isGuest", event.isGuest)
            json.field("percentageWatched", event.percentageWatched)
            json.field("sessionId", upperUUID: event.sessionId)
            json.field("startTime", time: event.startTime.timestamp)
            json.field("userId", event.userId)
            json.key("userMetadata")
            json.begin()
            let metadata = event.userMetadata
            json.field("browser", metadata.browser)
            json.field("device", metadata.device)
            json.field("deviceType", metadata.deviceType)
            json.field("ipAddress", metadata.ipAddress)
            json.field("os", metadata.os)
            json.field("userAgent", metadata.userAgent)
            json.end()
            json.field("userSessionId", upperUUID: event.userSessionId)
            json.field("videoId", event.videoId)
        }
        add(WatchSessionUpdated.self) { event, json in
            json.field("actualTimeWatchedMillis", event.actualTimeWatchedMillis)
            json.field("endTime", time: event.endTime?.timestamp)
            json.field("percentageWatched", event.percentageWatched)
            json.field("sessionId", upperUUID: event.sessionId)
        }
        add(PlayerEventRecorded.self) { event, json in
            json.key("event")
            json.begin()
            json.field("event", event.event.event.name)
            json.field("eventTime", time: event.event.eventTime.timestamp)
            json.field("videoTimeMillis", event.event.videoTimeMillis)
            json.end()
            json.field("sessionId", upperUUID: event.sessionId)
        }
        add(WatchSessionDeleted.self) { event, json in json.field("sessionId", upperUUID: event.sessionId) }
        add(VideoRegistered.self) { event, json in
            json.field("completionThreshold", event.completionThreshold)
            json.field("durationMillis", event.durationMillis)
            json.field("title", event.title)
            json.field("videoId", event.videoId)
        }
        add(ProgressRecorded.self) { event, json in
            json.field("lastWatched", time: event.lastWatched.timestamp)
            json.field("source", UInt64(event.source.rawValue))
            json.field("userId", event.userId)
            json.field("videoDurationMillis", event.videoDurationMillis)
            json.field("videoId", event.videoId)
            json.field("watchedDuration", event.watchedDuration)
        }
        add(ProgressDeleted.self) { event, json in
            json.field("userId", event.userId)
            json.field("videoId", event.videoId)
        }
        add(InteractionTracked.self) { event, json in
            json.field("contentId", event.contentId)
            json.key("details")
            json.begin()
            let details = event.details
            json.field("contentType", details.contentType)
            json.field("context", details.context)
            json.field("interactionDurationSeconds", details.interactionDurationSeconds)
            json.field("interactionValue", details.interactionValue)
            json.field("moodAtInteraction", details.moodAtInteraction)
            json.field("moodIntensityAtInteraction", details.moodIntensityAtInteraction)
            json.field("notes", details.notes)
            json.end()
            json.field("interactionId", upperUUID: event.interactionId)
            json.field("interactionType", event.interactionType.name)
            json.field("userId", event.userId)
        }
        @Sendable func ticket(_ ticket: TicketDefinition, _ json: inout JSONObjectWriter) {
            json.key("ticket")
            json.begin()
            json.field("description", ticket.description)
            json.field("isVoucher", ticket.isVoucher)
            json.field("name", ticket.name)
            json.key("price")
            json.begin()
            json.field("currency", ticket.price.currency)
            json.field("hundredths", ticket.price.hundredths)
            json.end()
            json.end()
        }
        @Sendable func schedule(_ schedule: PartySchedule, _ json: inout JSONObjectWriter) {
            json.key("schedule")
            json.begin()
            json.field("endTime", time: schedule.endTime.timestamp)
            json.field("isFeatured", schedule.isFeatured)
            json.field("maxParticipants", schedule.maxParticipants)
            json.field("movieDurationMillis", schedule.movieDurationMillis)
            json.field("movieId", schedule.movieId)
            json.field("startTime", time: schedule.startTime.timestamp)
            json.end()
        }
        add(TicketCreated.self) { event, json in
            ticket(event.ticket, &json)
            json.field("ticketId", upperUUID: event.ticketId)
        }
        add(TicketChanged.self) { event, json in
            ticket(event.ticket, &json)
            json.field("ticketId", upperUUID: event.ticketId)
        }
        add(WatchPartyScheduled.self) { event, json in
            json.field("partyId", upperUUID: event.partyId)
            schedule(event.schedule, &json)
        }
        add(WatchPartyChanged.self) { event, json in
            json.field("partyId", upperUUID: event.partyId)
            schedule(event.schedule, &json)
        }
        add(WatchPartyCancelled.self) { event, json in json.field("partyId", upperUUID: event.partyId) }
        add(WatchPartyStarted.self) { event, json in
            json.field("partyId", upperUUID: event.partyId)
            json.field("startTime", time: event.startTime.timestamp)
        }
        add(WatchPartyFinished.self) { event, json in
            json.field("endTime", time: event.endTime.timestamp)
            json.field("partyId", upperUUID: event.partyId)
        }
        add(TicketPurchased.self) { event, json in
            json.field("idempotencyKey", event.idempotencyKey)
            json.field("partyId", upperUUID: event.partyId)
            json.field("purchaseId", upperUUID: event.purchaseId)
            json.field("ticketId", upperUUID: event.ticketId)
            json.field("userId", event.userId)
        }
        add(PartyLogged.self) { event, json in
            json.field("entryId", upperUUID: event.entryId)
            json.field("eventType", event.eventType.name)
            json.field("message", event.message)
            json.field("partyId", upperUUID: event.partyId)
            json.field("userId", event.userId)
            json.field("username", event.username)
            json.field("videoTimeMillis", event.videoTimeMillis)
        }
        return writers
    }()
}

/// Writes a JSON object whose keys the caller gives in sorted order, leaving out absent
/// optionals, as the payloads' `Codable` form with sorted keys has them.
struct JSONObjectWriter {
    var out: [UInt8]
    /// Set when a value could not be written (a non-finite number).
    private(set) var failed = false
    private var first = true

    init(out: [UInt8]) { self.out = out }

    mutating func begin() {
        out.append(UInt8(ascii: "{"))
        first = true
    }

    mutating func end() {
        out.append(UInt8(ascii: "}"))
        first = false
    }

    /// `"name":`, after a comma unless it is the object's first key.
    mutating func key(_ name: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONBytes.appendQuoted(value, to: &out)
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func field(_ name: StaticString, _ value: UInt64?) {
        guard let value else { return }
        key(name)
        JSONBytes.appendDecimal(value, to: &out)
    }

    mutating func field(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        JSONBytes.appendDecimal(value, to: &out)
    }

    mutating func field(_ name: StaticString, _ value: Double?) {
        guard let value else { return }
        key(name)
        if !JSONBytes.appendDouble(value, to: &out) { failed = true }
    }

    /// A UUID as `UUID`'s own `Codable` form writes it: `uuidString`, upper case.
    mutating func field(_ name: StaticString, upperUUID value: UUID?) {
        guard let value else { return }
        key(name)
        JSONBytes.appendQuotedUUID(value, upperCase: true, to: &out)
    }

    /// A time as ``UTCTime`` writes it: ISO 8601 UTC with six fractional digits.
    mutating func field(_ name: StaticString, time value: Timestamp?) {
        guard let value else { return }
        key(name)
        JSONBytes.appendQuotedTime(value, to: &out)
    }
}
