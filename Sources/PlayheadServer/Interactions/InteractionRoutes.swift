import EventLog
import Foundation
import HTTPTypes
public import Hummingbird
import PlayheadCore
public import Projections
import WatchDomain

/// An id that clients send as a JSON string or a whole number (the spec's examples use
/// both: `"userId": 1`, `"contentId": "123"`); both forms name the same id, `1` and `"1"`.
struct FlexibleID: Decodable, Sendable {
    var text: String

    /// A string or whole number of a flat body; nil for anything else.
    init?(_ value: FlatJSONObject.Value?) {
        switch value {
        case .string(let text)?: self.text = text
        case .integer(let number)?: text = String(number)
        default: return nil
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
        } else if let number = try? container.decode(Int64.self) {
            text = String(number)
        } else {
            throw DecodingError.typeMismatch(
                FlexibleID.self,
                .init(codingPath: decoder.codingPath, debugDescription: "expected a string or a whole number")
            )
        }
    }
}

/// An interaction as the API shows it: the spec's columns, camel-cased.
struct InteractionBody: ResponseEncodable {
    var id: String
    var userId: String
    var contentId: String
    var interactionType: String
    var interactionValue: Int64?
    var moodAtInteraction: String?
    var moodIntensityAtInteraction: Int64?
    var interactionDurationSeconds: Int64?
    var context: String?
    var notes: String?
    var contentType: String?
    /// How many times it was tracked.
    var count: UInt64
    var createdAt: String
    var updatedAt: String

    init(_ interaction: Interaction, includeMood: Bool = true) {
        id = interaction.interactionId.uuidString.lowercased()
        userId = interaction.userId
        contentId = interaction.contentId
        interactionType = interaction.interactionType.name
        let details = interaction.details
        interactionValue = details.interactionValue
        moodAtInteraction = includeMood ? details.moodAtInteraction : nil
        moodIntensityAtInteraction = includeMood ? details.moodIntensityAtInteraction : nil
        interactionDurationSeconds = details.interactionDurationSeconds
        context = details.context
        notes = details.notes
        contentType = details.contentType
        count = interaction.count
        createdAt = ISO8601Micros.format(interaction.createdAt)
        updatedAt = ISO8601Micros.format(interaction.updatedAt)
    }
}

/// The routes of the content-interactions module (../shared/spec/content-interactions.md).
struct InteractionRoutes {
    let commands: InteractionCommands
    let queries: InteractionQueries
    let access: AccessPolicy
    let clock: @Sendable () -> Timestamp

    /// The body of `POST /interactions/track`: who, what and how, and the details, whose
    /// keys are the body's own.
    struct TrackRequest: FlatDecodable {
        var userId: FlexibleID
        var contentId: FlexibleID
        var interactionType: String
        var details: InteractionDetails

        private enum CodingKeys: String, CodingKey {
            case userId, contentId, interactionType
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            userId = try container.decode(FlexibleID.self, forKey: .userId)
            contentId = try container.decode(FlexibleID.self, forKey: .contentId)
            interactionType = try container.decode(String.self, forKey: .interactionType)
            details = try InteractionDetails(from: decoder)
        }

        init?(flat object: FlatJSONObject) {
            guard let userId = FlexibleID(object["userId"]), let contentId = FlexibleID(object["contentId"]),
                case .string(let interactionType)? = object["interactionType"],
                let interactionValue = object.optionalInteger("interactionValue"),
                let moodAtInteraction = object.optionalString("moodAtInteraction"),
                let moodIntensityAtInteraction = object.optionalInteger("moodIntensityAtInteraction"),
                let interactionDurationSeconds = object.optionalInteger("interactionDurationSeconds"),
                let context = object.optionalString("context"),
                let notes = object.optionalString("notes"),
                let contentType = object.optionalString("contentType")
            else { return nil }
            self.userId = userId
            self.contentId = contentId
            self.interactionType = interactionType
            details = InteractionDetails(
                interactionValue: interactionValue,
                moodAtInteraction: moodAtInteraction,
                moodIntensityAtInteraction: moodIntensityAtInteraction,
                interactionDurationSeconds: interactionDurationSeconds,
                context: context,
                notes: notes,
                contentType: contentType
            )
        }
    }

    /// A history page: `{"data":[…],"limit":…,"offset":…,"total":…,"userId":…}`, written
    /// with ``JSONText`` (a page of 50 through `JSONEncoder` cost most of the request).
    struct History: ResponseGenerator {
        var userId: String
        var data: [InteractionBody]
        var total: Int
        var limit: Int
        var offset: Int

        var json: String {
            var json = JSONText(capacity: 400 * data.count + 100)
            json.beginObject()
            json.key("data")
            json.beginArray()
            for item in data { item.write(to: &json) }
            json.endArray()
            json.key("limit")
            json.value(limit)
            json.key("offset")
            json.value(offset)
            json.key("total")
            json.value(total)
            json.field("userId", userId)
            json.endObject()
            return json.text
        }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
    }

    func add(to router: Router<PlayheadRequestContext>) {
        let group = router.group("interactions")
        group.post("track") { request, context -> Response in
            let caller = try context.requireCaller()
            let body = try await request.decodeJSON(TrackRequest.self)
            guard let type = InteractionType(name: body.interactionType) else {
                throw Problem.badField("interactionType", "interactionType must be one of \(InteractionType.allNames)")
            }
            let userId = try UserID(body.userId.text)
            let contentId = try ContentID(body.contentId.text)
            let tracked = try await commands.track(
                userId: userId,
                contentId: contentId,
                type: type,
                details: body.details,
                caller: caller,
                correlation: context.correlationID
            )
            let interaction = tracked.interaction
            var json = JSONText(capacity: 512)
            InteractionBody(interaction).write(to: &json)
            return Response(
                status: tracked.created ? .created : .ok,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: json.text))
            )
        }
        group.get("history/:userId") { request, context in
            let userId = try owned(context)
            let page = try Pagination(query: request)
            let filter = try Self.filter(userId, request, typeAllowed: true)
            let result = try queries.history(filter, limit: page.limit, offset: page.offset)
            return History(
                userId: userId,
                data: result.interactions.map { InteractionBody($0) },
                total: result.total,
                limit: page.limit,
                offset: page.offset
            )
        }
        group.get("patterns/:userId") { request, context in
            let userId = try owned(context)
            let zone = try Self.timeZone(request)
            return PatternsBody(try queries.patterns(user: userId, now: clock(), minuteOfDay: zone.minuteOfDay), timeZone: zone.name)
        }
        group.get("export/:userId") { request, context in
            let userId = try owned(context)
            let query = request.uri.queryParameters
            let format = query.get("format") ?? "json"
            guard format == "json" || format == "csv" else { throw Problem.badField("format", "format must be json or csv") }
            let includeMood = try Self.boolean(query.get("includeMoodData"), name: "includeMoodData") ?? false
            let escapeFormulas = try Self.boolean(query.get("escapeFormulas"), name: "escapeFormulas") ?? true
            let filter = try Self.filter(userId, request, typeAllowed: false)
            return InteractionExport(
                queries: queries,
                filter: filter,
                includeMood: includeMood,
                csv: format == "csv",
                escapeFormulas: escapeFormulas
            ).response()
        }
    }

    /// The path's user id, when the caller may read it (their own, or anyone's for an administrator).
    private func owned(_ context: PlayheadRequestContext) throws -> String {
        let caller = try context.requireCaller()
        let userId = try UserID(context.pathParameter("userId"))
        try access.requireInteractions(of: userId, for: caller)
        return userId.text
    }

    /// The filter a history or export query names; dates are ISO 8601 (a date alone is the
    /// whole UTC day), and a reversed range is a 400.
    private static func filter(_ userId: String, _ request: Request, typeAllowed: Bool) throws -> InteractionFilter {
        let query = request.uri.queryParameters
        var filter = InteractionFilter(userId: userId)
        if typeAllowed, let name = query.get("interactionType") {
            guard let type = InteractionType(name: name) else {
                throw Problem.badField("interactionType", "interactionType must be one of \(InteractionType.allNames)")
            }
            filter.type = type
        }
        func time(_ name: String, endOfDay: Bool) throws -> Timestamp? {
            guard let text = query.get(name) else { return nil }
            guard let time = QueryTime.parse(text, endOfDay: endOfDay),
                (DateRange.firstDay..<DateRange.lastDay).contains(time.microsecondsSince1970)
            else {
                throw Problem.badField(name, "\(name) must be an ISO 8601 date (2026-01-31) or time (2026-01-31T12:00:00Z)")
            }
            return time
        }
        filter.start = try time("startDate", endOfDay: false)
        filter.end = try time("endDate", endOfDay: true)
        if let start = filter.start, let end = filter.end, end <= start {
            throw Problem.badField("endDate", "endDate must be after startDate")
        }
        return filter
    }

    private static func boolean(_ text: String?, name: String) throws -> Bool? {
        switch text {
        case nil: nil
        case "true", "1": true
        case "false", "0": false
        default: throw Problem.badField(name, "\(name) must be true or false")
        }
    }

    /// `tz` (``QueryTimeZone``); UTC by default.
    static func timeZone(_ request: Request) throws -> QueryTimeZone {
        guard let name = request.uri.queryParameters.get("tz"), !name.isEmpty else { return .utc }
        guard let zone = QueryTimeZone(name) else { throw Problem.badField("tz", QueryTimeZone.expected) }
        return zone
    }
}

/// `GET /interactions/patterns/:userId` (and `playhead query patterns`), in the spec's shape.
public struct PatternsBody: ResponseEncodable, Sendable {
    struct DateRangeBody: Encodable {
        var start: String?
        var end: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(start, forKey: .start)
            try container.encode(end, forKey: .end)
        }

        private enum CodingKeys: String, CodingKey { case start, end }
    }

    struct Patterns: Encodable {
        var mostCommonType: String?
        var averageDuration: Double
        var moodCorrelation: Double?
        var timeOfDayPattern: String?
        var contentTypePreference: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(mostCommonType, forKey: .mostCommonType)
            try container.encode(averageDuration, forKey: .averageDuration)
            try container.encode(moodCorrelation, forKey: .moodCorrelation)
            try container.encode(timeOfDayPattern, forKey: .timeOfDayPattern)
            try container.encode(contentTypePreference, forKey: .contentTypePreference)
        }

        private enum CodingKeys: String, CodingKey { case mostCommonType, averageDuration, moodCorrelation, timeOfDayPattern, contentTypePreference }
    }

    struct Trends: Encodable {
        var interactionFrequency: String
        var moodCorrelation: String
        var recentInteractions: UInt64
        var previousInteractions: UInt64
    }

    var totalInteractions: Int
    var dateRange: DateRangeBody
    var patterns: Patterns
    var trends: Trends
    var timeZone: String

    /// The body of `patterns`, whose times of day are in the zone named `timeZone`.
    public init(_ patterns: InteractionPatterns, timeZone: String) {
        totalInteractions = patterns.totalInteractions
        dateRange = DateRangeBody(start: patterns.firstCreatedAt.map(ISO8601Micros.format), end: patterns.lastUpdatedAt.map(ISO8601Micros.format))
        self.patterns = Patterns(
            mostCommonType: patterns.mostCommonType?.name,
            averageDuration: patterns.averageDuration,
            moodCorrelation: patterns.moodCorrelation,
            timeOfDayPattern: patterns.timeOfDay?.rawValue,
            contentTypePreference: patterns.contentTypePreference
        )
        trends = Trends(
            interactionFrequency: patterns.frequencyTrend.rawValue,
            moodCorrelation: patterns.moodTrend.rawValue,
            recentInteractions: patterns.recentTrackings,
            previousInteractions: patterns.previousTrackings
        )
        self.timeZone = timeZone
    }
}

/// A streamed export of a user's interactions: JSON (an array) or CSV (RFC 4180, a header
/// row, CRLF line ends), newest first, read in chunks of 1,000 so that memory stays flat.
struct InteractionExport: Sendable {
    let queries: InteractionQueries
    let filter: InteractionFilter
    let includeMood: Bool
    let csv: Bool
    /// Whether CSV cells that a spreadsheet would run as formulas are neutralised
    /// (``csvField(_:escapeFormulas:)``); `escapeFormulas=false` asks for the exact text.
    var escapeFormulas = true

    static let chunkSize = 1_000

    func response() -> Response {
        let safeUser = String(
            filter.userId.unicodeScalars.map {
                $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0))
                    ? Character($0) : "_"
            }
        )
        let name = "interactions-\(safeUser).\(csv ? "csv" : "json")"
        var headers: HTTPFields = [
            .contentType: csv ? "text/csv; charset=utf-8; header=present" : "application/json; charset=utf-8",
            .contentDisposition: "attachment; filename=\"\(name)\"",
        ]
        headers[.cacheControl] = "no-store"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                var cursor: [UInt8]?
                var first = true
                try await writer.write(ByteBuffer(string: csv ? Self.csvHeader(includeMood: includeMood) : "["))
                repeat {
                    let (rows, next) = try queries.chunk(filter, after: cursor, limit: Self.chunkSize)
                    var text = ""
                    for row in rows {
                        if csv {
                            text += Self.csvLine(row, includeMood: includeMood, escapeFormulas: escapeFormulas)
                        } else {
                            var json = JSONText(capacity: 400)
                            InteractionBody(row, includeMood: includeMood).write(to: &json)
                            text += (first ? "\n" : ",\n") + json.text
                            first = false
                        }
                    }
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                    cursor = next
                } while cursor != nil
                if !csv { try await writer.write(ByteBuffer(string: first ? "]\n" : "\n]\n")) }
                try await writer.finish(nil)
            }
        )
    }

    static func columns(includeMood: Bool) -> [String] {
        var columns = ["id", "userId", "contentId", "interactionType", "interactionValue"]
        if includeMood { columns += ["moodAtInteraction", "moodIntensityAtInteraction"] }
        return columns + ["interactionDurationSeconds", "context", "notes", "contentType", "count", "createdAt", "updatedAt"]
    }

    static func csvHeader(includeMood: Bool) -> String { columns(includeMood: includeMood).joined(separator: ",") + "\r\n" }

    static func csvLine(_ row: Interaction, includeMood: Bool, escapeFormulas: Bool = true) -> String {
        let details = row.details
        var fields: [String?] = [
            row.interactionId.uuidString.lowercased(), row.userId, row.contentId, row.interactionType.name, details.interactionValue.map(String.init),
        ]
        if includeMood { fields += [details.moodAtInteraction, details.moodIntensityAtInteraction.map(String.init)] }
        fields += [
            details.interactionDurationSeconds.map(String.init), details.context, details.notes, details.contentType, String(row.count),
            ISO8601Micros.format(row.createdAt), ISO8601Micros.format(row.updatedAt),
        ]
        return fields.map { csvField($0 ?? "", escapeFormulas: escapeFormulas) }.joined(separator: ",") + "\r\n"
    }

    /// The first bytes that make a spreadsheet read a cell as a formula (OWASP, "CSV
    /// Injection"; CWE-1236): `=`, `+`, `-`, `@`, a tab and a carriage return.
    static let formulaTriggers: [UInt8] = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D]

    /// A field as RFC 4180 writes it: quoted, with quotes doubled, when it holds a comma, a
    /// quote or a line break. With `escapeFormulas`, a field that starts with one of
    /// ``formulaTriggers`` is neutralised as OWASP describes: prefixed with `'` and quoted, so
    /// that a spreadsheet shows it as text (`=1+1` is written `"'=1+1"`). Works on bytes: a
    /// quote followed by a combining mark is still a quote to a CSV reader.
    static func csvField(_ text: String, escapeFormulas: Bool = true) -> String {
        let utf8 = text.utf8
        let formula = escapeFormulas && utf8.first.map(formulaTriggers.contains) == true
        guard formula || utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else {
            return text
        }
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(utf8.count + 4)
        if formula { bytes.append(UInt8(ascii: "'")) }
        for byte in utf8 {
            bytes.append(byte)
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension HTTPField.Name {
    static let contentDisposition = Self("Content-Disposition")!
}
