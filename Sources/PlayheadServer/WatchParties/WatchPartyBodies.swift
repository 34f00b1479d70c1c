import EventLog
import Foundation
import Hummingbird
import PlayheadCore
import Projections
import WatchDomain

/// A watch party as the API shows it: the spec's WatchParty in snake_case, with its status
/// at the time of the answer and the figures users expect.
struct WatchPartyBody: ResponseEncodable {
    var id: String
    var movieId: String
    /// The movie's length in seconds, as the party knows it.
    var movieDuration: Double
    var startTime: String
    var endTime: String
    var isFeatured: Bool
    var maxParticipants: UInt64
    var status: PartyStatus
    var ticketsSold: UInt64
    var participantsOnline: UInt64
    var cancelledAt: String?
    var createdAt: String
    var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, status
        case movieId = "movie_id"
        case movieDuration = "movie_duration"
        case startTime = "start_time"
        case endTime = "end_time"
        case isFeatured = "is_featured"
        case maxParticipants = "max_participants"
        case ticketsSold = "tickets_sold"
        case participantsOnline = "participants_online"
        case cancelledAt = "cancelled_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ party: WatchParty, now: Timestamp) {
        id = party.partyId.uuidString.lowercased()
        movieId = party.schedule.movieId
        movieDuration = Double(party.schedule.movieDurationMillis) / 1_000
        startTime = ISO8601Micros.format(party.startTime)
        endTime = ISO8601Micros.format(party.endTime)
        isFeatured = party.schedule.isFeatured
        maxParticipants = party.schedule.maxParticipants
        status = party.status(at: now)
        ticketsSold = party.ticketsSold
        // The room closes at the end (and never opens for a cancelled party): nobody is in it,
        // whatever leaves the log lacks.
        participantsOnline = status == .finished || status == .cancelled ? 0 : party.participantsOnline
        cancelledAt = party.cancelledAt.map(ISO8601Micros.format)
        createdAt = ISO8601Micros.format(party.createdAt)
        updatedAt = ISO8601Micros.format(party.updatedAt)
    }
}

/// A page of parties.
struct WatchPartyPage: ResponseEncodable {
    var data: [WatchPartyBody]
    var limit: Int
    var offset: Int
}

/// A price as the API shows and takes it: a decimal text with two digits after the point
/// and an ISO 4217 currency.
struct PriceBody: Codable {
    var amount: String
    var currency: String

    init(_ price: Price) {
        amount = price.amountText
        currency = price.currency
    }

    private enum Keys: String, CodingKey { case amount, currency }

    /// Takes the amount as a decimal text (`"12.50"`) or a JSON number (`12.5`).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        currency = try container.decode(String.self, forKey: .currency)
        if let text = try? container.decode(String.self, forKey: .amount) {
            amount = text
        } else {
            do {
                amount = "\(try container.decode(Double.self, forKey: .amount))"
            } catch DecodingError.typeMismatch {
                throw DecodingError.typeMismatch(
                    Double.self,
                    .init(codingPath: container.codingPath + [Keys.amount], debugDescription: "amount must be a decimal number or its text")
                )
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }

    /// The price; a 400 naming `price.amount` or `price.currency` when it is not one.
    func parsed() throws -> Price {
        // A number JSON wrote as `12.0` reads back as `12.0`: one fractional digit is fine.
        guard let price = Price(amount: amount.hasSuffix(".0") ? String(amount.dropLast(2)) : amount, currency: currency) else {
            let problem = Price(hundredths: 0, currency: currency).problem
            if let problem { throw Problem.badField("price.currency", problem) }
            throw Problem.badField("price.amount", "price.amount must be a decimal from 0 to 1000000.00 with at most two digits after the point")
        }
        return price
    }
}

/// A ticket as the API shows it: the spec's Ticket in snake_case.
struct TicketBody: ResponseEncodable {
    var id: String
    var name: String
    var price: PriceBody
    var description: String?
    var isVoucher: Bool
    var createdAt: String
    var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, price, description
        case isVoucher = "is_voucher"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ ticket: Ticket) {
        id = ticket.ticketId.uuidString.lowercased()
        name = ticket.definition.name
        price = PriceBody(ticket.definition.price)
        description = ticket.definition.description
        isVoucher = ticket.definition.isVoucher
        createdAt = ISO8601Micros.format(ticket.createdAt)
        updatedAt = ISO8601Micros.format(ticket.updatedAt)
    }
}

/// A page of tickets.
struct TicketPage: ResponseEncodable {
    var data: [TicketBody]
    var limit: Int
    var offset: Int
}

/// A purchase as the API shows it: the spec's TicketPurchase in snake_case.
struct TicketPurchaseBody: ResponseEncodable {
    var id: String
    var userId: String
    var watchPartyId: String
    var ticketId: String
    var purchaseDate: String

    enum CodingKeys: String, CodingKey {
        case id
        case userId = "user_id"
        case watchPartyId = "watch_party_id"
        case ticketId = "ticket_id"
        case purchaseDate = "purchase_date"
    }

    init(_ purchase: TicketPurchase) {
        id = purchase.purchaseId.uuidString.lowercased()
        userId = purchase.userId
        watchPartyId = purchase.partyId.uuidString.lowercased()
        ticketId = purchase.ticketId.uuidString.lowercased()
        purchaseDate = ISO8601Micros.format(purchase.purchaseDate)
    }

    /// The body's members, for a problem document that shows the purchase.
    var members: [String: String] {
        ["id": id, "user_id": userId, "watch_party_id": watchPartyId, "ticket_id": ticketId, "purchase_date": purchaseDate]
    }
}

/// A page of a party's purchases.
struct TicketPurchasePage: ResponseEncodable {
    var watchPartyId: String
    var data: [TicketPurchaseBody]
    var limit: Int
    var offset: Int

    enum CodingKeys: String, CodingKey {
        case data, limit, offset
        case watchPartyId = "watch_party_id"
    }
}

/// The caller's tickets: each purchase with its party (and the party's status).
struct UserTickets: ResponseEncodable {
    struct Entry: Encodable {
        var purchase: TicketPurchaseBody
        var watchParty: WatchPartyBody

        enum CodingKeys: String, CodingKey {
            case id
            case userId = "user_id"
            case watchPartyId = "watch_party_id"
            case ticketId = "ticket_id"
            case purchaseDate = "purchase_date"
            case watchParty = "watch_party"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(purchase.id, forKey: .id)
            try container.encode(purchase.userId, forKey: .userId)
            try container.encode(purchase.watchPartyId, forKey: .watchPartyId)
            try container.encode(purchase.ticketId, forKey: .ticketId)
            try container.encode(purchase.purchaseDate, forKey: .purchaseDate)
            try container.encode(watchParty, forKey: .watchParty)
        }
    }

    var userId: String
    var data: [Entry]

    enum CodingKeys: String, CodingKey {
        case data
        case userId = "user_id"
    }
}

/// An entry of a party log as the API shows it: the spec's WatchPartyLog, with the film's
/// position. `content` is the event's data: a join's `username`, a message's `message`, a
/// player action's `action` and `video_time`.
struct PartyLogEntryBody: Encodable {
    struct Content: Encodable {
        var username: String?
        var message: String?
        var action: String?
        var videoTime: Double?

        enum CodingKeys: String, CodingKey {
            case username, message, action
            case videoTime = "video_time"
        }
    }

    var id: String
    var watchPartyId: String
    var userId: String
    var eventType: PartyLogEventType
    var content: Content
    var realTime: String
    /// Seconds from the party's start, to the millisecond (negative in the lobby).
    var eventTime: Double
    /// Where the film was, in seconds.
    var videoTime: Double

    enum CodingKeys: String, CodingKey {
        case id, content
        case watchPartyId = "watch_party_id"
        case userId = "user_id"
        case eventType = "event_type"
        case realTime = "real_time"
        case eventTime = "event_time"
        case videoTime = "video_time"
    }

    init(_ entry: PartyLogEntry) {
        id = entry.entryId.uuidString.lowercased()
        watchPartyId = entry.partyId.uuidString.lowercased()
        userId = entry.userId
        eventType = entry.eventType
        let isAction = entry.eventType.isPlayerAction
        content = Content(
            username: entry.username,
            message: entry.message,
            action: isAction ? entry.eventType.name : nil,
            videoTime: isAction ? Double(entry.videoTimeMillis) / 1_000 : nil
        )
        realTime = ISO8601Micros.format(entry.realTime)
        eventTime = Double(entry.eventTimeMillis) / 1_000
        videoTime = Double(entry.videoTimeMillis) / 1_000
    }
}

/// A page of a party log; `next` is the token of the next page (absent on the last).
struct PartyLogPage: ResponseEncodable {
    var watchPartyId: String
    var data: [PartyLogEntryBody]
    var next: String?

    enum CodingKeys: String, CodingKey {
        case data, next
        case watchPartyId = "watch_party_id"
    }
}

/// One entry of a replay: the party log's entry (``PartyLogEntryBody``), its author's
/// display name at that point, whether the film played after it, and for a join or a leave
/// how many users were online after it.
struct PartyReplayItemBody: Encodable {
    var entry: PartyLogEntryBody
    var username: String
    var playing: Bool
    var participantsOnline: Int?

    enum CodingKeys: String, CodingKey {
        case username, playing
        case participantsOnline = "participants_online"
    }

    init(_ told: PartyRoomState.Told) {
        entry = PartyLogEntryBody(told.entry)
        username = told.username
        playing = told.entry.playing
        participantsOnline = told.participants?.count
    }

    func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(username, forKey: .username)
        try container.encode(playing, forKey: .playing)
        try container.encodeIfPresent(participantsOnline, forKey: .participantsOnline)
    }
}

/// `GET /watch-parties/{id}/replay`: the party's timeline in log order, streamed a page at a
/// time so that memory stays flat: JSON (`{"watch_party_id", "movie_id", "start_time",
/// "end_time", "data": [item…]}`) or, for `Accept: application/x-ndjson`, one item per line.
struct PartyReplayStream: Sendable {
    let replay: PartyReplay
    let ndjson: Bool

    func response() -> Response {
        var headers: HTTPFields = [.contentType: ndjson ? "application/x-ndjson" : "application/json; charset=utf-8"]
        headers[.cacheControl] = "no-store"
        // The representation depends on Accept (RFC 9110 §12.5.5).
        headers[.vary] = "Accept"
        let party = replay.party
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { [replay, ndjson] writer in
                var replay = replay
                let lines = PartyReplayText()
                if !ndjson {
                    let head = [
                        "\"end_time\":\"\(ISO8601Micros.format(party.endTime))\"",
                        "\"movie_id\":\(lines.jsonString(party.schedule.movieId))",
                        "\"start_time\":\"\(ISO8601Micros.format(party.startTime))\"",
                        "\"watch_party_id\":\"\(party.partyId.uuidString.lowercased())\"",
                    ]
                    try await writer.write(ByteBuffer(string: "{" + head.joined(separator: ",") + ",\"data\":["))
                }
                var first = true
                while let page = try replay.next() {
                    var text = ""
                    for told in page {
                        let line = try lines.ndjsonLine(told)
                        if ndjson {
                            text += line + "\n"
                        } else {
                            text += (first ? "\n" : ",\n") + line
                        }
                        first = false
                    }
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                }
                if !ndjson { try await writer.write(ByteBuffer(string: first ? "]}\n" : "\n]}\n")) }
                try await writer.finish(nil)
            }
        )
    }
}
