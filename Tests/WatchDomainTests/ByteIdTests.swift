import EventLog
import Testing
import WatchDomain

/// Ids are bytes in the domain too: two Unicode spellings of one user are two users.
@Suite("Domain ids are bytes")
struct ByteIdTests {
    @Test("an imported event is refused in the stream of another spelling of its user")
    func importCheckComparesStreamBytes() throws {
        let event = ProgressRecorded(
            userId: "zo\u{EB}",
            videoId: "v",
            watchedDuration: 42,
            lastWatched: Timestamp(microsecondsSince1970: 1),
            videoDurationMillis: nil,
            source: .realtime
        )
        let payload = event.encoded()
        try EventCatalog.check(type: ProgressRecorded.eventType, stream: event.stream, payload: payload)
        let otherSpelling = String(
            decoding: Array(event.stream.utf8).replacing(Array("zo\u{EB}".utf8), with: Array("zoe\u{308}".utf8)),
            as: UTF8.self
        )
        #expect(otherSpelling == event.stream && !otherSpelling.utf8.elementsEqual(event.stream.utf8))
        #expect(throws: DomainCodecError.self) {
            try EventCatalog.check(type: ProgressRecorded.eventType, stream: otherSpelling, payload: payload)
        }
    }

    @Test("a threshold counts to a millionth: the decimal sent, not its binary neighbour")
    func thresholdPartsPerMillion() {
        #expect(VideoProgressEvents.thresholdPartsPerMillion(0.55) == 550_000)
        #expect(VideoProgressEvents.thresholdPartsPerMillion(0.1) == 100_000)
        #expect(VideoProgressEvents.thresholdPartsPerMillion(1) == 1_000_000)
        let entry = { (seconds: UInt64) in
            ProgressEntry(watchedDuration: seconds, lastWatched: Timestamp(microsecondsSince1970: 0), videoDurationMillis: nil)
        }
        let video = VideoInfo(durationMillis: 100_000, title: nil, completionThreshold: 0.55)
        #expect(entry(55).isCompleted(video: video))
        #expect(!entry(54).isCompleted(video: video))
        #expect(entry(3).isCompleted(video: VideoInfo(durationMillis: 30_000, title: nil, completionThreshold: 0.1)))
    }
}
