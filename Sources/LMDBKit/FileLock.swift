import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock(2)` on a file (a log's `writer.lock`): held by one open file
/// description at a time, so it excludes other processes and other opens in this one.
/// Released by ``release()``, or when dropped.
package final class FileLock: Sendable {
    /// Why a lock was not taken.
    package enum Failure: Error {
        /// The file could not be opened or created; the system's reason.
        case cannotOpen(String)
        /// Someone else holds it.
        case held
    }

    package let path: String
    /// The descriptor holding the lock; -1 once released.
    private let descriptor: Mutex<Int32>

    /// Takes the lock on `path` (creating the file), failing with ``Failure/held`` when it
    /// is still held after `patience`.
    ///
    /// The short wait is not for other processes' writers, which hold the lock for their whole
    /// life: it covers a lock that was just released in this process while another thread was
    /// spawning a child. Between `posix_spawn`'s clone and its exec the child holds a copy of
    /// every descriptor, `O_CLOEXEC` ones too, and with it the lock's open file description.
    package init(path: String, patience: Duration = .milliseconds(500)) throws(Failure) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        var pause = Duration.milliseconds(1)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard clock.now < deadline else {
                closeDescriptor(descriptor)
                throw .held
            }
            sleepBriefly(pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Lets go of the lock; does nothing the second time.
    package func release() {
        let held = descriptor.withLock { descriptor in
            defer { descriptor = -1 }
            return descriptor
        }
        if held >= 0 { closeDescriptor(held) }
    }

    /// Whether anyone (this process included) holds the lock on an existing `path`.
    package static func isHeld(path: String) -> Bool {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { closeDescriptor(descriptor) }
        // flock locks belong to the open file description: this probe conflicts with a
        // lock of this very process too, and drops its own on close.
        return flock(descriptor, LOCK_EX | LOCK_NB) != 0
    }
}

/// Blocks the calling thread for `duration` (opening a log is synchronous).
private func sleepBriefly(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// `close(2)`.
private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #else
    _ = Darwin.close(descriptor)
    #endif
}
