import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `export` and `tail` write: standard output or a file, with plain `write(2)` calls
/// of whole chunks.
public final class OutputFile {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    /// The path written to, for messages.
    public let name: String

    /// Standard output.
    public static func standardOutput() -> OutputFile { OutputFile(descriptor: STDOUT_FILENO, owns: false, name: "standard output") }

    private init(descriptor: Int32, owns: Bool, name: String) {
        self.descriptor = descriptor
        self.ownsDescriptor = owns
        self.name = name
    }

    /// Creates (or empties) the file at `path`.
    ///
    /// - Throws: ``FileError`` naming the file and the system's reason.
    public init(creating path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FileError("cannot create \(path): \(String(cString: strerror(errno))); choose another file with --output")
        }
        self.descriptor = descriptor
        self.ownsDescriptor = true
        self.name = path
    }

    deinit {
        if ownsDescriptor { close(descriptor) }
    }

    /// Writes all of `bytes`.
    ///
    /// - Throws: ``FileError`` naming the file and the system's reason (a full disk, a
    ///   closed pipe).
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileError("cannot write to \(name): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    /// Whether this is a terminal.
    public var isTerminal: Bool { isatty(descriptor) != 0 }
}

/// A whole input file in memory: mapped when it is a regular file, read otherwise.
public final class InputFile: @unchecked Sendable {
    /// The file's bytes; valid as long as this object.
    public let bytes: UnsafeRawBufferPointer
    private let mapped: Bool

    /// Maps or reads `path`.
    ///
    /// - Throws: ``FileError`` naming the file and the system's reason.
    public init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG && status.st_size > 0 {
            let size = Int(status.st_size)
            if let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED {
                madvise(address, size, MADV_SEQUENTIAL)
                bytes = UnsafeRawBufferPointer(start: address, count: size)
                mapped = true
                return
            }
        }
        // A pipe or an empty file: read it all.
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            data.append(contentsOf: chunk[0..<count])
        }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 8)
        copy.copyBytes(from: data)
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(copy)[0..<data.count])
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: bytes.baseAddress)?.deallocate()
        }
    }

    /// The lines of `bytes` (without their newlines), empty ones included, each with its
    /// number from 1.
    static func lines(in bytes: UnsafeRawBufferPointer) -> LineIterator { LineIterator(bytes: bytes) }

    /// Calls `body` with each line of `bytes` (without its newline) and its number from 1,
    /// empty lines included, until `body` returns false.
    static func forEachLine(in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int) throws -> Bool) rethrows {
        var lines = LineIterator(bytes: bytes)
        while let (line, number) = lines.next() {
            guard try body(line, number) else { return }
        }
    }
}

/// The lines of a buffer, each with its number from 1.
struct LineIterator: IteratorProtocol {
    let bytes: UnsafeRawBufferPointer
    private var start = 0
    private var number = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The next line without its newline, and its number; nil after the last.
    mutating func next() -> (line: UnsafeRawBufferPointer, number: Int)? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        let end: Int
        if let newline = memchr(base + start, 0x0A, bytes.count - start) {
            end = base.distance(to: UnsafeRawPointer(newline))
        } else {
            end = bytes.count
        }
        let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        start = end + 1
        number += 1
        return (line, number)
    }
}

/// A one-line progress bar on standard error, drawn only when that is a terminal, and at
/// most ten times a second. It may be advanced from several threads.
public final class ProgressBar: Sendable {
    private struct State {
        var done: UInt64 = 0
        var lastDrawn: ContinuousClock.Instant?
        var drawn = false
    }

    private let total: UInt64
    private let label: String
    private let unit: String
    private let enabled: Bool
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    /// A bar for `total` `unit`s (`events`, `bytes`), shown as `label` when `enabled` and
    /// standard error is a terminal.
    public init(total: UInt64, label: String = "", unit: String = "events", enabled: Bool = true) {
        self.total = total
        self.label = label
        self.unit = unit
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
    }

    /// Sets how much is done.
    public func update(_ done: UInt64) {
        guard enabled, total > 0 else { return }
        state.withLock { state in
            state.done = done
            draw(&state, force: false)
        }
    }

    /// Adds `count` to what is done.
    public func advance(by count: UInt64) {
        guard enabled, total > 0 else { return }
        state.withLock { state in
            state.done += count
            draw(&state, force: false)
        }
    }

    /// Draws the final state and ends the line.
    public func finish() {
        guard enabled, total > 0 else { return }
        state.withLock { state in
            guard state.drawn else { return }
            draw(&state, force: true)
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }

    private func draw(_ state: inout State, force: Bool) {
        let now = ContinuousClock.now
        if !force, let last = state.lastDrawn, now - last < .milliseconds(100), state.done < total { return }
        state.lastDrawn = now
        state.drawn = true
        let fraction = min(1, Double(state.done) / Double(total))
        let filled = Int(fraction * 30)
        let rate = Double(state.done) / max(seconds(now - started), 1e-9)
        let line = String(
            format: "\r%@[%@%@] %3.0f%%  %llu/%llu %@  %.0f %@/s",
            label.isEmpty ? "" : label + " ",
            String(repeating: "#", count: filled),
            String(repeating: " ", count: 30 - filled),
            fraction * 100,
            state.done,
            total,
            unit,
            rate,
            unit
        )
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// A file that cannot be opened, created, read or written: which, and the system's reason,
/// on one line.
public struct FileError: Error, CustomStringConvertible {
    /// The message, e.g. "cannot open events.ndjson: No such file or directory".
    public var message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// `duration` in seconds, as a `Double`.
private func seconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
}
