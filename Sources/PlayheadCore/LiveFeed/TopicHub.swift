public import EventLog
import Synchronization

/// The fan-out of the live feed: subscribers per ``FeedTopic``, each with a bounded queue.
///
/// - A message goes to every subscriber of its topic. A subscriber whose queue already holds
///   its capacity of unread messages is dropped instead: it receives
///   ``FeedMessage/ended(_:)`` with ``FeedEnd/Reason/fellBehind`` after what it has queued,
///   and nothing more. Publishing never waits for a subscriber.
/// - Stale drop: a message about a subject (a video) is sent at a log position; one at a
///   position not after the last one sent about the same subject on the same topic is
///   dropped, so a subscriber never receives an older state after a newer one.
///
/// Publishing and subscribing are synchronous and thread-safe; the ``LiveFeed`` publishes
/// what the log commits, and tests publish by hand.
public final class TopicHub: Sendable {
    /// How many unread messages a subscriber may have queued before it is dropped.
    public static let defaultCapacity = 256

    fileprivate struct Subscriber: Sendable {
        let continuation: AsyncStream<FeedMessage>.Continuation
        let pending: PendingCount
        let capacity: Int
    }

    private struct State {
        var subscribers: [FeedTopic: [UInt64: Subscriber]] = [:]
        /// The position of the last message sent per topic and subject.
        var lastPositions: [FeedTopic: [UTF8Key: LogPosition]] = [:]
        var count = 0
        var nextID: UInt64 = 0
        /// Whether the feed is following the log; subscribers wait for it (``LiveFeed``).
        var live = false
        var stopped = false
        /// Subscribers waiting for the feed to follow the log, by subscriber id.
        var liveWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var busyWaiter: (id: UInt64, continuation: CheckedContinuation<Bool, Never>)?
        var idleWaiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
    }

    private let state = Mutex(State())

    /// An empty hub.
    public init() {}

    /// Subscribes to `topic` from now on; `capacity` bounds the subscriber's unread messages
    /// and `keepAlive`, when given, is how often a ``FeedMessage/keepAlive`` is queued.
    /// The subscription ends when ``FeedSubscription/finish()`` is called, when its consumer
    /// is cancelled or stops iterating, or when the hub drops it.
    public func subscribe(_ topic: FeedTopic, capacity: Int = defaultCapacity, keepAlive: Duration? = nil) -> FeedSubscription {
        let (stream, continuation) = AsyncStream.makeStream(of: FeedMessage.self)
        let pending = PendingCount()
        let subscriber = Subscriber(continuation: continuation, pending: pending, capacity: max(1, capacity))
        let (id, woken) = state.withLock { state -> (UInt64, CheckedContinuation<Bool, Never>?) in
            state.nextID += 1
            state.subscribers[topic, default: [:]][state.nextID] = subscriber
            state.count += 1
            let woken = state.busyWaiter?.continuation
            state.busyWaiter = nil
            return (state.nextID, woken)
        }
        woken?.resume(returning: true)
        let pinger = keepAlive.map { interval in
            Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard !Task.isCancelled, let self else { return }
                    self.deliver(.keepAlive, to: topic, id)
                }
            }
        }
        continuation.onTermination = { [weak self] _ in
            pinger?.cancel()
            self?.remove(topic, id)
        }
        return FeedSubscription(id: id, topic: topic, stream: stream, continuation: continuation, pending: pending)
    }

    /// Whether anyone follows `topic`.
    public func hasSubscribers(_ topic: FeedTopic) -> Bool { state.withLock { $0.subscribers[topic] != nil } }

    /// How many subscriptions are open.
    public var subscriberCount: Int { state.withLock { $0.count } }

    /// The position of the last message sent about `subject` on `topic`, nil when none was
    /// (or nobody follows the topic).
    public func lastPosition(_ topic: FeedTopic, about subject: UTF8Key) -> LogPosition? {
        state.withLock { $0.lastPositions[topic]?[subject] }
    }

    /// Sends `message`, about `subject` and true as of log `position`, to every subscriber of
    /// `topic`. Returns false when it was stale (see the type's description) or nobody follows
    /// the topic.
    @discardableResult
    public func publish(_ message: FeedMessage, to topic: FeedTopic, about subject: UTF8Key, at position: LogPosition) -> Bool {
        let (kept, dropped, waiters) = state.withLock { state -> ([Subscriber], [Subscriber], [CheckedContinuation<Void, Never>]) in
            guard let followers = state.subscribers[topic] else { return ([], [], []) }
            if let last = state.lastPositions[topic]?[subject], last >= position { return ([], [], []) }
            state.lastPositions[topic, default: [:]][subject] = position
            var kept: [Subscriber] = []
            var dropped: [Subscriber] = []
            var waiters: [CheckedContinuation<Void, Never>] = []
            for (id, subscriber) in followers {
                if subscriber.pending.value >= subscriber.capacity {
                    dropped.append(subscriber)
                    if let waiter = Self.removeLocked(&state, topic, id) { waiters.append(waiter) }
                } else {
                    subscriber.pending.increment()
                    kept.append(subscriber)
                }
            }
            return (kept, dropped, waiters)
        }
        for subscriber in kept { subscriber.continuation.yield(message) }
        for subscriber in dropped { Self.end(subscriber, Self.fellBehind(subscriber.capacity)) }
        for waiter in waiters { waiter.resume() }
        return !kept.isEmpty || !dropped.isEmpty
    }

    /// Ends every subscription with `end`.
    public func endAll(_ end: FeedEnd) {
        let all = state.withLock { state -> [Subscriber] in
            let all = state.subscribers.values.flatMap(\.values)
            state.subscribers = [:]
            state.lastPositions = [:]
            state.count = 0
            return all
        }
        for subscriber in all { Self.end(subscriber, end) }
    }

    private static func fellBehind(_ capacity: Int) -> FeedEnd {
        FeedEnd(.fellBehind, "the subscriber fell \(capacity) messages behind and was dropped; subscribe again")
    }

    private static func end(_ subscriber: Subscriber, _ end: FeedEnd) {
        subscriber.continuation.yield(.ended(end))
        subscriber.continuation.finish()
    }

    /// Queues `message` for subscriber `id` of `topic` alone (its keep-alives), with the
    /// same bound as published messages.
    private func deliver(_ message: FeedMessage, to topic: FeedTopic, _ id: UInt64) {
        let (target, dropped, waiter) = state.withLock { state -> (Subscriber?, Bool, CheckedContinuation<Void, Never>?) in
            guard let subscriber = state.subscribers[topic]?[id] else { return (nil, false, nil) }
            if subscriber.pending.value >= subscriber.capacity {
                return (subscriber, true, Self.removeLocked(&state, topic, id))
            }
            subscriber.pending.increment()
            return (subscriber, false, nil)
        }
        guard let target else { return }
        if dropped {
            Self.end(target, Self.fellBehind(target.capacity))
            waiter?.resume()
        } else {
            target.continuation.yield(message)
        }
    }

    private func remove(_ topic: FeedTopic, _ id: UInt64) {
        let (waiter, idle) = state.withLock { state in
            (Self.removeLocked(&state, topic, id), Self.takeIdleWaiter(&state))
        }
        waiter?.resume()
        idle?.resume()
    }

    /// Removes subscriber `id`; returns its wait for the feed to go live, if it is waiting,
    /// for the caller to resume once the lock is released: a subscriber dropped before the
    /// feed went live must not wait for it for ever (the feed may never go live again for a
    /// hub whose last subscriber that was).
    private static func removeLocked(_ state: inout State, _ topic: FeedTopic, _ id: UInt64) -> CheckedContinuation<Void, Never>? {
        guard state.subscribers[topic]?.removeValue(forKey: id) != nil else { return nil }
        state.count -= 1
        if state.subscribers[topic]?.isEmpty == true {
            state.subscribers[topic] = nil
            state.lastPositions[topic] = nil
        }
        return state.liveWaiters.removeValue(forKey: id)
    }

    /// The idle waiter, when there is one and nobody subscribes any more; marks the hub not live.
    private static func takeIdleWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        guard state.count == 0, let waiter = state.idleWaiter else { return nil }
        state.idleWaiter = nil
        state.live = false
        return waiter.continuation
    }

    // MARK: Following the log only while someone subscribes (``LiveFeed``)

    /// Suspends until someone subscribes; false when the task was cancelled first.
    func waitForSubscribers() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if state.count > 0 { return true }
                    if Task.isCancelled { return false }
                    state.busyWaiter = (id, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let waiter = state.busyWaiter, waiter.id == id else { return nil }
                state.busyWaiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: false)
        }
    }

    /// Marks the feed as following the log: subscribers waiting in ``waitUntilLive(_:)`` go on.
    func goLive() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.live = true
            defer { state.liveWaiters = [:] }
            return Array(state.liveWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until nobody subscribes (and marks the hub not live then), or the task is cancelled.
    func waitUntilIdle() async {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let immediate = state.withLock { state -> Bool in
                    if state.count == 0 {
                        state.live = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.idleWaiter = (id, continuation)
                    return false
                }
                if immediate { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.idleWaiter, waiter.id == id else { return nil }
                state.idleWaiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }

    /// Suspends until the feed follows the log (at once when it does), the feed stops,
    /// `subscription` is dropped (it then ends with ``FeedMessage/ended(_:)``), or the task is
    /// cancelled.
    func waitUntilLive(_ subscription: FeedSubscription) async {
        let id = subscription.id
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let immediate = state.withLock { state -> Bool in
                    if state.live || state.stopped || Task.isCancelled { return true }
                    guard state.subscribers[subscription.topic]?[id] != nil else { return true }
                    state.liveWaiters[id] = continuation
                    return false
                }
                if immediate { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.liveWaiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Marks the feed stopped: waiting subscribers go on, and every subscription ends.
    func stop(_ end: FeedEnd) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            state.live = false
            defer { state.liveWaiters = [:] }
            return Array(state.liveWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
        endAll(end)
    }
}

/// A subscription to a ``TopicHub`` topic: the messages in order, ending after
/// ``FeedMessage/ended(_:)`` or when finished.
public struct FeedSubscription: AsyncSequence, Sendable {
    public typealias Element = FeedMessage
    public typealias Failure = Never

    /// The subscriber's id in its hub.
    let id: UInt64
    /// What it follows.
    let topic: FeedTopic
    let stream: AsyncStream<FeedMessage>
    let continuation: AsyncStream<FeedMessage>.Continuation
    let pending: PendingCount

    /// Ends the subscription: the iteration ends after what is queued.
    public func finish() { continuation.finish() }

    public func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator(), pending: pending) }

    /// Iterates a subscription, counting what it has read off the subscriber's queue.
    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<FeedMessage>.Iterator
        let pending: PendingCount

        public mutating func next() async -> FeedMessage? {
            guard let message = await base.next() else { return nil }
            pending.decrement()
            return message
        }
    }
}

/// How many messages are queued for one subscriber and not yet read.
final class PendingCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
    func decrement() { count.subtract(1, ordering: .relaxed) }
}
