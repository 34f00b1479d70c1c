import EventLog
import Testing

@testable import PlayheadCore

@Suite("The live feed's fan-out")
struct TopicHubTests {
    static func deleted(_ videoId: String, of userId: String = "u") -> FeedMessage { .progressDeleted(userId: userId, videoId: videoId) }

    @Test("a message older than the last one sent for the same video is dropped")
    func ordering() async throws {
        let hub = TopicHub()
        let u = FeedTopic.progress(of: "u")
        let messages = hub.subscribe(u)
        hub.publish(Self.deleted("v"), to: u, about: "v", at: 5)
        hub.publish(Self.deleted("v"), to: u, about: "v", at: 3)  // resumed late: stale
        hub.publish(Self.deleted("w"), to: u, about: "w", at: 4)  // another video
        hub.publish(Self.deleted("v"), to: u, about: "v", at: 6)
        hub.publish(Self.deleted("v", of: "someone-else"), to: .progress(of: "someone-else"), about: "v", at: 7)
        messages.finish()
        var received: [String] = []
        for await message in messages {
            if case .progressDeleted(_, let video) = message { received.append(video) }
        }
        #expect(received == ["v", "w", "v"])
        #expect(!hub.hasSubscribers(u))
    }

    @Test("a subscriber dropped while it waits for the feed to go live stops waiting, and reads its end", .timeLimit(.minutes(5)))
    func droppedWhileWaitingForLive() async {
        let hub = TopicHub()
        let topic = FeedTopic.progress(of: "u")
        // The hub is not live (its feed went idle), but a follower still publishes.
        let subscription = hub.subscribe(topic, capacity: 1)
        let waiting = Task { await hub.waitUntilLive(subscription) }
        // Waiting now (or soon): two messages overflow its queue of one, which drops it.
        try? await Task.sleep(for: .milliseconds(50))
        #expect(hub.publish(Self.deleted("a"), to: topic, about: UTF8Key("a"), at: 1))
        #expect(hub.publish(Self.deleted("b"), to: topic, about: UTF8Key("b"), at: 2))
        // Before the fix this never returned: the feed, with no subscriber left, never went live.
        await waiting.value
        var messages: [FeedMessage] = []
        for await message in subscription { messages.append(message) }
        guard case .ended(let end)? = messages.last else {
            Issue.record("no end message: \(messages)")
            return
        }
        #expect(end.reason == .fellBehind && hub.subscriberCount == 0)
        // A subscriber already gone does not wait at all.
        await hub.waitUntilLive(subscription)
    }
}
