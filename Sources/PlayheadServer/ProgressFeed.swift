import EventLog
import Foundation
import LMDBLog
import PlayheadCore
import Synchronization
import Views

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

    private struct State {
        /// The subscribers of each followed user, by subscription id. Users and videos are
        /// keyed by their bytes: two spellings of one text are two users.
        var subscribers: [UTF8Key: [UInt64: AsyncStream<Message>.Continuation]] = [:]
        /// The log position of the last message sent per followed user and video.
        var lastPositions: [UTF8Key: [UTF8Key: UInt64]] = [:]
    }

    private let state = Mutex(State())
    private let lastID = Atomic<UInt64>(0)
    /// How often a quiet stream gets a keep-alive.
    let keepAliveInterval: Duration

    init(keepAliveInterval: Duration = .seconds(15)) { self.keepAliveInterval = keepAliveInterval }

    /// The changes of `userId` from now on, and a function that ends them. The stream also
    /// ends when its consumer stops iterating or is cancelled. A consumer that falls behind
    /// by more than 256 messages loses the oldest.
    func subscribe(_ userId: String) -> (messages: AsyncStream<Message>, finish: @Sendable () -> Void) {
        let userId = UTF8Key(userId)
        let (stream, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingNewest(256))
        let id = lastID.add(1, ordering: .relaxed).newValue
        state.withLock { $0.subscribers[userId, default: [:]][id] = continuation }
        let interval = keepAliveInterval
        let pinger = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(.keepAlive)
            }
        }
        continuation.onTermination = { [weak self] _ in
            pinger.cancel()
            self?.state.withLock { state in
                state.subscribers[userId]?[id] = nil
                if state.subscribers[userId]?.isEmpty == true {
                    state.subscribers[userId] = nil
                    state.lastPositions[userId] = nil
                }
            }
        }
        return (stream, { continuation.finish() })
    }

    /// Whether anyone follows `userId` (so that writers skip preparing messages nobody reads).
    func hasSubscribers(_ userId: String) -> Bool { state.withLock { $0.subscribers[UTF8Key(userId)] != nil } }

    /// Sends `message`, about `videoId` and made by the append at log `position`, to every
    /// subscriber of `userId`. Requests answered by one commit resume in any order, so a
    /// message older (by position) than the last one sent for the same video is dropped:
    /// subscribers never end on a stale state.
    func publish(_ message: Message, about videoId: String, at position: UInt64, to userId: String) {
        let userId = UTF8Key(userId)
        let videoId = UTF8Key(videoId)
        let continuations = state.withLock { state -> [AsyncStream<Message>.Continuation] in
            guard let followers = state.subscribers[userId] else { return [] }
            if let last = state.lastPositions[userId]?[videoId], last >= position { return [] }
            state.lastPositions[userId, default: [:]][videoId] = position
            return Array(followers.values)
        }
        for continuation in continuations { continuation.yield(message) }
    }
}
