import EventLog
import Testing

@Suite("InMemoryEventStore")
struct InMemoryEventStoreTests {
    @Test("positions start at 1 and are contiguous")
    func positions() async throws {
        let store = InMemoryEventStore()
        let first = try await store.append(AppendRequest(events: [ProposedEvent(type: "t", stream: "s", payload: [1])]))
        let second = try await store.append(
            AppendRequest(events: [ProposedEvent(type: "t", stream: "s", payload: [2]), ProposedEvent(type: "t", stream: "u", payload: [3])])
        )
        #expect(first.positions == 1...1)
        #expect(second.positions == 2...3)
        #expect(try await store.currentHead() == 3)
    }
}
