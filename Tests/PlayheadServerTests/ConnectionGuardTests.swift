import Foundation
import PlayheadServer
import TestSupport
import Testing

@Suite("Connections that never finish a request head")
struct ConnectionGuardTests {
    @Test("a connection silent or stopped half way through its first head is closed after the request-head timeout, unanswered")
    func headTimeout() async throws {
        try await TestServer.run(configure: headTimeout(.milliseconds(300))) { server in
            let silent = try LoopbackConnection(port: server.port)
            let halfSent = try LoopbackConnection(port: server.port)
            try halfSent.write("GET /health HTTP/1.1\r\nHo")
            for connection in [silent, halfSent] {
                let reply = await connection.receive()
                #expect(reply.closed && reply.text.isEmpty, "\(reply)")
            }
            // The server goes on serving.
            #expect(try await server.send("GET", "/health").status == 200)
        }
    }

    @Test("a keep-alive connection idle between requests longer than the request-head timeout is still served")
    func keepAliveOutlivesTheHeadTimeout() async throws {
        try await TestServer.run(configure: headTimeout(.milliseconds(200))) { server in
            let connection = try LoopbackConnection(port: server.port)
            for _ in 0..<2 {
                try connection.write("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let reply = await connection.receive(untilContains: "\r\n\r\n")
                #expect(reply.text.hasPrefix("HTTP/1.1 200"), "\(reply)")
                try await Task.sleep(for: .milliseconds(600))
            }
        }
    }

    @Test("every accepted connection bounds the kernel's unsent bytes (TCP_NOTSENT_LOWAT), so a slow reader's backlog stays visible to the server")
    func unsentBytesBounded() async throws {
        try await TestServer.run { server in
            let connection = try LoopbackConnection(port: server.port)
            try connection.write("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            _ = await connection.receive(untilContains: "\r\n\r\n")
            let accepted = try #require(LoopbackConnection.acceptedDescriptor(peerPort: connection.localPort))
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(accepted, Int32(IPPROTO_TCP), TCP_NOTSENT_LOWAT, &value, &length) == 0)
            #expect(value == 128 * 1024)
        }
    }

    @Test("a keep-alive connection idle after its request (silent, or half way through its next head) is closed after the idle timeout")
    func idleAfterARequest() async throws {
        let configure: (inout ServerConfiguration) -> Void = { $0.idleConnectionTimeout = .milliseconds(300) }
        try await TestServer.run(configure: configure) { server in
            for next in ["", "GET /health HTTP/1.1\r\nHo"] {
                let connection = try LoopbackConnection(port: server.port)
                try connection.write("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let answered = await connection.receive(untilContains: "\r\n\r\n")
                #expect(answered.text.hasPrefix("HTTP/1.1 200"), "\(answered)")
                if !next.isEmpty { try connection.write(next) }
                let reply = await connection.receive()
                #expect(reply.closed && !reply.timedOut && reply.text.isEmpty, "\(next.debugDescription): \(reply)")
            }
        }
    }

    private func headTimeout(_ timeout: Duration) -> (inout ServerConfiguration) -> Void {
        { $0.requestHeadTimeout = timeout }
    }
}
