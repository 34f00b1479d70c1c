import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `playhead` binary is self-contained: copied away from its build folder (no resource
/// bundle beside it), it still serves everything, the OpenAPI document included.
@Suite("A copied binary")
struct CopiedBinaryTests {
    @Test("serves /openapi.yaml and answers HEAD /health, away from the build folder")
    func servesTheDocument() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-copy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let copy = directory + "/bin/playhead"
        try FileManager.default.copyItem(atPath: playheadBinary, toPath: copy)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: copy)
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.arguments = [
            "serve", "--data-dir", directory + "/store", "--port", "0", "--jwt-secret", "copy-test-secret-0123456789abcdefghij",
            "--log-level", "notice",
        ]
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        var text = ""
        var port: Int?
        while port == nil {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: "http://127.0.0.1:") { port = Int(text[range.upperBound...].prefix { $0.isNumber }) }
        }
        // Keep draining the log so the server never blocks on a full pipe.
        _ = PipeReader(err.fileHandleForReading)
        let bound = try #require(port, "serve did not start: \(text)")

        let (document, response) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(bound)/openapi.yaml")))
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Docs/openapi.yaml")
        #expect(String(decoding: document, as: UTF8.self) == (try String(contentsOf: source, encoding: .utf8)))

        var head = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(bound)/health")))
        head.httpMethod = "HEAD"
        let (body, headResponse) = try await URLSession.shared.data(for: head)
        #expect((headResponse as? HTTPURLResponse)?.statusCode == 200)
        #expect(body.isEmpty)
    }
}
