import Foundation
import Hummingbird
import PlayheadCore
import ServiceLifecycle

/// `GET /progress/stream/:userId`: a user's progress as Server-Sent Events, from the
/// ``LiveFeed`` topic of their progress, with a keep-alive comment at a fixed interval so that
/// proxies keep the connection open and a vanished client is noticed.
struct ProgressStream {
    let feed: LiveFeed
    let userId: String
    let keepAliveInterval: Duration

    func response() -> Response {
        let (feed, userId, interval) = (feed, userId, keepAliveInterval)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                // Subscribed only once the body is written: a HEAD request, whose body is
                // dropped, leaves no subscriber behind.
                let messages = await feed.subscribe(.progress(of: userId), keepAlive: interval)
                // Sent at once, so that the client knows it is subscribed.
                try await writer.write(ByteBuffer(string: "retry: 3000\n: subscribed to \(userId)\n\n"))
                // A shutting-down server ends the stream, so that its clients reconnect elsewhere.
                try await withGracefulShutdownHandler {
                    for await message in messages {
                        try await writer.write(ByteBuffer(string: try Self.text(of: message, userId: userId, encoder: encoder)))
                    }
                } onGracefulShutdown: {
                    messages.finish()
                }
                try await writer.finish(nil)
            }
        )
    }

    /// The SSE text of one message.
    static func text(of message: FeedMessage, userId: String, encoder: JSONEncoder) throws -> String {
        switch message {
        case .progress(let progress):
            return "event: progress\ndata: \(String(decoding: try encoder.encode(ProgressBody(progress)), as: UTF8.self))\n\n"
        case .progressDeleted(_, let videoId):
            let data = try encoder.encode(["userId": userId, "videoId": videoId])
            return "event: progress-deleted\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        case .keepAlive, .partyEntry:
            // A progress topic gets no party entries; a keep-alive says nothing either.
            return ": keep-alive\n\n"
        case .ended(let end):
            let data = try encoder.encode(["reason": end.reason.description, "message": end.message])
            return "event: end\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        }
    }
}
