import EventLog
import Foundation
import PlayheadCore
import Testing
import WatchDomain

/// The live feed over the in-memory log: what commits reaches the subscribers of its topic.
@Suite("The live feed")
struct LiveFeedTests {
    /// Runs `body` with a running feed of `core`'s log, then stops it.
    func withFeed(_ core: Core, _ body: (LiveFeed) async throws -> Void) async throws {
        let feed = LiveFeed(log: core.log, views: core.views)
        let running = Task { try await feed.run() }
        do {
            try await body(feed)
        } catch {
            await stop(running, core)
            throw error
        }
        await stop(running, core)
    }

    /// Cancels the feed and waits until it has stopped.
    func stop(_ running: Task<Void, any Error>, _ core: Core) async {
        running.cancel()
        _ = try? await running.value
    }

    func report(_ core: Core, _ userId: String, _ videoId: String, watched: UInt64, at seconds: Int64 = 0) async throws {
        let time = Timestamp(microsecondsSince1970: core.clock.now.microsecondsSince1970 + seconds * 1_000_000)
        try await core.videoProgress.report(
            ProgressReport(videoId: try VideoID(videoId), watchedDuration: try WatchedDuration(seconds: Double(watched)), lastWatched: time),
            of: try UserID(userId),
            source: .realtime,
            caller: Caller(userId: userId),
            correlation: UUID()
        )
    }

    /// The next message that is not a keep-alive.
    func next(_ iterator: inout FeedSubscription.Iterator) async -> FeedMessage? {
        while let message = await iterator.next() {
            if message != .keepAlive { return message }
        }
        return nil
    }

    @Test("each topic gets its own user's changes, merged, stale reports showing the merged state, then the deletion")
    func fanOut() async throws {
        try await Core.run { core in
            try await withFeed(core) { feed in
                let alice = await feed.subscribe(.progress(of: "alice"))
                let bob = await feed.subscribe(.progress(of: "bob"))
                try await report(core, "bob", "v", watched: 99)
                try await report(core, "alice", "v", watched: 42, at: -10)
                try await report(core, "alice", "v", watched: 7, at: -3_600)  // older: the merged state stays 42
                try await core.videoProgress.delete(
                    of: try UserID("alice"),
                    in: try VideoID("v"),
                    caller: Caller(userId: "alice"),
                    correlation: UUID()
                )

                var messages = alice.makeAsyncIterator()
                guard case .progress(let first)? = await next(&messages), case .progress(let second)? = await next(&messages) else {
                    Issue.record("alice's stream did not start with two progress messages")
                    return
                }
                #expect(first.userId == "alice" && first.entry.watchedDuration == 42)
                #expect(second.entry.watchedDuration == 42, "a stale report shows the merged state")
                #expect(await next(&messages) == .progressDeleted(userId: "alice", videoId: "v"))

                var bobs = bob.makeAsyncIterator()
                guard case .progress(let only)? = await next(&bobs) else {
                    Issue.record("bob's stream did not start with his progress")
                    return
                }
                #expect(only.userId == "bob" && only.entry.watchedDuration == 99)
                alice.finish()
                bob.finish()
            }
        }
    }

    @Test("topics are keyed by the id's bytes: two spellings of one text are two users")
    func byteKeyedTopics() async throws {
        let nfc = "zo\u{EB}"
        let nfd = "zoe\u{308}"
        try await Core.run { core in
            try await withFeed(core) { feed in
                let subscription = await feed.subscribe(.progress(of: nfc))
                try await report(core, nfd, "secret", watched: 42)
                try await report(core, nfc, "own", watched: 7)
                var messages = subscription.makeAsyncIterator()
                guard case .progress(let first)? = await next(&messages) else {
                    Issue.record("no progress message")
                    return
                }
                #expect(first.videoId == "own", "the NFD user's progress reached the NFC user's topic")
                #expect(first.userId.utf8.elementsEqual(nfc.utf8))
                subscription.finish()
            }
        }
        #expect(FeedTopic.progress(of: nfc) != FeedTopic.progress(of: nfd))
        #expect(FeedTopic.progress(of: nfc) == FeedTopic.progress(of: "zo\u{EB}"))
    }

    @Test("a subscriber that does not read is dropped with an end message; the others and the publisher go on")
    func slowSubscriberDropped() async {
        let hub = TopicHub()
        let topic = FeedTopic.progress(of: "u")
        let slow = hub.subscribe(topic, capacity: 2)
        let fast = hub.subscribe(topic, capacity: 10)
        for (index, video) in ["a", "b", "c"].enumerated() {
            #expect(hub.publish(.progressDeleted(userId: "u", videoId: video), to: topic, about: UTF8Key(video), at: UInt64(index + 1)))
        }
        #expect(hub.subscriberCount == 1, "the slow subscriber is gone at once")
        var slowMessages: [FeedMessage] = []
        for await message in slow { slowMessages.append(message) }
        #expect(slowMessages.count == 3)
        #expect(slowMessages.prefix(2) == [.progressDeleted(userId: "u", videoId: "a"), .progressDeleted(userId: "u", videoId: "b")])
        guard case .ended(let end)? = slowMessages.last else {
            Issue.record("no end message")
            return
        }
        #expect(end.reason == .fellBehind)
        fast.finish()
        var fastMessages: [FeedMessage] = []
        for await message in fast { fastMessages.append(message) }
        #expect(fastMessages.map { if case .progressDeleted(_, let video) = $0 { video } else { "?" } } == ["a", "b", "c"])
        #expect(hub.subscriberCount == 0)
    }

    @Test("a subscriber that reads as it goes is never dropped")
    func readingSubscriberKept() async {
        let hub = TopicHub()
        let topic = FeedTopic.progress(of: "u")
        let subscription = hub.subscribe(topic, capacity: 2)
        var messages = subscription.makeAsyncIterator()
        for position in 1...10 {
            hub.publish(.progressDeleted(userId: "u", videoId: "v"), to: topic, about: "v", at: UInt64(position))
            #expect(await messages.next() == .progressDeleted(userId: "u", videoId: "v"))
        }
        #expect(hub.subscriberCount == 1)
        subscription.finish()
    }

    @Test("nothing is sent about a subject at or before the last position sent, per topic")
    func staleDrop() {
        let hub = TopicHub()
        let u = FeedTopic.progress(of: "u")
        let w = FeedTopic.progress(of: "w")
        let first = hub.subscribe(u)
        let second = hub.subscribe(w)
        #expect(hub.publish(.progressDeleted(userId: "u", videoId: "v"), to: u, about: "v", at: 5))
        #expect(!hub.publish(.progressDeleted(userId: "u", videoId: "v"), to: u, about: "v", at: 5))
        #expect(!hub.publish(.progressDeleted(userId: "u", videoId: "v"), to: u, about: "v", at: 4))
        #expect(hub.publish(.progressDeleted(userId: "w", videoId: "v"), to: w, about: "v", at: 4), "another topic keeps its own positions")
        #expect(hub.lastPosition(u, about: "v") == 5)
        #expect(!hub.publish(.keepAlive, to: .progress(of: "nobody"), about: "v", at: 9), "nobody follows it")
        first.finish()
        second.finish()
    }
}
