public import EventLog
public import PostgresLog
public import Views

extension PlayheadNode {
    /// Events read per query when a whole log is folded (a rebuild, a verify).
    public static let foldChunk = 16_384

    /// Folds the PostgreSQL `log` into the views environment at `directory` (created if
    /// missing) for `projectors`, from their checkpoints through `last`, reading the next chunk
    /// while the current one is folded. Each chunk is committed with the checkpoints; returns
    /// how many events were folded, and calls `progress` with the position reached.
    ///
    /// - Throws: `EventLogError` (`storage`) when PostgreSQL fails, a `ViewError` or LMDB
    ///   error when the views do.
    @discardableResult
    public static func fold(
        _ log: PostgresEventLog,
        into directory: String,
        projectors: [any Projector],
        through last: LogPosition,
        progress: (LogPosition) -> Void = { _ in }
    ) async throws -> Int {
        let views = try InlineProjections(directory: directory, projectors: projectors)
        var next = try views.appliedPosition() + 1
        var folded = 0
        var chunk = try await read(log, from: next, through: last)
        while let end = chunk.last?.position {
            next = end + 1
            // The next chunk is read while this one is folded.
            let following = Task { [next] in try await read(log, from: next, through: last) }
            do {
                try views.catchUp(RecordedEventsScanner(chunk))
            } catch {
                following.cancel()
                throw error
            }
            folded += chunk.count
            progress(end)
            chunk = try await following.value
        }
        return folded
    }

    private static func read(_ log: PostgresEventLog, from position: LogPosition, through last: LogPosition) async throws -> [RecordedEvent] {
        guard position <= last else { return [] }
        return try await log.events(from: position, direction: .forward, limit: Int(min(UInt64(foldChunk), last - position + 1)))
    }
}
