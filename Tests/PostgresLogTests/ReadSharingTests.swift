import EventLog
import Foundation
import Synchronization
import Testing

@testable import PostgresLog

private func recorded(_ position: LogPosition) -> RecordedEvent {
    RecordedEvent(
        position: position,
        type: "thing.happened",
        stream: "s-\(position % 3)",
        streamVersion: position,
        recordedAt: Timestamp(microsecondsSince1970: Int64(position)),
        occurredAt: nil,
        eventID: UUID(),
        correlationID: nil,
        causationID: nil,
        actor: "tester",
        payload: [UInt8(truncatingIfNeeded: position)]
    )
}

private func run(_ positions: ClosedRange<LogPosition>) -> [RecordedEvent] { positions.map(recorded) }

/// What concurrent tasks of a test noted, in order.
private final class Notes<Note: Sendable>: Sendable {
    private let notes = Mutex<[Note]>([])
    func add(_ note: Note) { notes.withLock { $0.append(note) } }
    var all: [Note] { notes.withLock { $0 } }
}

@Suite("RecentEvents: the run at the head a node's followers read from memory")
struct RecentEventsTests {
    @Test("a run is served from any position it holds, up to the limit; outside it, nil")
    func servesWhatItHolds() {
        var recent = RecentEvents(capacity: 100)
        #expect(recent.events(from: 1, limit: 10) == nil)
        recent.add(run(5...9))
        #expect(recent.positions == 5...9)
        #expect(recent.events(from: 5, limit: 10)?.map(\.position) == [5, 6, 7, 8, 9])
        #expect(recent.events(from: 7, limit: 2)?.map(\.position) == [7, 8])
        #expect(recent.events(from: 4, limit: 10) == nil)
        #expect(recent.events(from: 10, limit: 10) == nil)
        #expect(recent.events(from: 6, limit: 0) == nil)
    }

    @Test("a page shorter than asked is served only when the run reaches the newest head heard of")
    func shortPagesOnlyAtTheHead() {
        var recent = RecentEvents(capacity: 100)
        recent.add(run(1...5))
        recent.heard(head: 8)
        #expect(recent.events(from: 2, limit: 4)?.map(\.position) == [2, 3, 4, 5])
        #expect(recent.events(from: 2, limit: 5) == nil)  // 6...8 are in the log, not here
        recent.add(run(6...8))
        #expect(recent.events(from: 2, limit: 50)?.map(\.position) == Array(2...8))
        recent.heard(head: 3)  // an older head changes nothing
        #expect(recent.knownHead == 8)
    }

    @Test("a run that continues or overlaps the held one extends it without duplicates; a gap replaces it")
    func extendsOrReplaces() {
        var recent = RecentEvents(capacity: 100)
        recent.add(run(1...3))
        recent.add(run(4...6))
        recent.add(run(2...8))
        #expect(recent.events(from: 1, limit: 100)?.map(\.position) == Array(1...8))
        recent.add(run(20...22))
        #expect(recent.positions == 20...22)
        #expect(recent.events(from: 5, limit: 10) == nil)
        recent.add(run(3...5))  // behind what is held: replaces it too, still contiguous
        #expect(recent.positions == 3...5)
        #expect(recent.events(from: 3, limit: 3)?.map(\.position) == [3, 4, 5])
        #expect(recent.events(from: 3, limit: 10) == nil)  // 6...22 were heard of
    }

    @Test("past its capacity it keeps the newest events")
    func keepsTheNewest() {
        var recent = RecentEvents(capacity: 10)
        for start in stride(from: LogPosition(1), through: 95, by: 5) { recent.add(run(start...(start + 4))) }
        // The runs 1...5, 6...10, ..., 91...95: the last ten events are 86...95.
        #expect(recent.positions == 86...95)
        #expect(recent.events(from: 86, limit: 100)?.map(\.position) == Array(86...95))
        recent.add(run(200...250))
        #expect(recent.positions == 241...250)
        #expect(recent.events(from: 241, limit: 3)?.map(\.payload) == [[241], [242], [243]])
    }
}

/// A read that blocks until released, counting how often it ran.
private final class GatedRead: Sendable {
    private struct State {
        var reads = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var reads: Int { state.withLock { $0.reads } }
    var blocked: Int { state.withLock { $0.waiting.count } }

    /// Starts a read numbered from 1, and answers that number once released.
    func read() async -> Int {
        let number = state.withLock { state in
            state.reads += 1
            return state.reads
        }
        await withCheckedContinuation { continuation in state.withLock { $0.waiting.append(continuation) } }
        return number
    }

    func release() {
        let waiting = state.withLock { state in
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}

@Suite("CoalescedRead: concurrent callers share one read that started after they asked", .timeLimit(.minutes(5)))
struct CoalescedReadTests {
    @Test("callers arriving during a read wait for the next one, which serves them all")
    func sharesTheNextRead() async throws {
        let shared = CoalescedRead<Int>()
        let gate = GatedRead()
        let first = Task { try await shared.value { await gate.read() } }
        while gate.blocked < 1 { await Task.yield() }
        let later = (0..<5).map { _ in Task { try await shared.value { await gate.read() } } }
        // The later callers queue behind the read in flight: it started before they asked.
        for _ in 0..<1_000 { await Task.yield() }
        #expect(gate.reads == 1)
        gate.release()
        #expect(try await first.value == 1)
        while gate.blocked < 1 { await Task.yield() }
        gate.release()
        for task in later { #expect(try await task.value == 2) }
        #expect(gate.reads == 2)
    }

    @Test("a failed read fails the callers it served; the next caller reads again")
    func failuresAreNotKept() async throws {
        struct Refused: Error {}
        let shared = CoalescedRead<Int>()
        await #expect(throws: Refused.self) { try await shared.value { throw Refused() } }
        #expect(try await shared.value { 7 } == 7)
    }
}

@Suite("Deadlines: the log's time limits, kept by one task", .timeLimit(.minutes(5)))
struct DeadlinesTests {
    @Test("a limit fires once after its time; a removed one never fires")
    func firesOrIsRemoved() async throws {
        let deadlines = Deadlines()
        let fired = Notes<String>()
        let clock = ContinuousClock()
        let start = clock.now
        _ = deadlines.add(after: .milliseconds(150)) { fired.add("kept") }
        let removed = deadlines.add(after: .milliseconds(150)) { fired.add("removed") }
        deadlines.remove(removed)
        while fired.all.isEmpty && clock.now - start < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(clock.now - start >= .milliseconds(150))
        try await Task.sleep(for: Deadlines.tick * 3)
        #expect(fired.all == ["kept"])
    }
}

extension DeadlinesTests {
    @Test("expireAll fires every limit at once, and each only once")
    func expireAll() async throws {
        let deadlines = Deadlines()
        let fired = Notes<Int>()
        for index in 0..<3 { _ = deadlines.add(after: .seconds(600)) { fired.add(index) } }
        deadlines.expireAll()
        #expect(fired.all.sorted() == [0, 1, 2])
        deadlines.expireAll()
        try await Task.sleep(for: Deadlines.tick * 2)
        #expect(fired.all.count == 3)
    }
}

@Suite("PositionSignal: each waiter woken by the position it waits for", .timeLimit(.minutes(5)))
struct PositionSignalTests {
    @Test("a fold wakes only the waiters it reaches; a reached position answers at once")
    func wakesOnlyThoseReached() async throws {
        let signal = PositionSignal()
        let woken = Notes<LogPosition>()
        let waiters = [LogPosition(3), 5, 7].map { position in
            Task {
                let reached = await signal.wait(for: position, timeout: .seconds(60))
                woken.add(position)
                return reached
            }
        }
        for _ in 0..<1_000 { await Task.yield() }
        signal.advance(to: 4)
        while woken.all.count < 1 { await Task.yield() }
        for _ in 0..<1_000 { await Task.yield() }
        #expect(woken.all == [3])
        signal.advance(to: 2)  // back: nothing happens
        #expect(signal.reached == 4)
        signal.advance(to: 7)
        for waiter in waiters { #expect(await waiter.value) }
        #expect(Set(woken.all) == [3, 5, 7])
        #expect(await signal.wait(for: 6, timeout: .zero))
    }

    @Test("a waiter not reached gives up at its time limit, or when its task is cancelled")
    func givesUp() async throws {
        let signal = PositionSignal()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await signal.wait(for: 1, timeout: .milliseconds(200)) == false)
        #expect(clock.now - start >= .milliseconds(200))
        let cancelled = Task { await signal.wait(for: 1, timeout: .seconds(600)) }
        for _ in 0..<100 { await Task.yield() }
        cancelled.cancel()
        #expect(await cancelled.value == false)
        signal.advance(to: 1)
        #expect(await signal.wait(for: 1, timeout: .zero))
    }
}
