import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Gives every request its id in Playhead's one form (``RequestIdentity``, 32 hex digits)
/// and sets `X-Request-Id` on every response to it. Outermost, so that every response has
/// it, problem documents and 401s included; the request's logger carries the same id as
/// `hb.request.id`, and the events it appends carry it as their correlation id.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let hummingbirdID = context.id
        let identity = RequestIdentity(hummingbirdID: hummingbirdID)
        // Only when Hummingbird's id was not already in the 32-digit form (about one process
        // start in sixteen): the log lines then show the id the response and events carry.
        if identity.text != hummingbirdID { context.logger[metadataKey: "hb.request.id"] = .string(identity.text) }
        context.requestIdentity = identity
        var response = try await next(request, context)
        response.headers[.requestID] = identity.text
        return response
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
}

/// Logs one line per request once it is answered, refused ones included:
/// `hb.request.id=… hb.request.method=POST hb.request.path=/user-sessions duration_ms=0.412 status=201 request`.
///
/// `status` is the status the client got (the middleware sits outside the problem and auth
/// layers); `duration_ms` is the time from this middleware to the response's head, in
/// milliseconds with three decimals (a streamed body, an export or the event stream, goes
/// on after it). At a log level above `level`, the middleware does nothing but pass the
/// request on.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext
    /// The level of the request lines.
    let level: Logger.Level

    init(_ level: Logger.Level) { self.level = level }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.logger.logLevel <= level else { return try await next(request, context) }
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // ProblemMiddleware answers every error inside it; should one still get here,
            // Hummingbird answers it with its status, or a 500.
            log(request, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: start, logger: context.logger)
            throw error
        }
        log(request, status: response.status.code, since: start, logger: context.logger)
        return response
    }

    private func log(_ request: Request, status: Int, since start: ContinuousClock.Instant, logger: Logger) {
        let elapsed = ContinuousClock.now - start
        logger.log(
            level: level,
            "request",
            metadata: [
                "hb.request.method": .string(request.method.rawValue),
                "hb.request.path": .string(request.uri.path),
                "status": .stringConvertible(status),
                "duration_ms": .string(Self.milliseconds(elapsed)),
            ]
        )
    }

    /// `duration` in milliseconds with three decimals: `0.412`, `12.000`.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let fraction = String(microseconds % 1000)
        return "\(microseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// Logs `playhead stopped` at `notice` when the server has stopped: after a graceful
/// shutdown (SIGINT, SIGTERM), once the HTTP server has answered the requests in flight,
/// or when its task is cancelled. It is the first of the application's services, and a
/// service group shuts its services down in reverse order, so its line comes last.
struct StopLogService: Service {
    let logger: Logger
    let address: BoundAddress

    func run() async throws {
        // Returns at a graceful shutdown, throws when cancelled: either way the server stopped.
        try? await gracefulShutdown()
        logger.notice("playhead stopped", metadata: ["address": .string(address.text)])
    }
}

/// The server's address, `http://host:port`: the configured port until the server has
/// bound one (`--port 0` takes any free port).
final class BoundAddress: Sendable {
    private let value: Mutex<String>

    init(_ text: String) { value = Mutex(text) }

    var text: String {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
