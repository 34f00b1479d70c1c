import Foundation
import Synchronization

/// Users' progress as it changes, for `GET /progress/stream/:userId`: every subscriber of
/// a user gets each change after it is durable, and a keep-alive at a fixed interval so that
/// proxies keep the connection open and a vanished client is noticed.
final class ProgressFeed: Sendable {
    /// What a subscriber receives.
    enum Message: Sendable {
        /// The user's merged progress in a video changed.
        case progress(ProgressBody)
        /// The user's progress in a video was deleted.
        case deleted(videoId: String)
        /// Nothing happened for a while.
        case keepAlive
    }

    private let subscribers = Mutex<[String: [UInt64: AsyncStream<Message>.Continuation]]>([:])
    private let lastID = Atomic<UInt64>(0)
    /// How often a quiet stream gets a keep-alive.
    let keepAliveInterval: Duration

    init(keepAliveInterval: Duration = .seconds(15)) { self.keepAliveInterval = keepAliveInterval }

    /// The changes of `userId` from now on, and a function that ends them. The stream also
    /// ends when its consumer stops iterating or is cancelled. A consumer that falls behind
    /// by more than 256 messages loses the oldest.
    func subscribe(_ userId: String) -> (messages: AsyncStream<Message>, finish: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingNewest(256))
        let id = lastID.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[userId, default: [:]][id] = continuation }
        let interval = keepAliveInterval
        let pinger = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(.keepAlive)
            }
        }
        continuation.onTermination = { [weak self] _ in
            pinger.cancel()
            self?.subscribers.withLock { subscribers in
                subscribers[userId]?[id] = nil
                if subscribers[userId]?.isEmpty == true { subscribers[userId] = nil }
            }
        }
        return (stream, { continuation.finish() })
    }

    /// Whether anyone follows `userId` (so that writers skip preparing messages nobody reads).
    func hasSubscribers(_ userId: String) -> Bool { subscribers.withLock { $0[userId] != nil } }

    /// Sends `message` to every subscriber of `userId`.
    func publish(_ message: Message, to userId: String) {
        let continuations = subscribers.withLock { $0[userId].map { Array($0.values) } } ?? []
        for continuation in continuations { continuation.yield(message) }
    }
}
