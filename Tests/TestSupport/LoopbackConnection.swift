import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw TCP connection to 127.0.0.1, for tests that need what no HTTP client sends: a
/// connection that stays silent, a request cut off half way. Closed when dropped.
public final class LoopbackConnection: @unchecked Sendable {
    /// Why a connection could not be made or used; the `errno` text.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let descriptor: Int32

    /// Connects to 127.0.0.1:`port`; receives wait at most `receiveTimeout` seconds.
    public init(port: Int, receiveTimeout: Int = 30) throws {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "connect to 127.0.0.1:\(port): \(reason)")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The connection's local port (the client's side).
    public var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// In a process that runs both ends on loopback: the descriptor of the accepted socket
    /// whose peer is the client socket on `port`, found among `/proc/self/fd`.
    public static func acceptedDescriptor(peerPort port: Int) -> Int32? {
        let entries = (try? listDirectory("/proc/self/fd")) ?? []
        for entry in entries {
            guard let descriptor = Int32(entry) else { continue }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
            }
            if named == 0, address.sin_family == sa_family_t(AF_INET), Int(UInt16(bigEndian: address.sin_port)) == port {
                return descriptor
            }
        }
        return nil
    }

    private static func listDirectory(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw Failure(description: "opendir \(path): \(String(cString: strerror(errno)))") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            names.append(name)
        }
        return names
    }

    /// Sends all of `text`'s UTF-8 bytes.
    public func write(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            bytes = bytes.dropFirst(sent)
        }
    }

    /// What arrives until the peer closes the connection, or until `untilContains` has
    /// arrived, or until a receive times out (then `timedOut` is true). The blocking reads run
    /// on a thread of their own: a server in the same process keeps the concurrency pool.
    public func receive(untilContains marker: String? = nil) async -> Reply {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.receiveBlocking(untilContains: marker)) }.start()
        }
    }

    /// What ``receive(untilContains:)`` answers.
    public struct Reply: Sendable, CustomStringConvertible {
        /// The bytes received, as UTF-8 text.
        public var text: String
        /// Whether the peer closed (or reset) the connection.
        public var closed: Bool
        /// Whether a receive waited out the timeout.
        public var timedOut: Bool
        public var description: String { "closed: \(closed), timed out: \(timedOut), text: \(text.debugDescription)" }
    }

    private func receiveBlocking(untilContains marker: String?) -> Reply {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            let failure = errno
            let text = String(decoding: received, as: UTF8.self)
            if count == 0 { return Reply(text: text, closed: true, timedOut: false) }
            if count < 0 { return Reply(text: text, closed: failure == ECONNRESET, timedOut: failure == EAGAIN || failure == EWOULDBLOCK) }
            received += buffer[0..<count]
            if let marker, String(decoding: received, as: UTF8.self).contains(marker) {
                return Reply(text: String(decoding: received, as: UTF8.self), closed: false, timedOut: false)
            }
        }
    }
}
