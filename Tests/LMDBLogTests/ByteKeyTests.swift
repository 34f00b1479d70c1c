import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog

/// Stream ids and idempotency keys are bytes: two Unicode spellings of one text
/// (`zo\u{EB}`, NFC, and `zoe\u{308}`, NFD), which Swift's `String` takes as equal, are two
/// streams and two keys.
@Suite("Ids are bytes", .timeLimit(.minutes(5)))
struct ByteKeyTests {
    static let nfc = "progress/zo\u{EB}"
    static let nfd = "progress/zoe\u{308}"

    @Test("UTF8Key compares, hashes and orders by bytes")
    func utf8Key() {
        #expect(Self.nfc == Self.nfd, "Swift's own equality, which the log must not use")
        #expect(UTF8Key(Self.nfc) != UTF8Key(Self.nfd))
        #expect(Set([UTF8Key(Self.nfc), UTF8Key(Self.nfd), UTF8Key("K"), UTF8Key("\u{212A}")]).count == 4)
        #expect(UTF8Key("a") < UTF8Key("b") && UTF8Key(Self.nfd) < UTF8Key(Self.nfc))
    }

    @Test("two spellings are two streams: versions, expectations and the stream rows, also after a restart")
    func streams() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/log"
            let configuration = configured { $0.streamRowFlushInterval = 3 }
            do {
                let log = try LMDBEventLog(directory: path, configuration: configuration)
                _ = try await log.append(AppendRequest(stream: Self.nfc, expecting: .noStream, events: [event(Self.nfc, "1")]))
                _ = try await log.append(AppendRequest(stream: Self.nfd, expecting: .noStream, events: [event(Self.nfd, "1")]))
                _ = try await log.append(
                    AppendRequest(
                        events: [event(Self.nfc, "2"), event(Self.nfd, "2")],
                        expectations: [UTF8Key(Self.nfc): .exactly(1), UTF8Key(Self.nfd): .exactly(1)]
                    )
                )
                #expect(try log.streamInfo(Self.nfc) == StreamInfo(version: 2, lastPosition: 3))
                #expect(try log.streamInfo(Self.nfd) == StreamInfo(version: 2, lastPosition: 4))
                #expect(try log.readStream(Self.nfd, from: 1, limit: 10).map { String(decoding: $0.payload, as: UTF8.self) } == ["1", "2"])
                #expect(try log.verify().problem == nil)
                await log.close()
            }

            // Reopened: the writer folds the tail into its cache again, by bytes.
            let reopened = try LMDBEventLog(directory: path, configuration: configuration)
            _ = try await reopened.append(AppendRequest(stream: Self.nfd, expecting: .exactly(2), events: [event(Self.nfd, "3")]))
            #expect(try reopened.streamInfo(Self.nfc).version == 2)
            #expect(try reopened.streamInfo(Self.nfd).version == 3)
            #expect(try reopened.verify().problem == nil)
            await reopened.close()
        }
    }

    @Test("two spellings of an idempotency key are two keys, also inside one group commit")
    func idempotencyKeys() async throws {
        try await withLog { log, _ in
            log.queue?.pause()
            let first = Task { try await log.append(AppendRequest(events: [event("a", "1")], idempotencyKey: "zo\u{EB}")) }
            let second = Task { try await log.append(AppendRequest(events: [event("a", "2")], idempotencyKey: "zoe\u{308}")) }
            #expect(try await eventually { log.queue?.depth.queued == 2 })
            log.queue?.resume()
            let results = try await [first.value, second.value]
            #expect(results.filter(\.deduplicated).isEmpty)
            #expect(try log.head == 2)
            let again = try await log.append(AppendRequest(events: [event("a", "3")], idempotencyKey: "zoe\u{308}"))
            #expect(again.deduplicated)
        }
    }

    @Test("two directories named in two spellings are two logs, open at once")
    func directories() async throws {
        try await withTemporaryDirectory { directory in
            let first = try LMDBEventLog(directory: directory + "/zo\u{EB}")
            let second = try LMDBEventLog(directory: directory + "/zoe\u{308}")
            _ = try await first.append(AppendRequest(events: [event("a", "1")]))
            #expect(try second.head == 0)
            await first.close()
            await second.close()
        }
    }
}
