public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a child process's pipe to its end on a thread of its own, with blocking reads, and
/// keeps what it read: for a child whose output a test needs, or whose pipe must never fill.
///
/// Not `FileHandle.readabilityHandler`: that installs a libdispatch read source whose
/// teardown races the descriptor's close, which crashed whole test runs on Linux in
/// `_dispatch_event_loop_drain` (swift-corelibs-foundation issue 3276, pull request 5507;
/// SourceKit-LSP moved to blocking reads for the same reason). A blocking read never
/// registers the descriptor with libdispatch.
public final class PipeReader: Sendable {
    private let state = Mutex((data: Data(), ended: false))

    /// Starts reading `handle` (the read end of a `Pipe` whose write end the child holds)
    /// until its end of file. The reader keeps `handle`, and so its descriptor, open until then.
    public init(_ handle: FileHandle) {
        Thread { [self] in
            let size = 65_536
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = read(handle.fileDescriptor, buffer, size)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                let chunk = Data(bytes: buffer, count: count)
                state.withLock { $0.data.append(chunk) }
            }
            state.withLock { $0.ended = true }
        }.start()
    }

    /// The bytes read so far.
    public var data: Data { state.withLock { $0.data } }

    /// The bytes read so far, as UTF-8 text.
    public var text: String { String(decoding: data, as: UTF8.self) }

    /// Whether the pipe's end was read (every writer closed it), or a read failed.
    public var ended: Bool { state.withLock { $0.ended } }

    /// Waits, without blocking a thread, until the pipe's end was read or `timeout` passed;
    /// whether it ended.
    @discardableResult
    public func waitForEnd(timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !ended, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return ended
    }
}
