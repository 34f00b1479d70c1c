import EventLog
import Foundation
import Testing
import WatchDomain

@Suite("Interaction decisions")
struct InteractionDeciderTests {
    let alice = Caller(userId: "1")

    func field(_ details: InteractionDetails, content: String = "123", user: String = "1", caller: Caller? = nil) -> String? {
        do {
            _ = try InteractionDecider.track(
                userId: UserID(user),
                contentId: ContentID(content),
                type: .like,
                details: details,
                caller: caller ?? alice,
                existing: nil,
                newId: { UUID() }
            )
        } catch {
            return error.field ?? "\(error.code)"
        }
        return nil
    }

    @Test("each bound of the spec is checked, naming the field")
    func bounds() {
        #expect(
            field(InteractionDetails(interactionValue: 1, moodAtInteraction: "happy", moodIntensityAtInteraction: 10, interactionDurationSeconds: 0))
                == nil
        )
        #expect(field(InteractionDetails(interactionValue: 0)) == "interactionValue")
        #expect(field(InteractionDetails(interactionValue: 11)) == "interactionValue")
        #expect(field(InteractionDetails(moodAtInteraction: String(repeating: "é", count: 50))) == nil, "50 characters, not bytes")
        #expect(field(InteractionDetails(moodAtInteraction: String(repeating: "a", count: 51))) == "moodAtInteraction")
        #expect(field(InteractionDetails(moodIntensityAtInteraction: 0)) == "moodIntensityAtInteraction")
        #expect(field(InteractionDetails(interactionDurationSeconds: -1)) == "interactionDurationSeconds")
        #expect(field(InteractionDetails(context: String(repeating: "c", count: InteractionEvents.maxContextBytes + 1))) == "context")
        #expect(field(InteractionDetails(notes: String(repeating: "n", count: InteractionEvents.maxNotesBytes + 1))) == "notes")
        #expect(field(InteractionDetails(contentType: "")) == "contentType")
        #expect(field(InteractionDetails(), content: "") == "contentId")
        #expect(field(InteractionDetails(), user: "2") == "userId", "someone else's")
        #expect(field(InteractionDetails(), user: "2", caller: Caller(userId: "root", isAdmin: true)) == nil)
    }

    @Test("tracking the same interaction again keeps its id")
    func keepsId() throws {
        let first = try InteractionDecider.track(
            userId: UserID("1"),
            contentId: ContentID("c"),
            type: .rate,
            details: InteractionDetails(interactionValue: 3),
            caller: alice,
            existing: nil,
            newId: { UUID() }
        )
        let row = Interaction(first, at: Timestamp(microsecondsSince1970: 5), position: 1)
        let second = try InteractionDecider.track(
            userId: UserID("1"),
            contentId: ContentID("c"),
            type: .rate,
            details: InteractionDetails(interactionValue: 9),
            caller: alice,
            existing: row,
            newId: {
                Issue.record("no new id for an interaction tracked before")
                return UUID()
            }
        )
        #expect(second.interactionId == first.interactionId)
        #expect(try InteractionTracked.decode(second.encoded()) == second)
        #expect(try row.encoded().withUnsafeBytes { try Interaction(decoding: $0) } == row)
    }
}
