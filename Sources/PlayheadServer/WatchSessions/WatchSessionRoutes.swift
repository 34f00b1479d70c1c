import Foundation
import Hummingbird
import PlayheadCore
import Projections
import WatchDomain

/// A player event as requests and responses carry it.
struct PlayerEventBody: Codable {
    var event: String
    var eventTime: String
    var videoTime: String

    init(_ event: PlayerEvent) {
        self.event = event.event.name
        eventTime = ISO8601Micros.format(event.eventTime.timestamp)
        videoTime = Timecode.format(event.videoTimeMillis)
    }

    /// The parsed event; `field` names it in errors (`userEvent[2]`).
    func parsed(field: String) throws -> PlayerEvent {
        guard let kind = PlayerEventKind(name: event) else {
            throw Problem.badField("\(field).event", "\(field).event must be one of \(PlayerEventKind.allNames)")
        }
        return PlayerEvent(
            event: kind,
            eventTime: try BodyValue.time(eventTime, field: "\(field).eventTime"),
            videoTimeMillis: try BodyValue.timecode(videoTime, field: "\(field).videoTime")
        )
    }
}

/// `userMetadata` as requests and responses carry it.
struct ClientMetadataBody: Codable {
    var userAgent: String?
    var ipAddress: String?
    var device: String?
    var browser: String?
    var os: String?
    var deviceType: String?

    init(_ metadata: ClientMetadata) {
        userAgent = metadata.userAgent
        ipAddress = metadata.ipAddress
        device = metadata.device
        browser = metadata.browser
        os = metadata.os
        deviceType = metadata.deviceType
    }

    var metadata: ClientMetadata {
        ClientMetadata(userAgent: userAgent, ipAddress: ipAddress, device: device, browser: browser, os: os, deviceType: deviceType)
    }
}

/// A watch session as the API shows it: the spec's fields, its id and owner, and when it
/// was recorded and last changed.
struct WatchSessionBody: ResponseEncodable {
    var id: String
    var userId: String
    var userSessionId: String?
    var isGuestWatchSession: Bool
    var videoId: String
    var startTime: String
    var endTime: String?
    var actualTimeWatched: String
    var percentageWatched: Double
    var userEvent: [PlayerEventBody]
    var userMetadata: ClientMetadataBody
    var createdAt: String
    var updatedAt: String

    init(_ session: WatchSession, playerEvents: [PlayerEvent]) {
        id = session.sessionId.uuidString.lowercased()
        userId = session.userId
        userSessionId = session.userSessionId?.uuidString.lowercased()
        isGuestWatchSession = session.isGuest
        videoId = session.videoId
        startTime = ISO8601Micros.format(session.startTime)
        endTime = session.endTime.map(ISO8601Micros.format)
        actualTimeWatched = Timecode.format(session.actualTimeWatchedMillis)
        percentageWatched = session.percentageWatched
        userEvent = playerEvents.map(PlayerEventBody.init)
        userMetadata = ClientMetadataBody(session.userMetadata)
        createdAt = ISO8601Micros.format(session.createdAt)
        updatedAt = ISO8601Micros.format(session.updatedAt)
    }
}

/// The routes of the watch-sessions module (../shared/spec/watch-sessions.md).
struct WatchSessionRoutes {
    let commands: WatchSessionCommands

    /// The largest body accepted: a thousand player events fit with room to spare.
    static let maxBodyBytes = 1 << 20

    struct CreateRequest: Decodable {
        var userSessionId: String?
        var isGuestWatchSession: Bool?
        var videoId: String
        var startTime: String
        var endTime: String?
        var actualTimeWatched: String?
        var percentageWatched: Double?
        var userEvent: [PlayerEventBody]?
        var userMetadata: ClientMetadataBody?
    }

    struct UpdateRequest: Decodable {
        var endTime: String?
        var actualTimeWatched: String?
        var percentageWatched: Double?
        var userEvent: [PlayerEventBody]?
    }

    struct Page: ResponseEncodable {
        var data: [WatchSessionBody]
        var total: Int
        var limit: Int
        var offset: Int
    }

    struct Deleted: ResponseEncodable {
        var message: String
        var id: String
    }

    func add(to router: Router<PlayheadRequestContext>) {
        let group = router.group("watch-sessions")
        group.post { request, context in
            let caller = try context.requireCaller()
            let draft = try Self.draft(try await request.decodeJSON(CreateRequest.self, limit: Self.maxBodyBytes))
            let id = try await commands.create(draft, caller: caller, correlation: context.correlationID)
            return EditedResponse(status: .created, response: try body(of: id, caller: caller))
        }
        group.get { request, context in
            let caller = try context.requireCaller()
            let page = try Pagination(query: request)
            return Self.page(try commands.page(for: caller, limit: page.limit, offset: page.offset), page)
        }
        group.get(":id") { _, context in
            try body(of: try context.uuidParameter("id"), caller: try context.requireCaller())
        }
        group.patch(":id") { request, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("id")
            let changes = try Self.changes(try await request.decodeJSON(UpdateRequest.self, limit: Self.maxBodyBytes))
            try await commands.update(changes, of: id, caller: caller, correlation: context.correlationID)
            return try body(of: id, caller: caller)
        }
        group.delete(":id") { _, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("id")
            try await commands.delete(id, caller: caller, correlation: context.correlationID)
            return Deleted(message: "Watch session deleted successfully", id: id.uuidString.lowercased())
        }
        group.get("user-session/:userSessionId") { request, context in
            let caller = try context.requireCaller()
            let id = try context.uuidParameter("userSessionId")
            let page = try Pagination(query: request)
            return Self.page(try commands.page(ofUserSession: id, caller: caller, limit: page.limit, offset: page.offset), page)
        }
        group.get("user/:userId") { request, context in
            let caller = try context.requireCaller()
            let userId = try UserID(context.pathParameter("userId"))
            // The caller's rights before the query's form.
            try commands.access.requireWatchSessions(of: userId, for: caller)
            let page = try Pagination(query: request)
            return Self.page(try commands.page(ofUser: userId, caller: caller, limit: page.limit, offset: page.offset), page)
        }
    }

    /// The stored session with its player events, as the caller may see it (404 otherwise).
    private func body(of id: UUID, caller: Caller) throws -> WatchSessionBody {
        let (session, playerEvents) = try commands.session(id, caller: caller)
        return WatchSessionBody(session, playerEvents: playerEvents)
    }

    private static func page(_ result: WatchSessionPage, _ page: Pagination) -> Page {
        Page(
            data: zip(result.sessions, result.playerEvents).map { WatchSessionBody($0, playerEvents: $1) },
            total: result.total,
            limit: page.limit,
            offset: page.offset
        )
    }

    static func draft(_ body: CreateRequest) throws -> WatchSessionDraft {
        // Checked before the video's length is looked up by this id.
        let videoId = try VideoID(body.videoId)
        return WatchSessionDraft(
            userSessionId: try body.userSessionId.map { text in
                guard let id = UUID(hexadecimal: text) else { throw Problem.badField("userSessionId", "userSessionId must be a UUID") }
                return id
            },
            isGuest: body.isGuestWatchSession ?? false,
            videoId: videoId,
            startTime: try BodyValue.time(body.startTime, field: "startTime"),
            endTime: try body.endTime.map { try BodyValue.time($0, field: "endTime") },
            actualTimeWatchedMillis: try body.actualTimeWatched.map { try BodyValue.timecode($0, field: "actualTimeWatched") } ?? 0,
            percentageWatched: body.percentageWatched ?? 0,
            playerEvents: try playerEvents(body.userEvent),
            userMetadata: body.userMetadata?.metadata ?? ClientMetadata()
        )
    }

    static func changes(_ body: UpdateRequest) throws -> WatchSessionChanges {
        WatchSessionChanges(
            endTime: try body.endTime.map { try BodyValue.time($0, field: "endTime") },
            actualTimeWatchedMillis: try body.actualTimeWatched.map { try BodyValue.timecode($0, field: "actualTimeWatched") },
            percentageWatched: body.percentageWatched,
            playerEvents: try playerEvents(body.userEvent)
        )
    }

    private static func playerEvents(_ bodies: [PlayerEventBody]?) throws -> [PlayerEvent] {
        guard let bodies else { return [] }
        guard bodies.count <= WatchSessionEvents.maxPlayerEventsPerRequest else {
            throw Problem.badField("userEvent", "userEvent may hold at most \(WatchSessionEvents.maxPlayerEventsPerRequest) events")
        }
        return try bodies.enumerated().map { index, body in try body.parsed(field: "userEvent[\(index)]") }
    }
}
