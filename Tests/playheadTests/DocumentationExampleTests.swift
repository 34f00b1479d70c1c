import Foundation
import Testing

/// The repository's root: three levels above this file (`Tests/playheadTests/…`).
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite("The examples of the documentation", .timeLimit(.minutes(5)))
struct DocumentationExampleTests {
    /// `tools/check-docs` starts a fresh server with the built binary, runs the document's
    /// shell examples in order and compares what each prints with the document.
    @Test(
        "every shell example runs as written, in order, on a fresh server, and prints what the document shows",
        arguments: ["README.md", "Docs/api.md"]
    )
    func examples(document: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repositoryRoot + "/tools/check-docs", "--binary", playheadBinary, "--timeout", "150", repositoryRoot + "/" + document,
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let report = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "tools/check-docs \(document):\n\(report)")
    }
}
