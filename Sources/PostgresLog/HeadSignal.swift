import Synchronization

/// Wakes whoever waits for something to move: the log's readers when another commit may be
/// in the log (fired by every `NOTIFY` on the log's channel and by this process's own
/// commits; a waiter also wakes after its timeout, the polling fallback for a notification
/// lost with a connection), and `close()` when the writer goes idle.
///
/// A count of firings over a ``PositionSignal``: firing advances it, and a wait after
/// generation `g` is a wait for `g + 1`, with its time limit kept by the same shared task.
package final class HeadSignal: Sendable {
    private let fired = PositionSignal()
    private let firings = Mutex<UInt64>(0)

    /// How many times the signal has fired: read it before a read of the log, and pass it to
    /// `wait`, so that a commit between the read and the wait is not slept through.
    package var generation: UInt64 { fired.reached }

    /// A signal no one has fired yet.
    package init() {}

    /// Wakes every waiter.
    package func fire() {
        let count = firings.withLock { count in
            count &+= 1
            return count
        }
        fired.advance(to: count)
    }

    /// Returns once the signal fires after `generation`, after `timeout` (up to a tenth of a
    /// second later), or when the task is cancelled, whichever comes first.
    package func wait(after generation: UInt64, timeout: Duration) async {
        _ = await fired.wait(for: generation + 1, timeout: timeout)
    }
}
