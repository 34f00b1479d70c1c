import Synchronization

/// One read shared by concurrent callers, each served by a read that started after it asked:
/// a caller arriving while a read runs waits for the next one, which then serves everyone
/// who arrived meanwhile. Under load, N callers per round trip cost one query instead of N,
/// and no caller gets an answer older than its call (what `currentHead()` promises: a node's
/// command sees what was committed before it arrived).
final class CoalescedRead<Value: Sendable>: Sendable {
    private struct State {
        var running = false
        /// Waiting for the read in flight.
        var current: [CheckedContinuation<Value, any Error>] = []
        /// Arrived after it started: waiting for the next read.
        var next: [CheckedContinuation<Value, any Error>] = []
    }

    private let state = Mutex(State())

    /// Nothing read yet.
    init() {}

    /// The result of a read that started after this call; `read` is how to read (the
    /// callers of one instance all pass the same).
    func value(_ read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let starts = state.withLock { state -> Bool in
                if state.running {
                    state.next.append(continuation)
                    return false
                }
                state.running = true
                state.current = [continuation]
                return true
            }
            if starts { Task { await self.readWhileAsked(read) } }
        }
    }

    private func readWhileAsked(_ read: @Sendable () async throws -> Value) async {
        while true {
            let result: Result<Value, any Error>
            do {
                result = .success(try await read())
            } catch {
                result = .failure(error)
            }
            let (served, again) = state.withLock { state -> ([CheckedContinuation<Value, any Error>], Bool) in
                let served = state.current
                state.current = state.next
                state.next = []
                state.running = !state.current.isEmpty
                return (served, state.running)
            }
            for continuation in served { continuation.resume(with: result) }
            guard again else { return }
        }
    }
}
