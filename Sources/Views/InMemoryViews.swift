public import EventLog
import Synchronization

/// Projectors folded into sorted tables in memory: the views of unit tests, with no LMDB and
/// no directory. Takes part in the batches of a log as ``InlineProjections`` does, usually
/// `InMemoryEventStore(participant: InMemoryViews(projectors: …))`: a batch works on a copy
/// of the committed tables, which its commit keeps and its abort drops.
///
/// Keys are ordered exactly as LMDB orders them, so a projector and its queries behave here
/// as they do on the `views` environment. Queries read the committed state with
/// ``read(_:_:)``; deciders read their batch's state with ``read(_:in:_:)``.
public final class InMemoryViews: BatchParticipant, ViewReading, @unchecked Sendable {
    /// The projectors, in the order they are applied.
    public let projectors: [any Projector]
    private let routing: ProjectorRouting

    private struct Committed {
        /// Tables by projector, then by database.
        var tables: [String: [String: MemoryTable]]
        /// The last position applied.
        var position: LogPosition = 0
    }
    private let committed: Mutex<Committed>

    /// The batch open on the writer: each projector's working tables and view of them.
    private struct OpenBatch: @unchecked Sendable {
        let scope: BatchScope
        let tables: [MemoryTables]
        let views: [ViewTransaction]
    }
    private let openBatch = Mutex<OpenBatch?>(nil)
    /// The last position the open batch applied; touched only by the log's writer.
    private var batchPosition: LogPosition = 0

    /// Views for `projectors`, empty. Two projectors must not share a name.
    public init(projectors: [any Projector]) {
        precondition(Set(projectors.map(\.name)).count == projectors.count, "two projectors share a name")
        self.projectors = projectors
        routing = ProjectorRouting(projectors)
        var tables: [String: [String: MemoryTable]] = [:]
        for projector in projectors {
            tables[projector.name] = Dictionary(uniqueKeysWithValues: projector.databases.map { ($0, MemoryTable()) })
        }
        committed = Mutex(Committed(tables: tables))
    }

    /// The last position folded into the committed views.
    public func appliedPosition() -> LogPosition { committed.withLock { $0.position } }

    // MARK: Reading

    /// Runs `body` with the views of `projector` as last committed (a snapshot: a later
    /// commit is not seen during the call).
    public func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T {
        guard let tables = committed.withLock({ $0.tables[projector] }) else {
            throw ViewError("no projector named '\(projector)'")
        }
        return try body(ViewTransaction(memory: MemoryTables(tables), owner: projector, isWritable: false))
    }

    /// Runs `body` with the views of `projector` as batch `scope` has left them so far.
    ///
    /// - Throws: ``ViewError`` when `scope` is not the open batch.
    public func read<T>(_ projector: String, in scope: BatchScope, _ body: (ViewTransaction) throws -> T) throws -> T {
        guard let batch = openBatch.withLock({ $0 }), batch.scope == scope else {
            throw ViewError("batch \(scope.batch) is not open: a decider's views are read during its batch only")
        }
        guard let index = projectors.firstIndex(where: { $0.name == projector }) else {
            throw ViewError("no projector named '\(projector)'")
        }
        return try body(ViewTransaction(memory: batch.tables[index], owner: projector, isWritable: false))
    }

    // MARK: BatchParticipant

    public func catchUp(_ log: some EventScanner) throws {
        let state = committed.withLock { $0 }
        let tables = projectors.map { MemoryTables(state.tables[$0.name] ?? [:]) }
        let views = zip(projectors, tables).map { ViewTransaction(memory: $1, owner: $0.name, isWritable: true) }
        var position = state.position
        _ = try log.scan(from: position + 1) { event in
            try fold(event, into: views)
            position = event.position
            return true
        }
        keep(tables, through: position)
    }

    public func beginBatch(_ scope: BatchScope, _ log: some EventScanner) throws {
        let state = committed.withLock { $0 }
        let tables = projectors.map { MemoryTables(state.tables[$0.name] ?? [:]) }
        let views = zip(projectors, tables).map { ViewTransaction(memory: $1, owner: $0.name, isWritable: true) }
        batchPosition = state.position
        openBatch.withLock { $0 = OpenBatch(scope: scope, tables: tables, views: views) }
    }

    public func apply(_ event: EventView) throws {
        guard let batch = openBatch.withLock({ $0 }) else { throw ViewError("apply outside a batch") }
        try fold(event, into: batch.views)
        batchPosition = event.position
    }

    public func commitBatch() throws {
        guard let batch = openBatch.withLock({ $0 }) else { return }
        openBatch.withLock { $0 = nil }
        keep(batch.tables, through: batchPosition)
    }

    public func abortBatch() {
        openBatch.withLock { $0 = nil }
    }

    private func fold(_ event: EventView, into views: [ViewTransaction]) throws {
        let type = event.typeBytes
        for index in projectors.indices where routing.wants(index, type) {
            try projectors[index].apply(event, to: views[index])
        }
    }

    private func keep(_ tables: [MemoryTables], through position: LogPosition) {
        committed.withLock { state in
            for (projector, own) in zip(projectors, tables) { state.tables[projector.name] = own.tables }
            state.position = max(state.position, position)
        }
    }
}
