import Foundation
import Hummingbird
import Testing
import WatchDomain

@testable import PlayheadServer

@Suite("Flat JSON bodies: the fast path reads the common shape and declines the rest")
struct FlatJSONObjectTests {
    private func read(_ text: String) -> FlatJSONObject? {
        Array(text.utf8).withUnsafeBytes { FlatJSONObject($0) }
    }

    private func read(bytes: [UInt8]) -> FlatJSONObject? {
        bytes.withUnsafeBytes { FlatJSONObject($0) }
    }

    @Test("strings, whole numbers, booleans and null, with any JSON whitespace")
    func readsPlainMembers() throws {
        let object = try #require(
            read(
                " {\r\n\t\"a\" : \"zoë 🎬\", \"b\":-42,\"c\":0, \"d\":true,\"e\":false,\"f\":null, \"g\":\"\",\"h\":9223372036854775807,\"i\":-9223372036854775808 } \n"
            )
        )
        #expect(object["a"] == .string("zoë 🎬"))
        #expect(object["b"] == .integer(-42))
        #expect(object["c"] == .integer(0))
        #expect(object["d"] == .boolean(true))
        #expect(object["e"] == .boolean(false))
        #expect(object["f"] == .null)
        #expect(object["g"] == .string(""))
        #expect(object["h"] == .integer(.max))
        #expect(object["i"] == .integer(.min))
        #expect(object["missing"] == nil)
        #expect(try #require(read("{}")).members.isEmpty)
        #expect(try #require(read(" { } ")).members.isEmpty)
    }

    @Test(
        "declines what it does not read itself",
        arguments: [
            "", " ", "[]", "\"text\"", "42", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}",
            "{\"a\":1}x", "{\"a\":1}{}", "{a:1}", "{'a':1}", "{\"a\":\"tab\\there\"}", "{\"a\\u0062\":1}", "{\"a\":\"\\\"\"}",
            "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":1E3}", "{\"a\":1.0}", "{\"a\":01}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":--1}",
            "{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}", "{\"a\":99999999999999999999999}", "{\"a\":{}}",
            "{\"a\":[]}", "{\"a\":[1]}", "{\"a\":{\"b\":1}}", "{\"a\":1,\"a\":2}", "{\"a\":nul}", "{\"a\":nulls}", "{\"a\":True}",
            "{\"a\":\"unterminated}", "{\"a\":\"line\nbreak\"}", "{\"a\":NaN}", "{\"a\":0x10}", "{\"a\":-0}",
            "\u{FEFF}{\"a\":1}", "{\"a\":1}\u{0}", "{\"a\":\"\u{0}\"}",
        ]
    )
    func declines(_ text: String) {
        #expect(read(text) == nil, "\(text)")
    }

    @Test("declines invalid UTF-8 in a key or a value")
    func declinesInvalidUTF8() {
        #expect(read(bytes: Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)) == nil)
        #expect(read(bytes: Array("{\"".utf8) + [0xFF] + Array("\":1}".utf8)) == nil)
        #expect(read(bytes: Array("{\"a\":\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"}".utf8)) == nil, "a lone surrogate")
        #expect(read(bytes: Array("{\"a\":\"".utf8) + [0xC0, 0xAF] + Array("\"}".utf8)) == nil, "an overlong encoding")
        #expect(read(bytes: Array("{\"a\":\"".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array("\"}".utf8)) == nil, "past U+10FFFF")
    }

    /// A body type that tells which path made it.
    struct Probe: FlatDecodable {
        var name: String
        var fastPath: Bool

        init(from decoder: any Decoder) throws {
            name = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name)
            fastPath = false
        }

        init?(flat object: FlatJSONObject) {
            guard case .string(let name)? = object["name"] else { return nil }
            self.name = name
            fastPath = true
        }

        enum CodingKeys: String, CodingKey { case name }
    }

    @Test("decodeJSON takes the fast path for a flat body and JSONDecoder for the rest")
    func decodeJSONChoosesThePath() async throws {
        func decode(_ body: String) async throws -> Probe {
            let request = Request(
                head: HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/"),
                body: RequestBody(buffer: ByteBuffer(string: body))
            )
            return try await request.decodeJSON(Probe.self)
        }
        let flat = try await decode(#"{"name":"zoë"}"#)
        #expect(flat.name == "zoë" && flat.fastPath)
        let escaped = try await decode(#"{"name":"zo\u00eb"}"#)
        #expect(escaped.name == "zoë" && !escaped.fastPath)
        await #expect(throws: Problem.self) { try await decode(#"{"name":5}"#) }
    }

    /// The fast path must never give a track body another meaning than the decoder it falls
    /// back to: it reads what ``StrictJSONDecoder`` reads to the same values, and declines
    /// everything else.
    @Test("a track body means the same through the fast path as through StrictJSONDecoder")
    func trackBodiesAgreeWithJSONDecoder() throws {
        let bodies = [
            #"{"userId":"u1","contentId":"c1","interactionType":"like"}"#,
            #"{"userId":7,"contentId":-3,"interactionType":"rate","interactionValue":10,"moodIntensityAtInteraction":1}"#,
            #"{"userId":"7","contentId":"x","interactionType":"view","interactionDurationSeconds":0,"moodAtInteraction":null,"notes":null}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","context":"evening, with friends","notes":"zoë 🎬","contentType":"movie"}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","unknown":true,"other":null,"more":12}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","notes":"say \"hi\""}"#,
            #"{"userId":1.5,"contentId":"c","interactionType":"play"}"#,
            #"{"userId":null,"contentId":"c","interactionType":"play"}"#,
            #"{"userId":true,"contentId":"c","interactionType":"play"}"#,
            #"{"contentId":"c","interactionType":"play"}"#,
            #"{"userId":"u","contentId":"c"}"#,
            #"{"userId":"u","contentId":"c","interactionType":null}"#,
            #"{"userId":"u","contentId":"c","interactionType":5}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","interactionValue":"five"}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","interactionValue":5.0}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","interactionValue":9223372036854775807}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","interactionValue":-9223372036854775808}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","interactionValue":9223372036854775808}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","notes":5}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","notes":{"a":1}}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","nested":{"a":[1,2]}}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play"} trailing"#,
            #"{"userId":-0,"contentId":"c","interactionType":"play","interactionValue":-0}"#,
            #"[{"userId":"u","contentId":"c","interactionType":"play"}]"#,
            #"{"userId":0.99999999999999999,"contentId":"c","interactionType":"play"}"#,
            #"{"userId":"u","contentId":122.99999999999999999,"interactionType":"play"}"#,
            #"{"userId":"u","contentId":"c","interactionType":"rate","interactionValue":1.5}"#,
            #"{"userId":"u","contentId":"c","interactionType":"rate","interactionValue":5e0,"moodIntensityAtInteraction":50e-1}"#,
            #"{"userId":"u","contentId":"c","interactionType":"play","userId":"v"}"#,
            // Two keys in two spellings of one text are two keys, to both readers.
            "{\"userId\":\"u\",\"contentId\":\"c\",\"interactionType\":\"play\",\"zo\u{EB}\":1,\"zoe\u{308}\":2}",
        ]
        typealias Track = InteractionRoutes.TrackRequest
        func fields(_ track: Track) -> [String?] {
            let details = track.details
            return [
                track.userId.text, track.contentId.text, track.interactionType, details.interactionValue.map { "\($0)" },
                details.moodAtInteraction, details.moodIntensityAtInteraction.map { "\($0)" },
                details.interactionDurationSeconds.map { "\($0)" }, details.context, details.notes, details.contentType,
            ]
        }
        var fastReads = 0
        for body in bodies {
            let decoded = try? StrictJSONDecoder().decode(Track.self, from: Array(body.utf8))
            let fast = read(body).flatMap { Track(flat: $0) }
            if let fast {
                fastReads += 1
                let decoded = try #require(decoded, "the fast path read a body the decoder rejects: \(body)")
                #expect(fields(fast) == fields(decoded), "\(body)")
            }
        }
        #expect(fastReads == 8, "the common bodies take the fast path")
    }

    @Test("a progress report means the same through the fast path as through StrictJSONDecoder")
    func progressReportsAgreeWithJSONDecoder() throws {
        let bodies = [
            #"{"userId":"u","videoId":"v","watchedDuration":120}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":0,"lastWatched":"2026-11-24T10:00:00Z","videoDuration":3600}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":9223372036854775807,"videoDuration":null,"lastWatched":null}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":-5}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":120.5}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":"120"}"#,
            #"{"userId":7,"videoId":"v","watchedDuration":120}"#,
            #"{"userId":"u","videoId":"v"}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":120,"videoDuration":"long"}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":120,"lastWatched":5}"#,
            #"{"userId":"u","videoId":"v","watchedDuration":-0,"videoDuration":-0}"#,
        ]
        typealias Report = ProgressRoutes.ReportRequest
        func fields(_ report: Report) -> [String?] {
            [report.userId, report.videoId, "\(report.watchedDuration)", report.lastWatched, report.videoDuration.map { "\($0)" }]
        }
        var fastReads = 0
        for body in bodies {
            let decoded = try? StrictJSONDecoder().decode(Report.self, from: Array(body.utf8))
            if let fast = read(body).flatMap({ Report(flat: $0) }) {
                fastReads += 1
                let decoded = try #require(decoded, "the fast path read a body the decoder rejects: \(body)")
                #expect(fields(fast) == fields(decoded), "\(body)")
            }
        }
        #expect(fastReads == 4, "the common bodies take the fast path")
    }
}
