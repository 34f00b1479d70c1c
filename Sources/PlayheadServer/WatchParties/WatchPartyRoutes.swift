import Charts
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import PlayheadCore
import Projections
import WatchDomain

/// The REST routes of the watch-party module (../shared/spec/watch-party.md): parties,
/// tickets, purchases and the party log. Bodies and answers are snake_case, as the spec's
/// entities are.
struct WatchPartyRoutes {
    let commands: WatchPartyCommands

    private var now: Timestamp { commands.clock() }

    struct CreateParty: Decodable {
        var movieId: String
        var startTime: String
        var endTime: String
        var isFeatured: Bool?
        var maxParticipants: Int64?

        enum CodingKeys: String, CodingKey {
            case movieId = "movie_id"
            case startTime = "start_time"
            case endTime = "end_time"
            case isFeatured = "is_featured"
            case maxParticipants = "max_participants"
        }
    }

    struct ChangeParty: Decodable {
        var movieId: String?
        var startTime: String?
        var endTime: String?
        var isFeatured: Bool?
        var maxParticipants: Int64?

        enum CodingKeys: String, CodingKey {
            case movieId = "movie_id"
            case startTime = "start_time"
            case endTime = "end_time"
            case isFeatured = "is_featured"
            case maxParticipants = "max_participants"
        }
    }

    struct Purchase: Decodable {
        var ticketId: String

        enum CodingKeys: String, CodingKey { case ticketId = "ticket_id" }
    }

    struct CreateTicket: Decodable {
        var name: String
        var price: PriceBody
        var description: String?
        var isVoucher: Bool?

        enum CodingKeys: String, CodingKey {
            case name, price, description
            case isVoucher = "is_voucher"
        }
    }

    struct ChangeTicket: Decodable {
        var name: String?
        var price: PriceBody?
        var description: String?
        var isVoucher: Bool?

        enum CodingKeys: String, CodingKey {
            case name, price, description
            case isVoucher = "is_voucher"
        }
    }

    /// The most entries a page of a party log may have.
    static let maxLogLimit = 1_000

    func add(to router: Router<PlayheadRequestContext>) {
        let parties = router.group("watch-parties")
        parties.post { request, context in
            let caller = try context.requireAdmin()
            let body = try await request.decodeJSON(CreateParty.self)
            let party = try await commands.schedule(
                movieId: try VideoID(body.movieId, field: "movie_id"),
                startTime: try BodyValue.time(body.startTime, field: "start_time"),
                endTime: try BodyValue.time(body.endTime, field: "end_time"),
                isFeatured: body.isFeatured ?? false,
                maxParticipants: Self.participants(body.maxParticipants ?? Int64(WatchPartyEvents.defaultMaxParticipants)),
                caller: caller,
                correlation: context.correlationID
            )
            return EditedResponse(status: .created, response: WatchPartyBody(party, now: now))
        }
        parties.get { request, context in
            _ = try context.requireCaller()
            let page = try Pagination(query: request)
            let parties = try commands.parties(try Self.filter(request), limit: page.limit, offset: page.offset)
            let now = now
            return WatchPartyPage(data: parties.map { WatchPartyBody($0, now: now) }, limit: page.limit, offset: page.offset)
        }
        parties.get(":id") { _, context in
            _ = try context.requireCaller()
            return WatchPartyBody(try commands.party(try context.uuidParameter("id")), now: now)
        }
        parties.patch(":id") { request, context in
            let caller = try context.requireAdmin()
            let id = try context.uuidParameter("id")
            let body = try await request.decodeJSON(ChangeParty.self)
            let changes = PartyChanges(
                movieId: try body.movieId.map { try VideoID($0, field: "movie_id") },
                startTime: try body.startTime.map { try BodyValue.time($0, field: "start_time") },
                endTime: try body.endTime.map { try BodyValue.time($0, field: "end_time") },
                isFeatured: body.isFeatured,
                maxParticipants: body.maxParticipants.map(Self.participants)
            )
            let party = try await commands.change(id, changes, caller: caller, correlation: context.correlationID)
            return WatchPartyBody(party, now: now)
        }
        parties.post(":id/cancel") { _, context in
            let caller = try context.requireAdmin()
            let party = try await commands.cancel(try context.uuidParameter("id"), caller: caller, correlation: context.correlationID)
            return WatchPartyBody(party, now: now)
        }
        parties.post(":id/purchase") { request, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("id")
            let body = try await request.decodeJSON(Purchase.self)
            guard let ticketId = UUID(hexadecimal: body.ticketId) else { throw Problem.badField("ticket_id", "ticket_id must be a UUID") }
            let key = HTTPField.Name("Idempotency-Key").flatMap { request.headers[$0] }
            let outcome = try await commands.purchase(
                partyId: id,
                ticketId: ticketId,
                idempotencyKey: key,
                caller: caller,
                correlation: context.correlationID
            )
            switch outcome {
            case .purchased(let purchase), .retried(let purchase):
                return EditedResponse(status: .created, response: TicketPurchaseBody(purchase))
            case .alreadyBought(let purchase):
                var problem = Problem(.conflict, "you have a ticket to this watch party already")
                problem.objectMembers["purchase"] = TicketPurchaseBody(purchase).members
                throw problem
            }
        }
        parties.get(":id/purchases") { request, context in
            let caller = try context.requireAdmin()
            let id = try context.uuidParameter("id")
            let page = try Pagination(query: request)
            let purchases = try commands.purchases(of: id, limit: page.limit, offset: page.offset, caller: caller)
            return TicketPurchasePage(
                watchPartyId: id.uuidString.lowercased(),
                data: purchases.map(TicketPurchaseBody.init),
                limit: page.limit,
                offset: page.offset
            )
        }
        parties.get(":id/logs") { request, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("id")
            let query = request.uri.queryParameters
            let (filter, cursor, limit) = try Self.logQuery(query)
            let page = try commands.log(of: id, filter: filter, after: cursor, limit: limit, caller: caller)
            return PartyLogPage(watchPartyId: id.uuidString.lowercased(), data: page.entries.map(PartyLogEntryBody.init), next: page.next?.token)
        }

        parties.get(":id/replay") { request, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("id")
            let window = try Self.replayWindow(request.uri.queryParameters)
            let replay = try commands.replay(of: id, window: window, caller: caller)
            let ndjson = Self.prefersNDJSON(request.headers[.accept])
            return PartyReplayStream(replay: replay, ndjson: ndjson).response()
        }

        parties.get(":id/analytics") { request, context in
            let caller = try context.requireAdmin()
            let id = try context.uuidParameter("id")
            let format = request.uri.queryParameters.get("format") ?? "json"
            guard format == "json" || format == "svg" else { throw Problem.badField("format", "format must be json or svg") }
            let body = PartyAnalyticsBody(try commands.analytics(of: id, caller: caller))
            guard format == "svg" else { return try body.response(from: request, context: context) }
            var headers: HTTPFields = [.contentType: "image/svg+xml; charset=utf-8"]
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.chart.render())))
        }

        router.get("users/me/tickets") { _, context in
            let caller = try context.requireCaller()
            let now = now
            let entries = try commands.purchases(of: caller).map {
                UserTickets.Entry(purchase: TicketPurchaseBody($0.purchase), watchParty: WatchPartyBody($0.party, now: now))
            }
            return UserTickets(userId: caller.userId, data: entries)
        }

        let tickets = router.group("tickets")
        tickets.post { request, context in
            let caller = try context.requireAdmin()
            let body = try await request.decodeJSON(CreateTicket.self)
            let definition = TicketDefinition(
                name: body.name,
                price: try body.price.parsed(),
                description: body.description,
                isVoucher: body.isVoucher ?? false
            )
            let ticket = try await commands.createTicket(definition, caller: caller, correlation: context.correlationID)
            return EditedResponse(status: .created, response: TicketBody(ticket))
        }
        tickets.get { request, context in
            _ = try context.requireCaller()
            let page = try Pagination(query: request)
            return TicketPage(
                data: try commands.tickets(limit: page.limit, offset: page.offset).map(TicketBody.init),
                limit: page.limit,
                offset: page.offset
            )
        }
        tickets.get(":id") { _, context in
            _ = try context.requireCaller()
            return TicketBody(try commands.ticket(try context.uuidParameter("id")))
        }
        tickets.patch(":id") { request, context in
            let caller = try context.requireAdmin()
            let id = try context.uuidParameter("id")
            let body = try await request.decodeJSON(ChangeTicket.self)
            let current = try commands.ticket(id).definition
            let definition = TicketDefinition(
                name: body.name ?? current.name,
                price: try body.price.map { try $0.parsed() } ?? current.price,
                description: body.description ?? current.description,
                isVoucher: body.isVoucher ?? current.isVoucher
            )
            return TicketBody(try await commands.changeTicket(id, definition, caller: caller, correlation: context.correlationID))
        }
    }

    /// Whether an `Accept` header asks for NDJSON over JSON (RFC 9110 §12.5.1).
    ///
    /// Each type weighs what the most specific range matching it says (`application/json;q=0.5`
    /// outranks `*/*;q=0.9` for JSON; a type no range matches weighs 0). NDJSON is chosen when
    /// it weighs more than JSON, or as much (above 0) when the header names it exactly; so
    /// `*/*` alone, or no header, answers JSON.
    static func prefersNDJSON(_ accept: String?) -> Bool {
        guard let accept else { return false }
        let ndjson = MediaRangeWeight(of: "application/x-ndjson", in: accept)
        let json = MediaRangeWeight(of: "application/json", in: accept)
        return ndjson.weight > json.weight || (ndjson.weight > 0 && ndjson.weight == json.weight && ndjson.specificity == 2)
    }

    /// Milliseconds of a decimal number of seconds: an optional `-`, 1 to 9 digits, and
    /// optionally a point and 1 to 3 digits (event times are kept to the millisecond, and a
    /// week is the longest party); nil for anything else.
    static func millis(_ text: String) -> Int64? {
        var utf8 = Substring(text).utf8
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        let parts = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        func digits(_ part: Substring.UTF8View.SubSequence, _ range: ClosedRange<Int>) -> Int64? {
            guard range.contains(part.count), part.allSatisfy({ (48...57).contains($0) }) else { return nil }
            return part.reduce(0) { $0 * 10 + Int64($1 - 48) }
        }
        guard (1...2).contains(parts.count), let whole = digits(parts[0], 1...9) else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            guard let value = digits(parts[1], 1...3) else { return nil }
            fraction = value * [100, 10, 1][parts[1].count - 1]
        }
        let millis = whole * 1_000 + fraction
        return negative ? -millis : millis
    }

    /// A replay's window: `from` and `to` in event time, `video_from` and `video_to` in video
    /// time, each in seconds to the millisecond (video times from 0).
    static func replayWindow(_ query: Parameters) throws -> ReplayWindow {
        func seconds(_ name: String, _ example: String) throws -> Int64? {
            guard let text = query.get(name) else { return nil }
            guard let millis = Self.millis(text) else {
                throw Problem.badField(name, "\(name) must be a number of seconds with at most three decimals (\(example))")
            }
            return millis
        }
        var window = ReplayWindow(fromMillis: try seconds("from", "-900, 12.5"), toMillis: try seconds("to", "-900, 12.5"))
        if let from = window.fromMillis, let to = window.toMillis, to <= from { throw Problem.badField("to", "to must be after from") }
        for name in ["video_from", "video_to"] {
            guard let millis = try seconds(name, "0, 570.25") else { continue }
            guard millis >= 0 else { throw Problem.badField(name, "\(name) must be a point of the film: 0 or more seconds") }
            if name == "video_from" { window.videoFromMillis = UInt64(millis) } else { window.videoToMillis = UInt64(millis) }
        }
        if let from = window.videoFromMillis, let to = window.videoToMillis, to <= from {
            throw Problem.badField("video_to", "video_to must be after video_from")
        }
        return window
    }

    /// A `max_participants` from a body: out-of-range values (0, negative) are the decider's
    /// to refuse with the rule.
    static func participants(_ value: Int64) -> UInt64 { UInt64(clamping: value) }

    /// The listing's filter: `status`, `is_featured`, and `from`/`to` on the start time.
    static func filter(_ request: Request) throws -> PartyFilter {
        let query = request.uri.queryParameters
        var filter = PartyFilter()
        if let text = query.get("status") {
            guard let status = PartyStatus(name: text) else {
                throw Problem.badField("status", "status must be one of \(PartyStatus.allNames)")
            }
            filter.status = status
        }
        if let text = query.get("is_featured") {
            switch text {
            case "true": filter.isFeatured = true
            case "false": filter.isFeatured = false
            default: throw Problem.badField("is_featured", "is_featured must be true or false")
            }
        }
        for name in ["from", "to"] {
            guard let text = query.get(name) else { continue }
            // A date alone means the whole day, as every other date range of the API.
            guard let time = QueryTime.parse(text, endOfDay: name == "to") else {
                throw Problem.badField(name, "\(name) must be an ISO 8601 date (2026-01-31) or time (2026-01-31T12:00:00Z)")
            }
            if name == "from" { filter.from = time } else { filter.to = time }
        }
        if let from = filter.from, let to = filter.to, to <= from { throw Problem.badField("to", "to must be after from") }
        return filter
    }

    /// A log page's query: `event_type`, `from` and `to` (event times in seconds from the
    /// start, to the millisecond), `cursor` (a `next` token) and `limit`.
    static func logQuery(_ query: Parameters) throws -> (PartyLogFilter, PartyLogCursor?, Int) {
        var filter = PartyLogFilter()
        if let text = query.get("event_type") {
            guard let type = PartyLogEventType(name: text) else {
                throw Problem.badField("event_type", "event_type must be one of \(PartyLogEventType.allNames)")
            }
            filter.eventType = type
        }
        func seconds(_ name: String) throws -> Int64? {
            guard let text = query.get(name) else { return nil }
            guard let millis = Self.millis(text) else {
                throw Problem.badField(
                    name,
                    "\(name) must be a number of seconds from the party's start, with at most three decimals (-900, 12.5)"
                )
            }
            return millis
        }
        filter.fromMillis = try seconds("from")
        filter.toMillis = try seconds("to")
        if let from = filter.fromMillis, let to = filter.toMillis, to <= from { throw Problem.badField("to", "to must be after from") }
        var cursor: PartyLogCursor?
        if let token = query.get("cursor") {
            guard let parsed = PartyLogCursor(token: token) else {
                throw Problem.badField("cursor", "cursor must be the next token of an earlier page")
            }
            cursor = parsed
        }
        var limit = 100
        if let text = query.get("limit") {
            guard let value = Int(text), (1...maxLogLimit).contains(value) else {
                throw Problem.badField("limit", "limit must be a whole number from 1 to \(maxLogLimit)")
            }
            limit = value
        }
        return (filter, cursor, limit)
    }
}

/// The weight an `Accept` header gives one media type: the `q` of the most specific range
/// that matches it (RFC 9110 §12.5.1), with that range's specificity (2 the type itself, 1
/// `type/*`, 0 `*/*`; -1 and weight 0 when no range matches).
///
/// Commas and semicolons inside quoted parameter values separate nothing. A range whose `q`
/// is not a qvalue (`0` to `1` with at most three decimals) is ignored, as if absent.
struct MediaRangeWeight {
    var weight = 0.0
    var specificity = -1

    init(of mediaType: String, in accept: String) {
        let type = mediaType.prefix { $0 != "/" }
        for range in Self.split(accept, on: ",") {
            let parts = Self.split(range, on: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let name = parts.first else { continue }
            let specificity: Int
            switch name {
            case mediaType: specificity = 2
            case "\(type)/*": specificity = 1
            case "*/*": specificity = 0
            default: continue
            }
            guard specificity > self.specificity else { continue }
            var weight: Double? = 1
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                weight = Self.qvalue(parameter.dropFirst(2))
            }
            guard let weight else { continue }
            self.specificity = specificity
            self.weight = weight
        }
    }

    /// RFC 9110 §12.4.2's qvalue, nil for anything else (`nan`, `2`, `.5`, `1e-3`).
    static func qvalue(_ text: Substring) -> Double? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        if bytes.count == 1 { return Double(first - UInt8(ascii: "0")) }
        let decimals = bytes.dropFirst(2)
        guard bytes[1] == UInt8(ascii: "."), decimals.count <= 3, decimals.allSatisfy({ (48...57).contains($0) }) else { return nil }
        if first == UInt8(ascii: "1") && !decimals.allSatisfy({ $0 == UInt8(ascii: "0") }) { return nil }
        return Double(text)
    }

    /// `text` split on `separator` outside double-quoted strings (with backslash escapes).
    static func split(_ text: some StringProtocol, on separator: Character) -> [Substring] {
        let text = Substring(text)
        var pieces: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if escaped {
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == separator && !quoted {
                pieces.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        pieces.append(text[start...])
        return pieces
    }
}
