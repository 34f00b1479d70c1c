// http-baseline: the floor for tools/bench-http. Each route does only what any Hummingbird
// handler of that shape must do (read the path parameter, decode/encode JSON with Codable)
// and nothing else: no auth, no storage, no middleware.
//
// Usage: http-baseline [--host HOST] [--port PORT]     (defaults 127.0.0.1, 8090)
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

// Arguments, by hand: --host H, --port P (also --host=H, --port=P).
var host = "127.0.0.1"
var port = 8090
var args = CommandLine.arguments.dropFirst()
func fail(_ message: String) -> Never {
    let text = "http-baseline: \(message)\nusage: http-baseline [--host HOST] [--port PORT]\n"
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
    case "-h", "--help":
        print("usage: http-baseline [--host HOST] [--port PORT]")
        exit(0)
    default:
        fail("unknown argument \(arg)")
    }
}

var logger = Logger(label: "http-baseline")
logger.logLevel = .warning  // per-request logging would skew the figures

let router = Router()
router.post("/user-sessions/heartbeat/:sessionId") { _, context -> HeartbeatResponse in
    _ = try context.parameters.require("sessionId")
    return HeartbeatResponse(status: "active", needsNewSession: false)
}
router.post("/progress/realtime") { request, context -> StatusResponse in
    _ = try await request.decode(as: RealtimeProgress.self, context: context)
    return StatusResponse(status: "received")
}
router.get("/progress/summary/:videoId") { _, context -> SummaryResponse in
    let videoId = try context.parameters.require("videoId")
    return SummaryResponse(videoId: videoId, averageWatchedDuration: 1_800, completionRate: 0.1, viewers: 100_000, completedViewers: 10_000, videoDuration: 3_600)
}
router.get("/health") { _, _ in "ok" }

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "http-baseline"),
    logger: logger
)
try await app.runService()
