import Foundation

/// Where a store keeps its live `views` environment, and how a rebuild replaces it.
///
/// The file `views.current` in the store names the live views directory (`views` when the
/// file is absent). A rebuild writes a new generation, `views-<milliseconds>-<random>`, then replaces the
/// file atomically (write, fsync, rename); a running server notices and switches.
public struct ViewsLocation: Sendable, Hashable {
    /// The store directory (the one holding `log/`).
    public let store: String

    /// The location for the store in `store`.
    public init(store: String) { self.store = store }

    private var pointer: String { store + "/views.current" }

    /// The live views directory.
    public func current() -> String {
        guard let data = FileManager.default.contents(atPath: pointer),
            let name = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !name.isEmpty, !name.contains("/")
        else { return store + "/views" }
        return store + "/" + name
    }

    /// A new, unused generation directory (not created).
    public func newGeneration() -> String {
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        return store + "/views-\(stamp)-\(UInt16.random(in: 0...UInt16.max))"
    }

    /// Makes `directory` (inside the store) the live views, atomically.
    public func publish(_ directory: String) throws {
        let name = (directory as NSString).lastPathComponent
        let temporary = pointer + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary]) }
        let bytes = Array((name + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, pointer) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: pointer])
        }
    }

    /// Removes every views directory of the store but `keep`.
    public func removeGenerations(except keep: String) {
        let keepName = (keep as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
        for name in names where (name == "views" || name.hasPrefix("views-")) && name != keepName {
            try? FileManager.default.removeItem(atPath: store + "/" + name)
        }
    }
}
