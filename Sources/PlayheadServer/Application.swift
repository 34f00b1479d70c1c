import EventLog
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import LMDBLog
import Logging
import Metrics
import NIOCore
public import PlayheadCore
import Projections
import ServiceLifecycle
import SocketIO
import UnixSignals
import Views
import WatchDomain

/// The Playhead HTTP server: every module's routes on one Hummingbird router, behind
/// problem-document errors, request ids, metrics and bearer authentication.
public enum PlayheadHTTPServer {
    /// Commit reports for ``CommitReport``-observing log configurations: feeds `/metrics`.
    public static let commitObserver: @Sendable (CommitReport) -> Void = { PlayheadMetrics.record($0) }

    /// Serves `store` until SIGINT or SIGTERM, then shuts down gracefully, cancelling what is
    /// still in flight after ``ServerConfiguration/gracefulShutdownLimit`` (the store stays
    /// open: the caller closes it).
    public static func run(
        store: PlayheadStore,
        configuration: ServerConfiguration,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        try await run(served: .embedded(store), configuration: configuration, onServerRunning: onServerRunning)
    }

    /// Serves `served` (the embedded store or a node) as ``run(store:configuration:onServerRunning:)`` does.
    public static func run(
        served: ServedStore,
        configuration: ServerConfiguration,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let application = try await application(served: served, configuration: configuration, onServerRunning: onServerRunning)
        var group = ServiceGroupConfiguration(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: configuration.logger)
        // Requests still in flight when the limit passes are cancelled: a stalled client must
        // not keep the store locked.
        group.maximumGracefulShutdownDuration = configuration.gracefulShutdownLimit
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
    }

    /// The application serving `store`; `onServerRunning` gets the bound port.
    ///
    /// It logs `playhead serving` (with the address and the store) at `notice` once it
    /// listens, one line per request at `info` (``RequestLogMiddleware``), and
    /// `playhead stopped` at `notice` once it has stopped serving.
    public static func application(
        store: PlayheadStore,
        configuration: ServerConfiguration,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try await application(served: .embedded(store), configuration: configuration, onServerRunning: onServerRunning)
    }

    /// The application serving `served` (the embedded store or a node).
    public static func application(
        served store: ServedStore,
        configuration: ServerConfiguration,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        _ = PlayheadMetrics.registry
        let authority = try await TokenAuthority(secret: configuration.jwtSecret)
        // Every GET route also answers HEAD (RFC 9110 §9.3.2): the same status and headers, no body.
        let router = Router(context: PlayheadRequestContext.self, options: .autoGenerateHeadEndpoints)
        // Outermost first: every response, problem documents included, gets its request id,
        // is counted and logged with its final status.
        router.middlewares.add(RequestIDMiddleware())
        router.middlewares.add(HTTPMetricsMiddleware())
        router.middlewares.add(RequestLogMiddleware(.info))
        let routes = RouteTable()
        router.middlewares.add(ProblemMiddleware(routes: routes))
        router.middlewares.add(BearerAuthMiddleware(authority: authority))

        let runner = store.runner
        let access = AccessPolicy()
        let feed = LiveFeed(log: store.feedLog, views: store.projections, logger: configuration.logger)
        let userSessions = UserSessionCommands(runner: runner, clock: configuration.clock, timeout: configuration.sessionTimeout)
        UserSessionRoutes(commands: userSessions).add(to: router)
        SessionMetricsRoutes(queries: UserSessionQueries(views: store.projections)).add(to: router)
        WatchSessionRoutes(commands: WatchSessionCommands(runner: runner, access: access)).add(to: router)
        ProgressRoutes(
            commands: VideoProgressCommands(runner: runner, access: access, clock: configuration.clock),
            queries: VideoProgressQueries(views: store.projections),
            feed: feed,
            keepAliveInterval: configuration.streamKeepAliveInterval
        ).add(to: router)
        InteractionRoutes(
            commands: InteractionCommands(runner: runner),
            queries: InteractionQueries(views: store.projections),
            access: access,
            clock: configuration.clock
        ).add(to: router)
        let watchParties = WatchPartyCommands(runner: runner, access: access, analytics: store.asyncProjections, clock: configuration.clock)
        // No socket is connected yet: members a stopped server left online are gone. Only on
        // the embedded store: a node's views count the connections of every node, and the
        // others' members are still there.
        if case .embedded = store {
            let ghosts = try await watchParties.leaveConnectionsOnline(correlation: UUID())
            if ghosts > 0 { configuration.logger.notice("logged the leaves of connections left online", metadata: ["connections": "\(ghosts)"]) }
        }
        WatchPartyRoutes(commands: watchParties).add(to: router)
        VideoAnalyticsRoutes(queries: VideoAnalyticsQueries(store.asyncProjections)).add(to: router)
        OperationsRoutes(store: store).add(to: router)

        // The Socket.IO gateway on the same port: long-polling on the router, WebSocket
        // upgrades on a router of their own.
        let gateway = SocketIOServer(
            configuration: configuration.socketIO,
            namespaces: [
                PartyGateway.namespace: PartyGateway(
                    authority: authority,
                    commands: watchParties,
                    feed: feed,
                    feedCapacity: configuration.partyRoomFeedCapacity,
                    logger: configuration.logger
                )
            ],
            logger: configuration.logger
        )
        gateway.addPollingRoutes(to: router)
        let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
        gateway.addWebSocketRoute(to: webSocketRouter)

        let logger = configuration.logger
        let host = configuration.host
        let address = BoundAddress("http://\(host):\(configuration.port)")
        routes.record(router)
        return Application(
            router: router,
            // A WebSocket frame carries one Engine.IO packet: frames up to the advertised
            // `maxPayload` (hummingbird-websocket's default is 16 KiB).
            server: HTTPServerBuilder { [webSocketResponder = webSocketRouter.buildResponder()] responder in
                GuardedUpgradeChannel(
                    upgradeChannel: HTTP1WebSocketUpgradeChannel(
                        responder: responder,
                        webSocketResponder: webSocketResponder,
                        configuration: HTTP1WebSocketUpgradeChannel.Configuration(
                            http1: HTTP1Channel.Configuration(idleTimeout: TimeAmount(configuration.idleConnectionTimeout)),
                            ws: WebSocketServerConfiguration(maxFrameSize: configuration.socketIO.maxPayload)
                        )
                    ),
                    requestHeadTimeout: configuration.requestHeadTimeout
                )
            },
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "playhead"),
            services: [
                // First, so that a shutdown reaches it last (see StopLogService).
                StopLogService(logger: logger, address: address),
                // The progress streams' source: what the log commits, per topic.
                feed,
            ] + store.services(configuration: configuration, logger: logger) + [
                PartyStatusScheduler(commands: watchParties, interval: configuration.partySchedulerInterval, logger: logger),
                SocketIOShutdown(server: gateway),
            ],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                address.text = "http://\(host):\(port)"
                // The caller's own start-up work (saving a new JWT secret) first: whoever reads
                // this line may rely on it.
                await onServerRunning(port)
                logger.notice("playhead serving", metadata: ["address": .string(address.text), "store": .string(store.description)])
            },
            logger: logger
        )
    }
}

/// `/health`, `/ready`, `/openapi.yaml` (open) and `/metrics` (administrators).
struct OperationsRoutes {
    let store: ServedStore

    /// The OpenAPI document, compiled into the binary from `Resources/openapi.yaml` (SwiftPM's
    /// `embedInCode` rule), so that it goes wherever the executable goes.
    static let openAPIDocument = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
    /// The operators' dashboard (issue 17), compiled in from `Resources/dashboard.html`: one
    /// page, its script inline, that reads the API with a token it asks for.
    static let dashboardPage = String(decoding: PackageResources.dashboard_html, as: UTF8.self)

    struct Readiness: ResponseEncodable {
        var status: String
        var head: UInt64
        var projectionLag: UInt64
        /// How many events the asynchronous projections are behind the log; they may lag
        /// without making the server unready.
        var asyncProjectionLag: UInt64
        /// Why the views are not catching up, while their catch-up keeps failing.
        var reason: String?
    }

    func add(to router: Router<PlayheadRequestContext>) {
        router.get("health") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("ready") { _, _ in
            let (head, lag, asyncLag, failure) = try await store.readiness()
            let ready = lag <= store.readyLag && failure == nil
            return EditedResponse(
                status: ready ? .ok : .serviceUnavailable,
                response: Readiness(
                    status: ready ? "ready" : "catching up",
                    head: head,
                    projectionLag: lag,
                    asyncProjectionLag: asyncLag,
                    reason: failure
                )
            )
        }
        router.get("dashboard") { _, _ in
            var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
            // Nothing from elsewhere: its script and style are inline, its charts blobs of the API's SVG.
            headers[.contentSecurityPolicy] =
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob:; connect-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Self.dashboardPage)))
        }
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: Self.openAPIDocument)))
        }
        router.get("metrics") { _, context in
            _ = try context.requireAdmin()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: PlayheadMetrics.exposition(readiness: try await store.readiness())))
            )
        }
    }
}

/// Ends the gateway's sessions when the server shuts down, so that long polls answer and
/// WebSockets close instead of holding the shutdown up.
struct SocketIOShutdown: Service {
    let server: SocketIOServer

    func run() async throws {
        try? await gracefulShutdown()
        server.closeAll()
    }
}

/// Switches the server to the views that `playhead rebuild` publishes while it runs.
struct ViewsWatcher: Service {
    let store: PlayheadStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                if try await store.adoptPublishedViews() {
                    logger.notice("now serving rebuilt views", metadata: ["views": "\(store.projections.directory)"])
                }
            } catch {
                logger.error("could not adopt rebuilt views", metadata: ["error": "\(error)"])
            }
        }
    }
}
