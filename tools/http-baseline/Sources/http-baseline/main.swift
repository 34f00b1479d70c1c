// http-baseline: the floor for tools/bench-http. Each route does only what any Hummingbird
// handler of that shape must do (read the path parameter, decode/encode JSON with Codable)
// and nothing else: no auth, no storage, no middleware.
//
// Usage: http-baseline [--host HOST] [--port PORT] [--durable DIR]   (defaults 127.0.0.1, 8090)
//
// With --durable DIR, the three write routes (heartbeat, realtime, track) also append the
// request's bytes to a raw LMDB table in DIR and answer after its fsync (DurableLog.swift):
// the floor for a server that acknowledges only what is durable.
import Hummingbird
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Response of `POST /user-sessions/heartbeat/:sessionId`, as Playhead answers a live session.
struct HeartbeatResponse: ResponseEncodable {
    let status: String
    let needsNewSession: Bool
}

/// Body of `POST /progress/realtime`, as the spec and Playhead have it.
struct RealtimeProgress: Decodable {
    let userId: String
    let videoId: String
    let watchedDuration: Double
    let lastWatched: String?
    let videoDuration: Double?
}

/// Response of `GET /progress/summary/:videoId`, in Playhead's shape.
struct SummaryResponse: ResponseEncodable {
    let videoId: String
    let averageWatchedDuration: Int
    let completionRate: Double
    let viewers: UInt64
    let completedViewers: UInt64
    let videoDuration: Double?
}

struct StatusResponse: ResponseEncodable {
    let status: String
}

/// An id sent as a string or a number, as `POST /interactions/track` accepts it.
struct FlexibleID: Decodable {
    let text: String
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self.text = text } else { text = String(try container.decode(Int64.self)) }
    }
}

/// Body of `POST /interactions/track`, as the spec and Playhead have it.
struct TrackInteraction: Decodable {
    let userId: FlexibleID
    let contentId: FlexibleID
    let interactionType: String
    let interactionValue: Int64?
    let moodAtInteraction: String?
    let moodIntensityAtInteraction: Int64?
    let interactionDurationSeconds: Int64?
    let context: String?
    let notes: String?
    let contentType: String?
}

/// An interaction in Playhead's shape.
struct InteractionResponse: ResponseEncodable {
    let id: String
    let userId: String
    let contentId: String
    let interactionType: String
    let interactionValue: Int64?
    let moodAtInteraction: String?
    let moodIntensityAtInteraction: Int64?
    let interactionDurationSeconds: Int64?
    let context: String?
    let notes: String?
    let contentType: String?
    let count: UInt64
    let createdAt: String
    let updatedAt: String

    init(userId: String, contentId: String, type: String, value: Int64?) {
        id = "6a1f0c3e-2b7d-4c9a-8e51-0d4b7f2a9c13"
        self.userId = userId
        self.contentId = contentId
        interactionType = type
        interactionValue = value
        moodAtInteraction = nil
        moodIntensityAtInteraction = nil
        interactionDurationSeconds = 120
        context = "benchmark"
        notes = nil
        contentType = "movies"
        count = 1
        createdAt = "2026-01-01T00:00:00.000000Z"
        updatedAt = "2026-01-01T00:00:00.000000Z"
    }
}

/// `GET /interactions/history/:userId` in Playhead's shape.
struct HistoryResponse: ResponseEncodable {
    let userId: String
    let data: [InteractionResponse]
    let total: Int
    let limit: Int
    let offset: Int
}

// Arguments, by hand: --host H, --port P (also --host=H, --port=P).
var host = "127.0.0.1"
var port = 8090
var durableDirectory: String?
var args = CommandLine.arguments.dropFirst()
func fail(_ message: String) -> Never {
    let text = "http-baseline: \(message)\nusage: http-baseline [--host HOST] [--port PORT] [--durable DIR]\n"
    _ = text.withCString { write(2, $0, strlen($0)) }  // stderr; `stderr` itself is not Sendable
    exit(2)
}
while let arg = args.popFirst() {
    var name = arg
    var value: String?
    if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
        name = String(arg[..<eq])
        value = String(arg[arg.index(after: eq)...])
    }
    switch name {
    case "--host":
        guard let v = value ?? args.popFirst() else { fail("--host needs a value") }
        host = v
    case "--port":
        guard let v = value ?? args.popFirst(), let p = Int(v), (0...65535).contains(p) else {
            fail("--port needs a number 0...65535")
        }
        port = p
    case "--durable":
        guard let v = value ?? args.popFirst() else { fail("--durable needs a directory") }
        durableDirectory = v
    case "-h", "--help":
        print("usage: http-baseline [--host HOST] [--port PORT] [--durable DIR]")
        exit(0)
    default:
        fail("unknown argument \(arg)")
    }
}

var logger = Logger(label: "http-baseline")
logger.logLevel = .warning  // per-request logging would skew the figures

let log: DurableLog?
do {
    log = try durableDirectory.map { try DurableLog(directory: $0) }
} catch {
    fail("cannot open the durable log: \(error)")
}

/// With --durable, appends the request's body (read whole, and left readable for the
/// decoder) and returns once it is durable; else does nothing.
func appendBody(_ request: inout Request) async throws {
    guard let log else { return }
    let body = try await request.collectBody(upTo: 1 << 16)
    try await log.append(Array(body.readableBytesView))
}

let router = Router()
router.post("/user-sessions/heartbeat/:sessionId") { _, context -> HeartbeatResponse in
    let sessionId = try context.parameters.require("sessionId")
    try await log?.append(Array("heartbeat \(sessionId)".utf8))
    return HeartbeatResponse(status: "active", needsNewSession: false)
}
router.post("/progress/realtime") { request, context -> StatusResponse in
    var request = request
    try await appendBody(&request)
    _ = try await request.decode(as: RealtimeProgress.self, context: context)
    return StatusResponse(status: "received")
}
router.get("/progress/summary/:videoId") { _, context -> SummaryResponse in
    let videoId = try context.parameters.require("videoId")
    return SummaryResponse(
        videoId: videoId,
        averageWatchedDuration: 1_800,
        completionRate: 0.1,
        viewers: 100_000,
        completedViewers: 10_000,
        videoDuration: 3_600
    )
}
router.post("/interactions/track") { request, context -> InteractionResponse in
    var request = request
    try await appendBody(&request)
    let body = try await request.decode(as: TrackInteraction.self, context: context)
    return InteractionResponse(userId: body.userId.text, contentId: body.contentId.text, type: body.interactionType, value: body.interactionValue)
}
router.get("/interactions/history/:userId") { _, context -> HistoryResponse in
    let userId = try context.parameters.require("userId")
    let page = (0..<50).map { InteractionResponse(userId: userId, contentId: "content-\($0)", type: "like", value: 5) }
    return HistoryResponse(userId: userId, data: page, total: 100_000, limit: 50, offset: 0)
}
/// `GET /stream/:lines`: a CSV-like download of that many 120-byte lines in chunks of
/// 1,000, the floor for an export streamed in chunks.
router.get("/stream/:lines") { _, context -> Response in
    let lines = Int(try context.parameters.require("lines")) ?? 0
    let line = String(repeating: "x", count: 119) + "\n"
    let chunk = String(repeating: line, count: 1_000)
    return Response(
        status: .ok,
        headers: [.contentType: "text/csv"],
        body: ResponseBody { writer in
            var left = lines
            while left > 0 {
                let count = min(left, 1_000)
                try await writer.write(ByteBuffer(string: count == 1_000 ? chunk : String(repeating: line, count: count)))
                left -= count
            }
            try await writer.finish(nil)
        }
    )
}
router.get("/health") { _, _ in "ok" }

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "http-baseline"),
    logger: logger
)
try await app.runService()
