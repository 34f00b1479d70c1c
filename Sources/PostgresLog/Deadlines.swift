import Synchronization

/// The time limits of the log's operations, kept by one task that looks at them every
/// ``tick`` instead of a timer per operation (a timer per read and append cost a tenth of a
/// node's CPU under load). A limit fires up to one tick late.
final class Deadlines: Sendable {
    /// How often the overdue are looked for.
    static let tick: Duration = .milliseconds(100)

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var watching = false
    }

    private let state = Mutex(State())

    init() {}

    /// Calls `expire` once `limit` has passed, unless ``remove(_:)`` was called first with
    /// the identifier returned.
    func add(after limit: Duration, _ expire: @escaping @Sendable () -> Void) -> UInt64 {
        let deadline = ContinuousClock.now.advanced(by: limit)
        let (id, starts) = state.withLock { state -> (UInt64, Bool) in
            state.nextID &+= 1
            state.entries[state.nextID] = Entry(deadline: deadline, expire: expire)
            defer { state.watching = true }
            return (state.nextID, !state.watching)
        }
        if starts { Task { await self.watch() } }
        return id
    }

    /// Forgets a limit (its operation ended).
    func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Expires every limit now (the server is seen down: nothing waiting for it will come).
    func expireAll() {
        let all = state.withLock { state in
            defer { state.entries = [:] }
            return state.entries.values.map(\.expire)
        }
        for expire in all { expire() }
    }

    /// Runs while limits are kept; ends when none is left (the next `add` starts it again).
    private func watch() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (overdue, goesOn) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
                var overdue: [@Sendable () -> Void] = []
                for (id, entry) in state.entries where entry.deadline <= now {
                    overdue.append(entry.expire)
                    state.entries[id] = nil
                }
                state.watching = !state.entries.isEmpty
                return (overdue, state.watching)
            }
            for expire in overdue { expire() }
            guard goesOn else { return }
        }
    }
}
