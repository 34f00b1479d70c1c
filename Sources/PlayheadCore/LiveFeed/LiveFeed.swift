public import EventLog
public import Logging
import Projections
public import ServiceLifecycle
public import Views
import WatchDomain

/// The live feed: what the log commits, fanned out per ``FeedTopic`` to subscribers (a
/// user's other devices following their progress today; a watch party's room next).
///
/// Run it as a service (``run()``). While anyone subscribes it follows the log from the
/// head, reads what each commit changed (it decodes the events, and for progress reads the
/// merged entry from the committed views) and publishes to the topics that have
/// subscribers through its ``TopicHub`` (bounded queues, slow subscribers dropped, stale
/// messages dropped). Fed by the log, not by the handlers that append: whatever appends (a
/// route, the gateway, an import, another node's writer) reaches every subscriber, and the
/// writer never waits for one. While nobody subscribes it does not read the log.
public final class LiveFeed: Service, Sendable {
    /// The fan-out.
    public let hub: TopicHub
    private let log: any EventStore
    private let views: InlineProjections
    private let logger: Logger

    /// A feed of `log`, whose committed views `views` are (the inline projections).
    public init(log: any EventStore, views: InlineProjections, logger: Logger = Logger(label: "playhead.livefeed")) {
        self.hub = TopicHub()
        self.log = log
        self.views = views
        self.logger = logger
    }

    /// A feed of `store`.
    public convenience init(store: PlayheadStore, logger: Logger = Logger(label: "playhead.livefeed")) {
        self.init(log: store.log, views: store.projections, logger: logger)
    }

    /// Subscribes to `topic`: everything committed after this returns reaches the
    /// subscription (see ``TopicHub/subscribe(_:capacity:keepAlive:)``). Waits for the feed
    /// to follow the log, so the feed must be running.
    public func subscribe(
        _ topic: FeedTopic,
        capacity: Int = TopicHub.defaultCapacity,
        keepAlive: Duration? = nil
    ) async
        -> FeedSubscription
    {
        let subscription = hub.subscribe(topic, capacity: capacity, keepAlive: keepAlive)
        await hub.waitUntilLive()
        return subscription
    }

    /// Follows the log while anyone subscribes, until the task is cancelled or the service
    /// group shuts down gracefully; then ends every subscription.
    public func run() async throws {
        defer { hub.stop(FeedEnd(.stopped, "the live feed stopped")) }
        try await cancelWhenGracefulShutdown {
            while await self.hub.waitForSubscribers() {
                let start = try await self.log.currentHead() + 1
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.follow(self.log, from: start) }
                    self.hub.goLive()
                    group.addTask { await self.hub.waitUntilIdle() }
                    _ = await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// Publishes every event from `start` on, until cancelled or the log ends. A failure to
    /// read the log ends the subscriptions (their clients subscribe again).
    private func follow<Store: EventStore>(_ log: Store, from start: LogPosition) async {
        do {
            for try await event in log.subscribe(from: start) {
                if Task.isCancelled { return }
                await publish(event)
            }
        } catch {
            if Task.isCancelled { return }
            logger.error("the live feed could not read the log", metadata: ["error": "\(error)"])
            hub.endAll(FeedEnd(.failed, "the live feed could not read the log; subscribe again"))
        }
    }

    /// Publishes what `event` changed to the topics that have subscribers.
    func publish(_ event: RecordedEvent) async {
        let recorded = event.type == ProgressRecorded.eventType
        guard recorded || event.type == ProgressDeleted.eventType,
            let userId = Self.user(ofProgressStream: event.stream)
        else { return }
        let topic = FeedTopic.progress(of: userId)
        guard hub.hasSubscribers(topic) else { return }
        do {
            if recorded {
                let report = try ProgressRecorded.decode(event.payload)
                let subject = UTF8Key(report.videoId)
                // Already sent: a state as of this position or later.
                if let last = hub.lastPosition(topic, about: subject), last >= event.position { return }
                let applied = await viewsReaching(event.position)
                let queries = VideoProgressQueries(views: views)
                // None: a later deletion, whose own message follows.
                guard let entry = try queries.entry(user: report.userId, video: report.videoId) else { return }
                let merged = MergedProgress(userId: report.userId, videoId: report.videoId, entry: entry, video: try queries.video(report.videoId))
                hub.publish(.progress(merged), to: topic, about: subject, at: applied)
            } else {
                let deleted = try ProgressDeleted.decode(event.payload)
                hub.publish(
                    .progressDeleted(userId: deleted.userId, videoId: deleted.videoId),
                    to: topic,
                    about: UTF8Key(deleted.videoId),
                    at: event.position
                )
            }
        } catch {
            logger.error("the live feed skipped an event", metadata: ["position": "\(event.position)", "error": "\(error)"])
        }
    }

    /// The position the committed views have applied, once it reaches `position`. The log
    /// commits before its views, so a reader may see an event a moment before its views;
    /// after about a second of that, the views are read as they are.
    private func viewsReaching(_ position: LogPosition) async -> LogPosition {
        var applied: LogPosition = 0
        for _ in 0..<1_000 {
            applied = (try? views.appliedPosition()) ?? 0
            if applied >= position || Task.isCancelled { return applied }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return max(applied, position)
    }

    /// The user whose progress stream `stream` is (`progress/<userId>`), its bytes kept.
    static func user(ofProgressStream stream: String) -> String? {
        let prefix = VideoProgressEvents.progressStream("").utf8
        let utf8 = stream.utf8
        guard utf8.starts(with: prefix) else { return nil }
        return String(decoding: utf8.dropFirst(prefix.count), as: UTF8.self)
    }
}
