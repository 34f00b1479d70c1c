public import EventLog
public import Logging
import Projections
public import ServiceLifecycle
import Synchronization
public import Views
import WatchDomain

/// The live feed: what the log commits, fanned out per ``FeedTopic`` to subscribers (a
/// user's other devices following their progress today; a watch party's room next).
///
/// Run it as a service (``run()``). While anyone subscribes it follows the log from the
/// head, reads what each commit changed and publishes to the topics that have subscribers
/// through its ``TopicHub`` (bounded queues, slow subscribers dropped, stale messages
/// dropped). Fed by the log, not by the handlers that append: whatever appends (a route,
/// the gateway, an import, another node's writer) reaches every subscriber, and the writer
/// never waits for one. While nobody subscribes it does not read the log.
///
/// Progress: when a topic gets its first subscriber, the feed reads the user's merged
/// entries from the committed views, with the position the views had applied; it then
/// folds each later event of the user's progress into them with the merge rule the
/// projector applies (``ProgressEntry/supersedes(_:)``), so every message is the merged
/// state as of its own commit, however far the feed lags behind the writer.
public final class LiveFeed: Service, Sendable {
    /// The fan-out.
    public let hub: TopicHub
    private let log: any EventStore
    private let views: any ViewReading
    private let logger: Logger

    /// The merged progress of a followed user, as of ``position``.
    private struct FollowedProgress {
        var position: LogPosition
        var entries: [UTF8Key: ProgressEntry]
    }
    /// Per followed progress topic; nil while a new subscriber's state is not read yet.
    private let progress = Mutex<[FeedTopic: FollowedProgress?]>([:])

    /// A feed of `log`, whose committed views `views` are (the inline projections).
    public init(log: any EventStore, views: any ViewReading, logger: Logger = Logger(label: "playhead.livefeed")) {
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
        let subscription = progress.withLock { progress in
            // A first subscriber: the topic's state is read afresh, once the feed is live.
            if !hub.hasSubscribers(topic) { progress[topic] = .some(nil) }
            return hub.subscribe(topic, capacity: capacity, keepAlive: keepAlive)
        }
        await hub.waitUntilLive(subscription)
        if topic.kind == .progress {
            do {
                try readProgress(topic)
            } catch {
                logger.error("the live feed could not read a user's progress", metadata: ["topic": "\(topic)", "error": "\(error)"])
                subscription.finish()
            }
        }
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

    /// Reads the merged progress of `topic`'s user from the committed views, unless it is
    /// read already: the entries and the position the views had applied, both of one
    /// snapshot (the position is read before and after, until it has not moved).
    private func readProgress(_ topic: FeedTopic) throws {
        try progress.withLock { progress in
            if case .some(.some) = progress[topic] { return }
            let queries = VideoProgressQueries(.committed(views))
            while true {
                let before = try views.appliedPosition()
                let entries = try queries.entries(user: topic.key.string)
                guard try views.appliedPosition() == before else { continue }
                progress[topic] = FollowedProgress(
                    position: before,
                    entries: Dictionary(entries.map { (UTF8Key($0.videoId), $0.entry) }, uniquingKeysWith: { $1 })
                )
                return
            }
        }
    }

    /// Publishes what `event` changed to the topics that have subscribers.
    func publish(_ event: RecordedEvent) async {
        if event.type == PartyLogged.eventType {
            await publishPartyEntry(event)
            return
        }
        let recorded = event.type == ProgressRecorded.eventType
        guard recorded || event.type == ProgressDeleted.eventType,
            let userId = Self.user(ofProgressStream: event.stream)
        else { return }
        let topic = FeedTopic.progress(of: userId)
        guard hub.hasSubscribers(topic) else { return }
        // A topic's state is read from the views: wait until they hold this event, so that
        // a state read from now on holds it too.
        _ = await viewsReaching(event.position)
        do {
            let message: (FeedMessage, UTF8Key)? = try progress.withLock { progress in
                guard hub.hasSubscribers(topic) else {
                    progress[topic] = nil
                    return nil
                }
                // Not read yet (it will hold this event), or read as of this event or later.
                guard case .some(.some(var followed)) = progress[topic], followed.position < event.position else { return nil }
                followed.position = event.position
                defer { progress[topic] = followed }
                if recorded {
                    let report = try ProgressRecorded.decode(event.payload)
                    let subject = UTF8Key(report.videoId)
                    let new = ProgressEntry(report)
                    let kept = followed.entries[subject].map { new.supersedes($0) ? new : $0 } ?? new
                    followed.entries[subject] = kept
                    let video = try VideoProgressQueries(.committed(views)).video(report.videoId)
                    return (.progress(MergedProgress(userId: report.userId, videoId: report.videoId, entry: kept, video: video)), subject)
                }
                let deleted = try ProgressDeleted.decode(event.payload)
                let subject = UTF8Key(deleted.videoId)
                followed.entries[subject] = nil
                return (.progressDeleted(userId: deleted.userId, videoId: deleted.videoId), subject)
            }
            if let (message, subject) = message {
                hub.publish(message, to: topic, about: subject, at: event.position)
            }
        } catch {
            logger.error("the live feed skipped an event", metadata: ["position": "\(event.position)", "error": "\(error)"])
        }
    }

    /// Publishes a party-log entry to its party's room, as the read model holds it (with the
    /// event and video times the projector derived).
    private func publishPartyEntry(_ event: RecordedEvent) async {
        do {
            let logged = try PartyLogged.decode(event.payload)
            let topic = FeedTopic.party(logged.partyId)
            guard hub.hasSubscribers(topic) else { return }
            _ = await viewsReaching(event.position)
            guard let entry = try WatchPartyQueries(.committed(views)).entry(of: logged, recordedAt: event.recordedAt, position: event.position)
            else {
                return
            }
            hub.publish(.partyEntry(entry), to: topic, about: topic.key, at: event.position)
        } catch {
            logger.error("the live feed skipped a party entry", metadata: ["position": "\(event.position)", "error": "\(error)"])
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
