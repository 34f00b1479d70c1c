import Synchronization

/// Turns at writing a node's inline views, taken in order without blocking a thread while
/// waiting: the follower's folds and the rows' write transactions (`NodeCommandLog`). LMDB
/// lets one write transaction run at a time, and growing the map needs none open; a thread
/// of Swift's shared pool blocked on LMDB's writer lock while a 4,096-event chunk folds would
/// stall a node on two cores.
final class ViewsTurn: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Runs `body` (synchronous: the views' transactions stay on one thread) once it is this
    /// caller's turn.
    func run<T>(_ body: () throws -> T) async rethrows -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiting.isEmpty else {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try body()
    }
}
