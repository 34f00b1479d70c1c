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
            Self.isGeneration(name)
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
        // The rename is durable once the directory holding it is synced.
        let directory = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: store]) }
        defer { close(directory) }
        guard fsync(directory) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: store]) }
    }

    /// Whether `name` is a views directory's name: `views` or `views-` and letters, digits
    /// and hyphens (never a path).
    static func isGeneration(_ name: String) -> Bool {
        name == "views"
            || (name.hasPrefix("views-") && name.utf8.dropFirst(6).allSatisfy { $0 == UInt8(ascii: "-") || (48...57).contains($0) })
    }

    /// Removes one views directory of the store (the one just switched away from).
    public func remove(_ directory: String) {
        let name = (directory as NSString).lastPathComponent
        guard Self.isGeneration(name), directory == store + "/" + name else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Removes every views directory but the live one: generations a rebuild left behind
    /// when it was stopped. Only for a rebuild holding ``RebuildLock``, so none is in progress.
    public func removeStaleGenerations() {
        let live = (current() as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
        for name in names where Self.isGeneration(name) && name != live {
            try? FileManager.default.removeItem(atPath: store + "/" + name)
        }
    }

    /// Holds `rebuild.lock` in the store: one rebuild at a time, so none deletes another's work.
    public func lockRebuilds() throws -> RebuildLock {
        let path = store + "/rebuild.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw RebuildLock.Busy(store: store)
        }
        return RebuildLock(descriptor: descriptor)
    }
}

/// The lock of a running rebuild; released when it is deinitialised.
public final class RebuildLock {
    private let descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }

    /// Another rebuild of the store is running.
    public struct Busy: Error, CustomStringConvertible {
        /// The store.
        public var store: String
        public var description: String { "another rebuild of \(store) is running" }
    }
}
