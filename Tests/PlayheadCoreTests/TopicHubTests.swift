import EventLog
import PlayheadCore
import Testing

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
}
