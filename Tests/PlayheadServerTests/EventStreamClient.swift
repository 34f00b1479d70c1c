import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal Server-Sent Events client for tests: one GET over a plain socket on its own
/// thread, whose body is delivered as it arrives, split into events (blank-line separated).
/// URLSession on Linux hands a body over only when it is complete, which a stream never is.
final class EventStreamClient: Sendable {
    /// One event: its fields (`event`, `data`, …) and comment lines.
    struct Event: Sendable {
        var fields: [String: String]
        var comments: [String]
    }

    /// The events in order; the first holds the response's status line as its `status` field.
    let events: AsyncStream<Event>
    private let socket: Int32

    /// Connects to 127.0.0.1:`port` and sends `GET path` with `token`.
    init(port: Int, path: String, token: String) throws {
        #if canImport(Glibc)
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nAccept: text/event-stream\r\n\r\n"
        _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
        socket = descriptor
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        events = stream
        let thread = Thread { Self.read(descriptor, into: continuation) }
        thread.start()
    }

    /// Closes the connection (the reading thread then ends the event stream).
    func close() { shutdown(socket, Int32(SHUT_RDWR)) }

    deinit { Glibc.close(socket) }

    private static func read(_ descriptor: Int32, into continuation: AsyncStream<Event>.Continuation) {
        var pending = ""
        var inBody = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            // "\r\n" is one Character to Swift: normalised, lines split on "\n" alone.
            pending += String(decoding: buffer[0..<count], as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            if !inBody {
                guard let end = pending.range(of: "\n\n") else { continue }
                let head = pending[..<end.lowerBound]
                continuation.yield(Event(fields: ["status": head.split(separator: "\n").first.map(String.init) ?? ""], comments: []))
                pending = String(pending[end.upperBound...])
                inBody = true
            }
            // Chunked transfer encoding: drop the chunk-size lines, keep the text.
            while let separator = pending.range(of: "\n\n") {
                let block = String(pending[..<separator.lowerBound])
                pending = String(pending[separator.upperBound...])
                var event = Event(fields: [:], comments: [])
                for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
                    if line.hasPrefix(":") {
                        event.comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
                    } else if let colon = line.firstIndex(of: ":") {
                        event.fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                    }
                }
                if !event.fields.isEmpty || !event.comments.isEmpty { continuation.yield(event) }
            }
        }
        continuation.finish()
    }
}
