import Synchronization

/// Wakes whoever waits for something to move: the log's readers when another commit may be
/// in the log (fired by every `NOTIFY` on the log's channel and by this process's own
/// commits; a waiter also wakes after its timeout, the polling fallback for a notification
/// lost with a connection), and a node's commands when its views have folded more.
package final class HeadSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// How many times the signal has fired: read it before a read of the log, and pass it to
    /// `wait`, so that a commit between the read and the wait is not slept through.
    package var generation: UInt64 { state.withLock { $0.generation } }

    /// A signal no one has fired yet.
    package init() {}

    /// Wakes every waiter.
    package func fire() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the signal fires after `generation`, after `timeout`, or when the task is
    /// cancelled, whichever comes first.
    package func wait(after generation: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForFire(after: generation) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForFire(after generation: UInt64) async {
        let id = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
