import Testing
import WatchDomain

@Suite("Validated values: each rule checked once, when a value is made")
struct ValidatedValueTests {
    /// The refusal `body` throws, nil when it throws none.
    func refusal(_ body: () throws -> Void) -> CommandError? {
        do {
            try body()
        } catch {
            return error as? CommandError
        }
        return nil
    }

    @Test("a user id is 1 to 256 bytes without control characters or '/'")
    func userID() throws {
        #expect(try UserID("alice").text == "alice")
        #expect(try UserID(String(repeating: "u", count: 256)).text.utf8.count == 256)
        #expect(try UserID("ünïcode ✓").text == "ünïcode ✓")
        #expect(refusal { _ = try UserID("") } == CommandError(.invalid, "userId must not be empty", field: "userId"))
        #expect(
            refusal { _ = try UserID(String(repeating: "u", count: 257)) }
                == CommandError(.invalid, "userId must be at most 256 bytes", field: "userId")
        )
        #expect(
            refusal { _ = try UserID("a/b") } == CommandError(.invalid, "userId must not contain control characters or '/'", field: "userId")
        )
        #expect(
            refusal { _ = try UserID("a\u{7F}") } == CommandError(.invalid, "userId must not contain control characters or '/'", field: "userId")
        )
        #expect(
            refusal { _ = try UserID("a\nb", field: "sub") } == CommandError(.invalid, "sub must not contain control characters or '/'", field: "sub")
        )
    }

    @Test("a video id and a content id are 1 to 128 bytes without control characters or '/'")
    func videoAndContentID() throws {
        #expect(try VideoID(String(repeating: "v", count: 128)).text.utf8.count == 128)
        #expect(try ContentID("123").text == "123")
        #expect(refusal { _ = try VideoID("") } == CommandError(.invalid, "videoId must not be empty", field: "videoId"))
        #expect(
            refusal { _ = try VideoID(String(repeating: "v", count: 129)) }
                == CommandError(.invalid, "videoId must be at most 128 bytes", field: "videoId")
        )
        #expect(
            refusal { _ = try VideoID("a\u{1}", field: "progressData[2].videoId") }
                == CommandError(.invalid, "progressData[2].videoId must not contain control characters or '/'", field: "progressData[2].videoId")
        )
        #expect(refusal { _ = try ContentID("") } == CommandError(.invalid, "contentId must not be empty", field: "contentId"))
        #expect(
            refusal { _ = try ContentID(String(repeating: "c", count: 129)) }
                == CommandError(.invalid, "contentId must be at most 128 bytes", field: "contentId")
        )
        #expect(
            refusal { _ = try ContentID("x/y") } == CommandError(.invalid, "contentId must not contain control characters or '/'", field: "contentId")
        )
    }

    @Test("ids are equal, hashed and ordered by their UTF-8 bytes")
    func byteIdentity() throws {
        let composed = try UserID("\u{E9}")
        let decomposed = try UserID("e\u{301}")
        #expect("\u{E9}" == "e\u{301}", "String's == takes the two for one")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        #expect(try VideoID("B") < VideoID("a"))
        #expect(try VideoID("a") == VideoID("a"))
    }

    @Test("a watched duration is 0 to 36,000,000 seconds, the fraction dropped")
    func watchedDuration() throws {
        #expect(try WatchedDuration(seconds: 0).seconds == 0)
        #expect(try WatchedDuration(seconds: 75.8).seconds == 75)
        #expect(try WatchedDuration(seconds: 36_000_000).seconds == VideoProgressEvents.maxWatchedSeconds)
        let refused = CommandError(.invalid, "watchedDuration must be a number of seconds from 0 to 36000000", field: "watchedDuration")
        #expect(refusal { _ = try WatchedDuration(seconds: 36_000_000.5) } == refused)
        #expect(refusal { _ = try WatchedDuration(seconds: -1) } == refused)
        #expect(refusal { _ = try WatchedDuration(seconds: .nan) } == refused)
        #expect(refusal { _ = try WatchedDuration(seconds: .infinity) } == refused)
        #expect(
            refusal { _ = try WatchedDuration(seconds: -0.5, field: "progressData[1].watchedDuration") }
                == CommandError(
                    .invalid,
                    "progressData[1].watchedDuration must be a number of seconds from 0 to 36000000",
                    field: "progressData[1].watchedDuration"
                )
        )
    }
}
