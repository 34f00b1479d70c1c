import EventLog
import Foundation
import Projections
import Synchronization
import Views

final class Counter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("playhead-views-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Every projector folded into views in memory, fed by a log in memory: what a projector
/// test folds into when it is not about LMDB. No directory, no LMDB.
struct MemoryStore {
    /// Every projector Playhead runs, in the order it applies them.
    static let projectors: [any Projector] = [
        UserSessionsProjector(), WatchSessionsProjector(), VideoProgressProjector(), InteractionsProjector(), WatchPartiesProjector(),
    ]

    let views: InMemoryViews
    let log: InMemoryEventStore

    init(clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        views = InMemoryViews(projectors: Self.projectors)
        log = InMemoryEventStore(clock: clock, participant: views)
    }

    /// The committed views, as queries read them.
    var committed: ViewSource { .committed(views) }
}
