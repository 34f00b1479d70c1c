package import EventLog
import Synchronization

/// Wakes each waiter once the position it waits for is reached: a node's commands waiting
/// for its views to fold their write are each woken by the fold that reaches it, not every
/// one of them by every fold (which, with a timer each, cost more CPU than the commands).
package final class PositionSignal: Sendable {
    private struct Waiter {
        var position: LogPosition
        var continuation: CheckedContinuation<Bool, Never>
        /// Its time limit in `deadlines`, once set.
        var limit: UInt64?
    }

    private struct State {
        var reached: LogPosition = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state = Mutex(State())
    private let deadlines = Deadlines()

    /// Nothing reached yet.
    package init() {}

    /// The highest position announced.
    package var reached: LogPosition { state.withLock { $0.reached } }

    /// Announces that `position` is reached, waking those waiting for it or an earlier one.
    package func advance(to position: LogPosition) {
        let woken = state.withLock { state -> [Waiter] in
            guard position > state.reached else { return [] }
            state.reached = position
            var woken: [Waiter] = []
            for (id, waiter) in state.waiters where waiter.position <= position {
                woken.append(waiter)
                state.waiters[id] = nil
            }
            return woken
        }
        for waiter in woken {
            if let limit = waiter.limit { deadlines.remove(limit) }
            waiter.continuation.resume(returning: true)
        }
    }

    /// Returns true once `position` is reached; false after `timeout` (up to a tenth of a
    /// second later) or when the task is cancelled first.
    package func wait(for position: LogPosition, timeout: Duration) async -> Bool {
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if state.reached >= position { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = Waiter(position: position, continuation: continuation)
                    return nil
                }
                if let answer { return continuation.resume(returning: answer) }
                let limit = deadlines.add(after: timeout) { [self] in giveUp(id) }
                let woken = state.withLock { state -> Bool in
                    guard state.waiters[id] != nil else { return true }
                    state.waiters[id]?.limit = limit
                    return false
                }
                if woken { deadlines.remove(limit) }
            }
        } onCancel: {
            giveUp(id)
        }
    }

    private func giveUp(_ id: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        if let limit = waiter.limit { deadlines.remove(limit) }
        waiter.continuation.resume(returning: false)
    }
}
