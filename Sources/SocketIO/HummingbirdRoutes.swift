public import Hummingbird
public import HummingbirdWebSocket

extension SocketIOServer {
    /// Adds the HTTP long-polling routes of Engine.IO at `path` (`/socket.io/`): `GET` and
    /// `POST`, and the other methods, which the protocol answers with a 400.
    public func addPollingRoutes<Context: RequestContext>(to router: Router<Context>, path: RouterPath = "socket.io") {
        let maxPayload = configuration.maxPayload
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on(path, method: method) { request, _ in
                let answer = await self.respondToPolling(method: request.method, query: Self.query(request), headers: request.headers) {
                    var request = request
                    do {
                        return try await request.collectBody(upTo: maxPayload)
                    } catch let error as HTTPError where error.status == .contentTooLarge {
                        return nil
                    }
                }
                var headers: HTTPFields = [.contentType: answer.contentType]
                headers[.cacheControl] = "no-store"
                return Response(status: answer.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
            }
        }
    }

    /// Adds the WebSocket route of Engine.IO at `path` to the router a
    /// `.http1WebSocketUpgrade(webSocketRouter:)` server takes its upgrades from.
    public func addWebSocketRoute<Context: WebSocketRequestContext>(to router: Router<Context>, path: RouterPath = "socket.io") {
        router.ws(path) { request, _ in
            self.acceptsWebSocket(query: Self.query(request)) ? .upgrade([:]) : .dontUpgrade
        } onUpgrade: { inbound, outbound, context in
            await self.serveWebSocket(inbound: inbound, outbound: outbound, query: Self.query(context.request), headers: context.request.headers)
        }
    }

    /// The request's query parameters, the last value of each name.
    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        return query
    }
}
