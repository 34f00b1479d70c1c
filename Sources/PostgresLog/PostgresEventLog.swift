public import EventLog
import Foundation
public import Logging
import PostgresNIO
import Synchronization

/// The log's contract kept in PostgreSQL, for several Playhead nodes over one database.
///
/// - **One global order without gaps.** Every append takes the row lock of `playhead_head`
///   first, takes its positions from it, and holds the lock until its commit. PostgreSQL makes
///   a transaction visible before it releases its locks, so the next appender, on any node,
///   starts after the previous one is visible: positions are visible in commit order, and a
///   reader that sees position `p` sees every position below it. (A sequence alone would not
///   do: two transactions may commit in the other order than they drew their numbers.)
/// - **Group commit.** Concurrent callers on one node share a transaction: a single writer
///   task takes everything waiting (up to `Configuration.maxBatchEvents`), decides each
///   request in turn against the streams' rows, inserts the batch and commits once. A refused
///   request adds nothing; the others go ahead.
/// - **Answered after the commit.** A caller is resumed only once PostgreSQL confirmed the
///   commit. A commit whose confirmation is lost is a `storage` error that says the batch may
///   or may not be in the log (retry with the same idempotency key).
/// - **Subscriptions** read in chunks and, once at the head, wait for a `NOTIFY` on
///   `playhead_log` (sent by every commit, from any node) or `Configuration.pollInterval`,
///   whichever comes first.
///
/// The schema is created and migrated on open (`Schema`). Errors are `EventLogError` (a
/// PostgreSQL failure is code `storage`, with PostgreSQL's own message),
/// `WrongExpectedVersionError` and `StreamChangedError`.
public final class PostgresEventLog: DecidingEventStore {
    /// How the log runs.
    public struct Configuration: Sendable {
        /// Connections in the pool (the writer holds one at a time, the listener one).
        public var maximumConnections = 10
        /// How long a waiting reader sleeps without a notification before it reads again.
        public var pollInterval: Duration = .seconds(1)
        /// Whether readers are woken by `LISTEN` (off: polling only, for tests of the fallback).
        public var listens = true
        /// How long an operation (an append's transaction, a read) may wait for PostgreSQL
        /// before it fails with code `unavailable`: the last resort against a pool waiting for
        /// a connection forever. A server seen down (the listening connection lost) fails
        /// operations at once instead, until that connection is back.
        public var operationTimeout: Duration = .seconds(10)
        /// The most events one transaction of the writer takes from the waiting callers.
        public var maxBatchEvents = 20_000
        /// Where recorded-at times come from.
        public var clock: @Sendable () -> Timestamp = Timestamp.now
        /// Where the log says what happens to it.
        public var logger = Logger(label: "playhead.postgres-log")

        /// The defaults.
        public init() {}
    }

    /// The channel every commit notifies, with its new head as the payload.
    public static let channel = "playhead_log"

    /// Where the log is (its URL, without the password).
    public let location: PostgresLocation
    let client: PostgresClient
    let configuration: Configuration
    let signal = HeadSignal()
    private let tasks: Mutex<[Task<Void, Never>]>
    private let queue = Mutex(WriteQueue())
    private let writerIdle = HeadSignal()
    /// Whether the listening connection is up; while it is down (and was up once), the server
    /// is taken for unreachable and operations fail at once.
    private let listening = Atomic(true)
    /// The events last committed or read: what this node's followers of the log read next.
    private let recent = Mutex(RecentEvents(capacity: 16_384))
    /// `currentHead()`'s reads, shared by concurrent callers.
    private let headReads = CoalescedRead<LogPosition>()
    /// The operations' time limits.
    private let deadlines = Deadlines()

    /// One caller's append: one request, or a node's row of requests (appended together or
    /// not at all).
    private struct Submission: Sendable {
        var requests: [AppendRequest]
        var unchangedAfter: LogPosition?
        var continuation: CheckedContinuation<[AppendResult], any Error>

        var eventCount: Int { requests.reduce(0) { $0 + $1.events.count } }
    }

    private struct WriteQueue {
        var waiting: [Submission] = []
        var writing = false
        var closed = false
    }

    private init(location: PostgresLocation, client: PostgresClient, configuration: Configuration, runner: Task<Void, Never>) {
        self.location = location
        self.client = client
        self.configuration = configuration
        self.tasks = Mutex([runner])
    }

    /// Connects to the database `location` names, creates or migrates the log's tables, and
    /// starts listening for commits.
    ///
    /// - Throws: `EventLogError` with code `storage` when PostgreSQL cannot be reached or
    ///   refuses, `newerFormat` when its schema is newer than this binary's.
    public static func open(_ location: PostgresLocation, configuration: Configuration = Configuration()) async throws -> PostgresEventLog {
        // One connection first: a server that is down, a refused login or a missing database
        // fails here at once, with PostgreSQL's words (the pool would keep retrying).
        do {
            var probe = location.connection
            probe.options.connectTimeout = .seconds(5)
            let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: configuration.logger)
            try? await connection.close()
        } catch {
            throw Self.storageError(error, "could not connect to the PostgreSQL log at \(location)")
        }
        var clientConfiguration = location.configuration
        clientConfiguration.options.maximumConnections = configuration.maximumConnections
        clientConfiguration.options.connectTimeout = .seconds(5)
        // PostgresNIO logs every failed connection attempt at `info`; while the server is down
        // the log's own errors say so once per failed append instead.
        var background = configuration.logger
        background.logLevel = .error
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: background)
        let runner = Task { await client.run() }
        let log = PostgresEventLog(location: location, client: client, configuration: configuration, runner: runner)
        do {
            _ = try await Schema.migrate(client, logger: configuration.logger)
        } catch {
            runner.cancel()
            await runner.value
            throw Self.storageError(error, "could not open the PostgreSQL log at \(location)")
        }
        if configuration.listens { log.tasks.withLock { $0.append(Task { await log.listen() }) } }
        // The head as of now, so that what this process reads next is not taken for all there is.
        _ = try? await log.currentHead()
        return log
    }

    /// Stops taking appends, waits for the batch being written, and closes the connections.
    /// Later calls fail with code `closed`.
    public func close() async {
        let waiting = queue.withLock { queue in
            queue.closed = true
            defer { queue.waiting = [] }
            return queue.waiting
        }
        for submission in waiting { submission.continuation.resume(throwing: EventLogError(.closed, "the log was closed")) }
        while queue.withLock({ $0.writing }) {
            let generation = writerIdle.generation
            if !queue.withLock({ $0.writing }) { break }
            await writerIdle.wait(after: generation, timeout: .milliseconds(50))
        }
        let tasks = self.tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        // The listener before the pool it holds a connection of.
        for task in tasks.reversed() {
            task.cancel()
            await task.value
        }
        signal.fire()
    }

    // MARK: Appending

    public func append(_ request: AppendRequest) async throws -> AppendResult {
        try await append(request, streamsUnchangedAfter: nil)
    }

    /// Appends `request` only if none of the streams it writes or names in its expectations
    /// has an event after `position` (nil: no such condition). This is how a node appends
    /// what it decided from views that had applied the log up to `position`.
    ///
    /// - Throws: `StreamChangedError` naming the first stream that changed, besides the
    ///   errors of `append(_:)`.
    public func append(_ request: AppendRequest, streamsUnchangedAfter position: LogPosition?) async throws -> AppendResult {
        guard let result = try await submit([request], streamsUnchangedAfter: position).first else {
            throw EventLogError(.storage, "the writer answered an append without its result")
        }
        return result
    }

    /// Appends `requests` in order, all of them or none, only if none of the streams any of
    /// them writes (or names in its expectations) has an event after `position`. This is how
    /// a node appends the commands it decided in a row from views at `position`, each
    /// decision seeing the events of the ones before it.
    ///
    /// - Returns: each request's result, in order.
    /// - Throws: `StreamChangedError` as `append(_:streamsUnchangedAfter:)`;
    ///   `RowRefusedError` when one request would be refused or deduplicated on its own (its
    ///   expected versions, its idempotency key, its recorded-at): the row was decided on a
    ///   state the log does not have, and nothing of it is written.
    public func append(row requests: [AppendRequest], streamsUnchangedAfter position: LogPosition) async throws -> [AppendResult] {
        try await submit(requests, streamsUnchangedAfter: position)
    }

    private func submit(_ requests: [AppendRequest], streamsUnchangedAfter position: LogPosition?) async throws -> [AppendResult] {
        for (index, request) in requests.enumerated() {
            do {
                _ = try request.validate()
                try Self.checkText(request)
            } catch  where requests.count > 1 {
                // One bad request of a row is that command's fault alone.
                throw RowRefusedError(index: index, reason: "\(error)")
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let submission = Submission(requests: requests, unchangedAfter: position, continuation: continuation)
            let start = queue.withLock { queue -> Bool? in
                guard !queue.closed else { return nil }
                queue.waiting.append(submission)
                defer { queue.writing = true }
                return !queue.writing
            }
            switch start {
            case nil: continuation.resume(throwing: EventLogError(.closed, "the log was closed"))
            case true?: Task { await self.writeWaiting() }
            case false?: break
            }
        }
    }

    public func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision) {
        // Nothing is read inside the batch here: a decider that reads state names the
        // streams it read in the request's expectations (or a node appends it with
        // `streamsUnchangedAfter`).
        let (request, decision) = try decide(.outsideBatch)
        guard let request else { return (nil, decision) }
        return (try await append(request), decision)
    }

    /// PostgreSQL's text cannot hold U+0000; a request with one is refused before anything is
    /// written, naming the field.
    private static func checkText(_ request: AppendRequest) throws {
        if let key = request.idempotencyKey, key.utf8.contains(0) {
            throw EventLogError(.invalidRequest, "idempotencyKey must not contain U+0000 in a PostgreSQL log")
        }
        for stream in request.expectations.keys where stream.string.utf8.contains(0) {
            throw EventLogError(.invalidRequest, "expectations: stream ids must not contain U+0000 in a PostgreSQL log")
        }
        for (index, event) in request.events.enumerated() {
            for (name, text) in [("type", event.type), ("stream", event.stream), ("actor", event.actor)] where text.utf8.contains(0) {
                throw EventLogError(.invalidRequest, "events[\(index)].\(name) must not contain U+0000 in a PostgreSQL log")
            }
        }
    }

    /// The writer: while callers wait, takes them (up to `maxBatchEvents`) and writes them in
    /// one transaction.
    private func writeWaiting() async {
        while true {
            let batch = queue.withLock { queue -> [Submission] in
                var events = 0
                var count = 0
                for submission in queue.waiting {
                    if count > 0 && events + submission.eventCount > configuration.maxBatchEvents { break }
                    events += submission.eventCount
                    count += 1
                }
                let batch = Array(queue.waiting.prefix(count))
                queue.waiting.removeFirst(count)
                if batch.isEmpty { queue.writing = false }
                return batch
            }
            guard !batch.isEmpty else {
                writerIdle.fire()
                return
            }
            let results = await write(batch)
            for (submission, result) in zip(batch, results) { submission.continuation.resume(with: result) }
        }
    }

    private func write(_ batch: [Submission]) async -> [Result<[AppendResult], any Error>] {
        let stage = CommitStage()
        do {
            let transaction: @Sendable () async throws -> [Result<[AppendResult], any Error>] = { [self] in
                try await client.withConnection { connection in
                    try await Self.run("BEGIN", on: connection, logger: configuration.logger)
                    do {
                        let (results, head, rows) = try await decideAndInsert(batch, on: connection)
                        // A batch its callers were told failed (the time limit passed) must not
                        // commit later behind their backs.
                        guard stage.startCommit() else { throw EventLogError(.unavailable, "the append was abandoned at its time limit") }
                        try await Self.run(head == nil ? "ROLLBACK" : "COMMIT", on: connection, logger: configuration.logger)
                        if head != nil {
                            recent.withLock { $0.add(rows) }
                            signal.fire()
                        }
                        return results
                    } catch {
                        if !stage.hasStartedCommit { _ = try? await connection.query("ROLLBACK", logger: configuration.logger) }
                        throw error
                    }
                }
            }
            return try await withTimeout("an append", onTimeout: { stage.abandon() }, transaction)
        } catch {
            let failure =
                stage.hasStartedCommit
                ? EventLogError(
                    .unavailable,
                    "PostgreSQL did not confirm the commit (\(Self.describe(error))): the batch may or may not be in the log "
                        + "(a retry with the same idempotency key is safe)"
                )
                : Self.storageError(error, "nothing of the batch was written")
            configuration.logger.error("append failed", metadata: ["error": "\(failure.message)"])
            return batch.map { _ in .failure(failure) }
        }
    }

    private struct StreamRow {
        var version: Int64
        var lastPosition: Int64
    }

    /// Decides every request of the batch in turn and writes the accepted ones, inside the
    /// transaction `connection` has open. Returns each caller's result, and the new head (nil
    /// when nothing was written).
    private func decideAndInsert(
        _ batch: [Submission],
        on connection: PostgresConnection
    ) async throws -> (results: [Result<[AppendResult], any Error>], head: Int64?, rows: [RecordedEvent]) {
        let logger = configuration.logger
        var head: Int64 = 0
        var lastRecorded = Int64.min
        // The lock that orders every append of every node (see the type's documentation).
        for try await (position, recordedAt) in try await connection.query(
            "SELECT position, recorded_at FROM playhead_head WHERE id = 1 FOR UPDATE",
            logger: logger
        ).decode((Int64, Int64).self) {
            head = position
            lastRecorded = recordedAt
        }
        var names = Set<String>()
        for request in batch.flatMap(\.requests) {
            for event in request.events { names.insert(event.stream) }
            for stream in request.expectations.keys { names.insert(stream.string) }
        }
        // The streams' rows and the idempotency keys in one round trip.
        let keys = Array(Set(batch.flatMap(\.requests).compactMap(\.idempotencyKey)))
        var idempotency: [String: ClosedRange<LogPosition>] = [:]
        var streams: [String: StreamRow] = [:]
        for try await (kind, name, first, last) in try await connection.query(
            """
            SELECT 0, stream, version, last_position FROM playhead_streams WHERE stream = ANY(\(Array(names)))
            UNION ALL SELECT 1, key, first_position, last_position FROM playhead_idempotency WHERE key = ANY(\(keys))
            """,
            logger: logger
        ).decode((Int32, String, Int64, Int64).self) {
            if kind == 0 {
                streams[name] = StreamRow(version: first, lastPosition: last)
            } else {
                idempotency[name] = LogPosition(first)...LogPosition(last)
            }
        }

        let now = configuration.clock().microsecondsSince1970
        var state = BatchState(head: head, lastRecorded: lastRecorded, streams: streams, idempotency: idempotency)
        var results: [Result<[AppendResult], any Error>] = []
        for submission in batch {
            guard submission.requests.count > 1 else {
                // One request: decided straight into the batch (`accept` changes nothing
                // when it throws).
                do {
                    let request = submission.requests[0]
                    results.append(.success([try Self.accept(request, unchangedAfter: submission.unchangedAfter, now: now, into: &state)]))
                } catch {
                    results.append(.failure(error))
                }
                continue
            }
            // A row is decided on a copy: taken whole or not at all.
            var trial = state
            do {
                if let decidedAt = submission.unchangedAfter {
                    try Self.checkUnchanged(submission.requests, after: decidedAt, in: trial.streams)
                }
                var accepted: [AppendResult] = []
                for (index, request) in submission.requests.enumerated() {
                    let result: AppendResult
                    do {
                        result = try Self.accept(request, unchangedAfter: nil, now: now, into: &trial)
                    } catch {
                        throw RowRefusedError(index: index, reason: "\(error)")
                    }
                    if result.deduplicated {
                        throw RowRefusedError(index: index, reason: "its idempotency key \(request.idempotencyKey ?? "") is already in the log")
                    }
                    accepted.append(result)
                }
                state = trial
                results.append(.success(accepted))
            } catch {
                results.append(.failure(error))
            }
        }
        guard !state.rows.isEmpty else { return (results, nil, []) }
        let changed = state.changedStreams.map { ($0, state.streams[$0] ?? StreamRow(version: 0, lastPosition: 0)) }
        try await Self.write(
            state.rows,
            streams: changed,
            keys: state.newKeys,
            head: state.head,
            lastRecorded: state.lastRecorded,
            on: connection,
            logger: logger
        )
        return (results, state.head, state.rows)
    }

    /// What a batch has decided so far: the head, the streams' rows and the keys as its
    /// accepted requests left them, and what it writes.
    private struct BatchState {
        var head: Int64
        var lastRecorded: Int64
        var streams: [String: StreamRow]
        var idempotency: [String: ClosedRange<LogPosition>]
        var rows: [RecordedEvent] = []
        var changedStreams = Set<String>()
        var newKeys: [(String, ClosedRange<LogPosition>)] = []
    }

    /// Throws `StreamChangedError` if a stream that `requests` write or name in their
    /// expectations has an event after `decidedAt`.
    private static func checkUnchanged(_ requests: [AppendRequest], after decidedAt: LogPosition, in streams: [String: StreamRow]) throws {
        for request in requests {
            for stream in request.events.map(\.stream) + request.expectations.keys.map(\.string) {
                if let row = streams[stream], LogPosition(row.lastPosition) > decidedAt {
                    throw StreamChangedError(stream: stream, decidedAt: decidedAt, changedAt: LogPosition(row.lastPosition))
                }
            }
        }
    }

    /// Decides `request` against `state` (its idempotency key, expected versions, the
    /// streams unchanged after `unchangedAfter`, recorded-at times) and adds its events; a
    /// request whose key is stored answers the stored positions, deduplicated. Changes
    /// nothing when it throws.
    private static func accept(
        _ request: AppendRequest,
        unchangedAfter: LogPosition?,
        now: Int64,
        into state: inout BatchState
    ) throws -> AppendResult {
        if let key = request.idempotencyKey, let stored = state.idempotency[key] {
            return AppendResult(positions: stored, deduplicated: true)
        }
        for (stream, expected) in request.expectations {
            let actual = UInt64(state.streams[stream.string]?.version ?? 0)
            guard expected.isSatisfied(by: actual) else {
                throw WrongExpectedVersionError(stream: stream.string, expected: expected, actual: actual)
            }
        }
        if let unchangedAfter { try checkUnchanged([request], after: unchangedAfter, in: state.streams) }
        var pending: [String: StreamRow] = [:]
        var accepted: [RecordedEvent] = []
        var recorded = state.lastRecorded
        var position = state.head
        for event in request.events {
            if let kept = event.recordedAt {
                guard kept.microsecondsSince1970 >= recorded else {
                    throw EventLogError(
                        .recordedAtWentBack,
                        "recordedAt \(kept) is earlier than the log's last, \(Timestamp(microsecondsSince1970: recorded))"
                    )
                }
                recorded = kept.microsecondsSince1970
            } else {
                recorded = max(now, recorded)
            }
            position += 1
            let row = pending[event.stream] ?? state.streams[event.stream] ?? StreamRow(version: 0, lastPosition: 0)
            pending[event.stream] = StreamRow(version: row.version + 1, lastPosition: position)
            accepted.append(
                RecordedEvent(
                    event,
                    position: LogPosition(position),
                    streamVersion: UInt64(row.version + 1),
                    recordedAt: Timestamp(microsecondsSince1970: recorded)
                )
            )
        }
        let positions = LogPosition(state.head + 1)...LogPosition(position)
        state.head = position
        state.lastRecorded = recorded
        state.rows += accepted
        for (stream, row) in pending {
            state.streams[stream] = row
            state.changedStreams.insert(stream)
        }
        if let key = request.idempotencyKey {
            state.idempotency[key] = positions
            state.newKeys.append((key, positions))
        }
        return AppendResult(positions: positions, deduplicated: false, recordedAt: Timestamp(microsecondsSince1970: recorded))
    }

    /// Runs `query` and reads its rows to the end. PostgresNIO answers a statement that returns
    /// rows (the write's `SELECT pg_notify`) before it has run, and an error while it runs (a
    /// constraint, a full disk) reaches only a reader of its rows: unread, the transaction
    /// would be aborted unseen and its `COMMIT` answered like a success.
    private static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws {
        for try await _ in try await connection.query(query, logger: logger) {}
    }

    /// The most parameters one statement may bind (the protocol counts them in 16 bits).
    static let maxParameters = 65_535

    /// Writes a decided batch: its events, its streams' new rows, its idempotency keys and
    /// the new head, and notifies the log's channel (delivered at the commit, to every node).
    /// A batch whose parameters fit in one statement is written in one round trip, with
    /// data-modifying `WITH` clauses; a larger one in chunks.
    private static func write(
        _ rows: [RecordedEvent],
        streams: [(String, StreamRow)],
        keys: [(String, ClosedRange<LogPosition>)],
        head: Int64,
        lastRecorded: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        var bindings = PostgresBindings(capacity: rows.count * 11 + streams.count * 3 + keys.count * 3 + 4)
        if rows.count * 11 + streams.count * 3 + keys.count * 3 + 4 <= maxParameters {
            var clauses = ["written_events AS (\(insertEvents(rows[...], binding: &bindings)))"]
            clauses.append("written_streams AS (\(upsertStreams(streams[...], binding: &bindings)))")
            if !keys.isEmpty { clauses.append("written_keys AS (\(insertKeys(keys, binding: &bindings)))") }
            clauses.append("written_head AS (\(updateHead(head, lastRecorded, binding: &bindings)))")
            bindings.append(channel)
            bindings.append(String(head))
            let sql = "WITH " + clauses.joined(separator: ", ") + " SELECT pg_notify($\(bindings.count - 1), $\(bindings.count))"
            try await run(PostgresQuery(unsafeSQL: sql, binds: bindings), on: connection, logger: logger)
            return
        }
        for start in stride(from: 0, to: rows.count, by: 5_000) {
            bindings = PostgresBindings(capacity: 5_000 * 11)
            let sql = insertEvents(rows[start..<min(rows.count, start + 5_000)], binding: &bindings)
            try await run(PostgresQuery(unsafeSQL: sql, binds: bindings), on: connection, logger: logger)
        }
        for start in stride(from: 0, to: streams.count, by: 10_000) {
            bindings = PostgresBindings(capacity: 10_000 * 3)
            let sql = upsertStreams(streams[start..<min(streams.count, start + 10_000)], binding: &bindings)
            try await run(PostgresQuery(unsafeSQL: sql, binds: bindings), on: connection, logger: logger)
        }
        for start in stride(from: 0, to: keys.count, by: 10_000) {
            bindings = PostgresBindings(capacity: 10_000 * 3)
            let sql = insertKeys(Array(keys[start..<min(keys.count, start + 10_000)]), binding: &bindings)
            try await run(PostgresQuery(unsafeSQL: sql, binds: bindings), on: connection, logger: logger)
        }
        bindings = PostgresBindings(capacity: 4)
        let sql = updateHead(head, lastRecorded, binding: &bindings)
        try await run(PostgresQuery(unsafeSQL: sql, binds: bindings), on: connection, logger: logger)
        try await run("SELECT pg_notify(\(channel), \(String(head)))", on: connection, logger: logger)
    }

    /// `VALUES (...), (...)` for rows of `width` parameters, numbered after those already in
    /// `bindings`; `bind` appends one row's values.
    private static func values<Row>(
        _ rows: some Collection<Row>,
        width: Int,
        binding bindings: inout PostgresBindings,
        _ bind: (Row, inout PostgresBindings) -> Void
    ) -> String {
        var sql = "VALUES "
        sql.reserveCapacity(rows.count * width * 8)
        for (offset, row) in rows.enumerated() {
            let base = bindings.count
            if offset > 0 { sql += ", " }
            sql += "("
            for column in 1...width {
                if column > 1 { sql += ", " }
                sql += "$\(base + column)"
            }
            sql += ")"
            bind(row, &bindings)
        }
        return sql
    }

    private static func insertEvents(_ rows: ArraySlice<RecordedEvent>, binding bindings: inout PostgresBindings) -> String {
        "INSERT INTO playhead_events (\(columns)) "
            + values(rows, width: 11, binding: &bindings) { event, bindings in
                bindings.append(Int64(event.position))
                bindings.append(event.stream)
                bindings.append(Int64(event.streamVersion))
                bindings.append(event.type)
                bindings.append(event.recordedAt.microsecondsSince1970)
                bindings.append(event.occurredAt?.microsecondsSince1970)
                bindings.append(event.eventID)
                bindings.append(event.correlationID)
                bindings.append(event.causationID)
                bindings.append(event.actor)
                bindings.append(ByteBuffer(bytes: event.payload))
            }
    }

    private static func upsertStreams(_ streams: ArraySlice<(String, StreamRow)>, binding bindings: inout PostgresBindings) -> String {
        "INSERT INTO playhead_streams (stream, version, last_position) "
            + values(streams, width: 3, binding: &bindings) { stream, bindings in
                bindings.append(stream.0)
                bindings.append(stream.1.version)
                bindings.append(stream.1.lastPosition)
            }
            + " ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, last_position = EXCLUDED.last_position"
    }

    private static func insertKeys(_ keys: [(String, ClosedRange<LogPosition>)], binding bindings: inout PostgresBindings) -> String {
        "INSERT INTO playhead_idempotency (key, first_position, last_position) "
            + values(keys, width: 3, binding: &bindings) { key, bindings in
                bindings.append(key.0)
                bindings.append(Int64(key.1.lowerBound))
                bindings.append(Int64(key.1.upperBound))
            }
    }

    private static func updateHead(_ head: Int64, _ lastRecorded: Int64, binding bindings: inout PostgresBindings) -> String {
        bindings.append(head)
        bindings.append(lastRecorded)
        return "UPDATE playhead_head SET position = $\(bindings.count - 1), recorded_at = $\(bindings.count) WHERE id = 1"
    }

    /// The columns of `playhead_events`, in the order `insert` binds them and `decode` reads them.
    package static let columns =
        "position, stream, stream_version, type, recorded_at, occurred_at, event_id, correlation_id, causation_id, actor, payload"

    // MARK: Reading

    /// The head as read by a query that started after this call (concurrent callers share one).
    public func currentHead() async throws -> LogPosition {
        try await headReads.value { [self] in
            let head = try await headRow().position
            recent.withLock { $0.heard(head: head) }
            return head
        }
    }

    /// The recorded-at time of the log's last event (nil when it is empty): what an import's
    /// times must not go back from.
    public func lastRecordedAt() async throws -> Timestamp? {
        let row = try await headRow()
        return row.position == 0 ? nil : Timestamp(microsecondsSince1970: row.recordedAt)
    }

    /// The row of `playhead_head`: the last position given out and the last recorded-at.
    private func headRow() async throws -> (position: LogPosition, recordedAt: Int64) {
        do {
            return try await withTimeout("a read of the head") { [self] in
                for try await (position, recordedAt) in try await client.query(
                    "SELECT position, recorded_at FROM playhead_head WHERE id = 1",
                    logger: configuration.logger
                ).decode((Int64, Int64).self) {
                    return (LogPosition(position), recordedAt)
                }
                return (0, Int64.min)
            }
        } catch {
            throw Self.storageError(error, "could not read the log's head")
        }
    }

    public func events(from position: LogPosition, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        guard limit > 0 else { return [] }
        // What this node committed or read last comes from memory: the followers of the log
        // (views, analytics, live feed) ask for the same run one after another.
        if direction == .forward, let held = recent.withLock({ $0.events(from: position, limit: limit) }) { return held }
        let start = Int64(clamping: position)
        let query: PostgresQuery =
            switch direction {
            case .forward: "SELECT \(unescaped: Self.columns) FROM playhead_events WHERE position >= \(start) ORDER BY position LIMIT \(limit)"
            case .backward:
                "SELECT \(unescaped: Self.columns) FROM playhead_events WHERE position <= \(start) ORDER BY position DESC LIMIT \(limit)"
            }
        let events = try await read(query)
        if direction == .forward { recent.withLock { $0.add(events) } }
        return events
    }

    public func events(inStream stream: String, from version: UInt64, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        guard limit > 0, !stream.utf8.contains(0) else { return [] }
        let start = Int64(clamping: version)
        let query: PostgresQuery =
            switch direction {
            case .forward:
                "SELECT \(unescaped: Self.columns) FROM playhead_events WHERE stream = \(stream) AND stream_version >= \(start) ORDER BY stream_version LIMIT \(limit)"
            case .backward:
                "SELECT \(unescaped: Self.columns) FROM playhead_events WHERE stream = \(stream) AND stream_version <= \(start) ORDER BY stream_version DESC LIMIT \(limit)"
            }
        return try await read(query)
    }

    public func info(ofStream stream: String) async throws -> StreamInfo {
        guard !stream.utf8.contains(0) else { return StreamInfo(version: 0, lastPosition: nil) }
        do {
            for try await (version, last) in try await client.query(
                "SELECT version, last_position FROM playhead_streams WHERE stream = \(stream)",
                logger: configuration.logger
            ).decode((Int64, Int64).self) {
                return StreamInfo(version: UInt64(version), lastPosition: LogPosition(last))
            }
            return StreamInfo(version: 0, lastPosition: nil)
        } catch {
            throw Self.storageError(error, "could not read the stream \(stream)")
        }
    }

    private func read(_ query: PostgresQuery) async throws -> [RecordedEvent] {
        do {
            return try await withTimeout("a read of the log") { [self] in try await decodeEvents(query) }
        } catch {
            throw Self.storageError(error, "could not read the log")
        }
    }

    private func decodeEvents(_ query: PostgresQuery) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        let rows = try await client.query(query, logger: configuration.logger)
        for try await row in rows.decode((Int64, String, Int64, String, Int64, Int64?, UUID, UUID?, UUID?, String, ByteBuffer).self) {
            events.append(
                RecordedEvent(
                    position: LogPosition(row.0),
                    type: row.3,
                    stream: row.1,
                    streamVersion: UInt64(row.2),
                    recordedAt: Timestamp(microsecondsSince1970: row.4),
                    occurredAt: row.5.map(Timestamp.init(microsecondsSince1970:)),
                    eventID: row.6,
                    correlationID: row.7,
                    causationID: row.8,
                    actor: row.9,
                    payload: Array(buffer: row.10)
                )
            )
        }
        return events
    }

    /// Waits until a commit may have moved the head past `position`: a notification, this
    /// process's own commit, or the poll interval. Returns at once if `generation` (read
    /// before the caller's last read) is already out of date.
    public func waitForCommit(after generation: UInt64) async {
        await signal.wait(after: generation, timeout: configuration.pollInterval)
    }

    /// Read before a read of the log and passed to `waitForCommit(after:)`.
    public var commitGeneration: UInt64 { signal.generation }

    public func subscribe(from position: LogPosition) -> Subscription {
        Subscription(log: self, next: max(position, 1), chunk: 512)
    }

    /// Reads the log from a position in chunks; at the head, waits for the next commit.
    /// Ends when its task is cancelled; a read that fails ends it with that error.
    public struct Subscription: AsyncSequence, Sendable {
        public typealias Element = RecordedEvent
        public typealias Failure = any Error

        let log: PostgresEventLog
        let next: LogPosition
        let chunk: Int

        public func makeAsyncIterator() -> Iterator { Iterator(log: log, next: next, chunk: chunk) }

        /// The iterator.
        public struct Iterator: AsyncIteratorProtocol {
            let log: PostgresEventLog
            var next: LogPosition
            let chunk: Int
            var buffer: [RecordedEvent] = []
            var index = 0

            public mutating func next() async throws -> RecordedEvent? {
                while !Task.isCancelled {
                    if index < buffer.count {
                        defer { index += 1 }
                        next = buffer[index].position + 1
                        return buffer[index]
                    }
                    let generation = log.commitGeneration
                    do {
                        buffer = try await log.events(from: next, direction: .forward, limit: chunk)
                    } catch {
                        // A cancelled read is the subscription's end, not a failure.
                        if Task.isCancelled { return nil }
                        throw error
                    }
                    index = 0
                    if buffer.isEmpty { await log.waitForCommit(after: generation) }
                }
                return nil
            }
        }
    }

    /// Runs `operation`, failing it with code `unavailable` when it takes longer than
    /// `Configuration.operationTimeout`: `onTimeout` runs, the operation is cancelled and left
    /// behind, and the caller is answered at once. (A task group would wait for an operation
    /// that ignores its cancellation, a connection lease of a pool whose server went away, and
    /// hang with it.)
    func withTimeout<T: Sendable>(
        _ what: String,
        onTimeout: @escaping @Sendable () -> Void = {},
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard listening.load(ordering: .relaxed) else {
            throw EventLogError(.unavailable, "PostgreSQL is unreachable (the connection that listens for commits is lost; it is tried every second)")
        }
        let timeout = configuration.operationTimeout
        let answer = OnceAnswer<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                answer.set(continuation)
                let work = Task {
                    do {
                        answer.resume(with: .success(try await operation()))
                    } catch {
                        answer.resume(with: .failure(error))
                    }
                }
                answer.onResume { work.cancel() }
                let limit = deadlines.add(after: timeout) { [self] in
                    onTimeout()
                    work.cancel()
                    let reason =
                        listening.load(ordering: .relaxed)
                        ? "PostgreSQL did not answer \(what) within \(timeout)"
                        : "PostgreSQL is unreachable (the connection that listens for commits is lost; it is tried every second)"
                    answer.resume(with: .failure(EventLogError(.unavailable, reason)))
                }
                answer.onResume { [deadlines] in deadlines.remove(limit) }
            }
        } onCancel: {
            answer.resume(with: .failure(CancellationError()))
        }
    }

    // MARK: Listening

    /// Holds a connection that `LISTEN`s on the log's channel and fires the signal for every
    /// notification; after a failure, connects again a second later (readers poll meanwhile).
    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        listening.store(true, ordering: .relaxed)
                        // Anything committed before LISTEN took effect is read now.
                        signal.fire()
                        for try await notification in notifications {
                            if let head = LogPosition(notification.payload) { recent.withLock { $0.heard(head: head) } }
                            signal.fire()
                        }
                        // The notifications end when the connection does (a server shut down).
                        if !Task.isCancelled { lostServer() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                if Self.isUnavailable(error) { lostServer() }
                configuration.logger.warning("LISTEN failed; readers poll until it is back", metadata: ["error": "\(Self.describe(error))"])
                // Wake the readers, so that they see the failure instead of waiting for a commit.
                signal.fire()
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The listening connection is lost: the server is taken for unreachable. Operations
    /// fail at once from now on, and those already waiting for it are answered now rather
    /// than at their time limits (a shared head read would otherwise hold every command
    /// queued behind it).
    private func lostServer() {
        listening.store(false, ordering: .relaxed)
        deadlines.expireAll()
    }

    // MARK: Errors

    /// `error` as the contract's error: the log's own errors pass through, anything else is a
    /// `storage` error carrying `context` and PostgreSQL's words.
    static func storageError(_ error: any Error, _ context: String) -> EventLogError {
        if let error = error as? EventLogError { return error }
        return EventLogError(isUnavailable(error) ? .unavailable : .storage, "\(context): \(describe(error))")
    }

    /// Whether `error` says the server cannot be reached now rather than that it refused:
    /// a failed or lost connection, or SQLSTATE classes 08 (connection exception) and 57
    /// (operator intervention: a shutdown, a server not yet accepting connections).
    static func isUnavailable(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? PSQLError else {
            return error is ChannelError || error is IOError
        }
        if let state = error.serverInfo?[.sqlState] { return state.hasPrefix("08") || state.hasPrefix("57") }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .queryCancelled: return true
        default: return false
        }
    }

    /// PostgreSQL's message and SQLSTATE for a server error; the kind of failure otherwise.
    static func describe(_ error: any Error) -> String {
        if let error = error as? EventLogError { return error.message }
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "PostgreSQL: \(message)\(state)"
        }
        if let underlying = error.underlying { return "PostgreSQL \(error.code): \(underlying)" }
        return "PostgreSQL \(error.code)"
    }
}

/// Where an append's transaction is: running, committing (its outcome unknown if the answer
/// is lost), or abandoned at its time limit (it must then roll back, never commit).
private final class CommitStage: Sendable {
    private enum Stage { case running, committing, abandoned }
    private let state = Mutex(Stage.running)

    /// Moves to committing; false when the append was abandoned first.
    func startCommit() -> Bool {
        state.withLock { stage in
            guard stage == .running else { return false }
            stage = .committing
            return true
        }
    }

    /// Marks the append abandoned, unless its commit has started.
    func abandon() { state.withLock { if $0 == .running { $0 = .abandoned } } }

    var hasStartedCommit: Bool { state.withLock { $0 == .committing } }
}

/// One answer for a caller that two tasks race to give (an operation and its time limit):
/// the first wins, and what each registered with `onResume` runs once it is given.
private final class OnceAnswer<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var answered = false
        var cleanups: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Runs `cleanup` once the answer is given (at once if it was).
    func onResume(_ cleanup: @escaping @Sendable () -> Void) {
        let answered = state.withLock { state -> Bool in
            if !state.answered { state.cleanups.append(cleanup) }
            return state.answered
        }
        if answered { cleanup() }
    }

    func resume(with result: Result<T, any Error>) {
        let (continuation, cleanups) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) in
            guard !state.answered else { return (nil, []) }
            state.answered = true
            defer {
                state.continuation = nil
                state.cleanups = []
            }
            if state.continuation == nil { state.early = result }
            return (state.continuation, state.cleanups)
        }
        continuation?.resume(with: result)
        for cleanup in cleanups { cleanup() }
    }
}

/// A node's row of requests refused because one of them would be refused (or deduplicated)
/// on its own: the row was decided on a state the log does not have. Nothing of it was
/// written; the node decides its commands again one at a time.
public struct RowRefusedError: Error, CustomStringConvertible {
    /// The request's place in the row.
    public var index: Int
    /// Why it would be refused.
    public var reason: String

    /// Creates the error.
    public init(index: Int, reason: String) {
        self.index = index
        self.reason = reason
    }

    public var description: String { "request \(index) of the row would be refused on its own: \(reason)" }
}

/// A node's append refused because a stream it writes changed after the position of the
/// views it decided from: the node catches up and decides again.
public struct StreamChangedError: Error, Hashable, CustomStringConvertible {
    /// The stream that changed.
    public var stream: String
    /// The position of the views the decision was made from.
    public var decidedAt: LogPosition
    /// The position of the stream's last event.
    public var changedAt: LogPosition

    /// Creates the error.
    public init(stream: String, decidedAt: LogPosition, changedAt: LogPosition) {
        self.stream = stream
        self.decidedAt = decidedAt
        self.changedAt = changedAt
    }

    public var description: String {
        "the stream \(stream) changed at position \(changedAt), after the views the decision read (position \(decidedAt))"
    }
}

extension PostgresEventLog {
    /// What `playhead verify --log` checks, counted by PostgreSQL itself.
    public struct IntegrityReport: Sendable, Hashable {
        /// The head row's position.
        public var head: UInt64
        /// Events stored, and the largest position among them.
        public var events: UInt64
        public var maxPosition: UInt64
        /// Rows of `playhead_streams`.
        public var streams: UInt64
        /// Events whose recorded-at is earlier than the one before them.
        public var recordedAtBackwards: UInt64
        /// Events whose stream version is not their place in their stream.
        public var streamVersionsOutOfOrder: UInt64
        /// Stream rows that disagree with the events (version or last position), or are missing.
        public var streamRowsWrong: UInt64
        /// Idempotency keys naming positions past the head.
        public var keysOutside: UInt64
    }

    /// Counts what `IntegrityReport` lists, in one read-only snapshot.
    public func integrityReport() async throws -> IntegrityReport {
        do {
            return try await client.withConnection { connection in
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: configuration.logger)
                func count(_ sql: String) async throws -> UInt64 {
                    for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: configuration.logger).decode(Int64.self)
                    {
                        return UInt64(max(0, value))
                    }
                    return 0
                }
                let report: IntegrityReport
                do {
                    report = try await counts(count)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: configuration.logger)
                    throw error
                }
                try await connection.query("ROLLBACK", logger: configuration.logger)
                return report
            }
        } catch {
            throw Self.storageError(error, "could not check the log")
        }
    }

    private func counts(_ count: (String) async throws -> UInt64) async throws -> IntegrityReport {
        IntegrityReport(
            head: try await count("SELECT position FROM playhead_head WHERE id = 1"),
            events: try await count("SELECT count(*) FROM playhead_events"),
            maxPosition: try await count("SELECT coalesce(max(position), 0) FROM playhead_events"),
            streams: try await count("SELECT count(*) FROM playhead_streams"),
            recordedAtBackwards: try await count(
                "SELECT count(*) FROM (SELECT recorded_at < lag(recorded_at) OVER (ORDER BY position) AS back FROM playhead_events) t WHERE back"
            ),
            streamVersionsOutOfOrder: try await count(
                """
                SELECT count(*) FROM (SELECT stream_version, row_number() OVER (PARTITION BY stream ORDER BY position) AS place
                FROM playhead_events) t WHERE stream_version <> place
                """
            ),
            streamRowsWrong: try await count(
                """
                SELECT count(*) FROM playhead_streams s
                FULL JOIN (SELECT stream, count(*) AS version, max(position) AS last FROM playhead_events GROUP BY stream) e USING (stream)
                WHERE s.version IS DISTINCT FROM e.version OR s.last_position IS DISTINCT FROM e.last
                """
            ),
            keysOutside: try await count(
                "SELECT count(*) FROM playhead_idempotency WHERE last_position > (SELECT position FROM playhead_head WHERE id = 1) OR first_position < 1"
            )
        )
    }
}
