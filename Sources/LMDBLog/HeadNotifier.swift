import EventLog
import LMDBKit
import Synchronization

/// Publishes the committed head of the log and wakes tasks that wait for it to move.
///
/// The writer publishes after each commit, under the same lock under which a waiter checks
/// the head and registers itself, so a commit can never slip between a subscriber's check
/// and its wait. A waiter only learns that there is something new; it reads the events from
/// the log itself, so a slow reader costs the writer nothing.
final class HeadNotifier: Sendable {
    private struct State {
        var head: LogPosition
        var closed = false
        var nextWaiterID = 0
        var waiters: [Int: (after: LogPosition, continuation: CheckedContinuation<Bool, Never>)] = [:]
    }

    private let state: Mutex<State>

    init(head: LogPosition) {
        state = Mutex(State(head: head))
    }

    /// The last committed position.
    var head: LogPosition { state.withLock { $0.head } }

    /// Whether ``close()`` has run.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Sets a new committed head and wakes everyone waiting for a position it reaches.
    func publish(_ head: LogPosition) {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.head = head
            let ready = state.waiters.filter { $0.value.after < head }
            for id in ready.keys { state.waiters.removeValue(forKey: id) }
            return ready.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Suspends until the head is past `position`. Returns false when the log closes or the
    /// task is cancelled first.
    func wait(forHeadPast position: LogPosition) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if state.head > position { return true }
                    if state.closed || Task.isCancelled { return false }
                    state.waiters[id] = (position, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Wakes every waiter with false; later waits return false at once.
    func close() {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.closed = true
            let all = state.waiters.values.map(\.continuation)
            state.waiters.removeAll()
            return all
        }
        for continuation in woken { continuation.resume(returning: false) }
    }
}
