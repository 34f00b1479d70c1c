import Foundation
import Synchronization
import Testing

@testable import PlayheadCore

@Suite("ViewsTurn: one writer of a node's views at a time, waiting without a thread", .timeLimit(.minutes(5)))
struct ViewsTurnTests {
    /// How many bodies run at once, and the most seen.
    private final class Overlap: Sendable {
        private let state = Mutex((now: 0, most: 0, runs: 0))
        func enter() {
            state.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
                $0.runs += 1
            }
        }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var runs: Int { state.withLock { $0.runs } }
    }

    @Test("concurrent turns run one at a time, every one of them, and a throwing body frees the turn")
    func oneAtATime() async throws {
        struct Refused: Error {}
        let turn = ViewsTurn()
        let overlap = Overlap()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        try await turn.run {
                            overlap.enter()
                            defer { overlap.leave() }
                            // Some work inside the turn, so that others arrive meanwhile.
                            var sum = 0
                            for value in 0..<10_000 { sum &+= value }
                            #expect(sum == 49_995_000)
                            if index % 10 == 0 { throw Refused() }
                        }
                    } catch is Refused {}
                }
            }
            try await group.waitForAll()
        }
        #expect(overlap.runs == 200)
        #expect(overlap.most == 1)
        #expect(await turn.run { 42 } == 42)
    }
}
