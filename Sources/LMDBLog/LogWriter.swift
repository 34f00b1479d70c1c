import CCRC32C
import EventLog
import Foundation
import LMDBKit
import Logging
import Synchronization

/// The named databases of a log environment.
struct LogDatabases: Sendable {
    /// position (8-byte big-endian) -> record.
    var events: LMDBDatabase
    /// stream id -> ``StreamState`` (one row per stream), as of the position stored under
    /// the meta key `streams_through`; the events after it are folded in by whoever reads.
    var streams: LMDBDatabase
    /// (stream, version) -> position, for every ``LMDBEventLog/Configuration/streamCheckpointInterval``-th version.
    var checkpoints: LMDBDatabase
    /// idempotency key -> first position and count of the append that stored it.
    var idempotency: LMDBDatabase
    /// format marker and version, and the layout settings below.
    var meta: LMDBDatabase
    /// Every this many versions a stream's position is indexed (fixed when the log is made).
    var checkpointInterval: UInt64
}

/// A stream's current version and the position of its newest event.
struct StreamState: Equatable {
    var version: UInt64
    var lastPosition: LogPosition

    static let empty = StreamState(version: 0, lastPosition: 0)

    static let encodedSize = 16

    init(version: UInt64, lastPosition: LogPosition) {
        self.version = version
        self.lastPosition = lastPosition
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedSize else { return nil }
        version = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        lastPosition = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    func withEncoded<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        var words = (version.littleEndian, lastPosition.littleEndian)
        return try withUnsafeBytes(of: &words) { try body($0) }
    }

    /// The row stored for `stream` in `streams` (``empty`` when it has none).
    static func stored(_ stream: String, in streams: LMDBDatabase, txn: LMDBTransaction) throws -> StreamState {
        try withUTF8Bytes(stream) { try stored($0, in: streams, txn: txn) }
    }

    /// The row stored for the stream whose id has the UTF-8 bytes `stream` in `streams`
    /// (``empty`` when it has none).
    static func stored(_ stream: UnsafeRawBufferPointer, in streams: LMDBDatabase, txn: LMDBTransaction) throws -> StreamState {
        guard let bytes = try txn.get(stream, in: streams) else { return .empty }
        guard let state = StreamState(bytes) else {
            throw RecordFormatError(position: 0, reason: "the stream row of '\(String(decoding: stream, as: UTF8.self))' is damaged")
        }
        return state
    }
}

/// Keys of the checkpoint database: 2-byte length, stream bytes, 8-byte version, all
/// big-endian, so one stream's checkpoints sort together and by version.
enum CheckpointKey {
    static func withKey<T>(stream: UnsafeRawBufferPointer, version: UInt64, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withUnsafeTemporaryAllocation(byteCount: 2 + stream.count + 8, alignment: 8) { key in
            key.storeBytes(of: UInt16(stream.count).bigEndian, toByteOffset: 0, as: UInt16.self)
            UnsafeMutableRawBufferPointer(rebasing: key[2..<(2 + stream.count)]).copyMemory(from: stream)
            key.storeBytes(of: version.bigEndian, toByteOffset: 2 + stream.count, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(key))
        }
    }
}

/// Makes time-ordered UUIDv7 event ids: 48 bits of milliseconds, then random bits from a
/// fast generator seeded from the system's. Only the writer thread uses it.
struct EventIDGenerator {
    private var state: (UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        state = (system.next() | 1, system.next() | 1)
    }

    private mutating func next() -> UInt64 {
        // xorshift128+
        var s1 = state.0
        let s0 = state.1
        state.0 = s0
        s1 ^= s1 << 23
        state.1 = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26)
        return state.1 &+ s0
    }

    mutating func make(milliseconds: Int64) -> UUID {
        var bytes = makeWords(milliseconds: milliseconds)
        return withUnsafeBytes(of: &bytes) { raw in
            UUID(uuid: raw.loadUnaligned(as: uuid_t.self))
        }
    }

    /// A new id's 16 bytes as two words in memory order (what the record stores).
    @inline(__always)
    mutating func makeWords(milliseconds: Int64) -> (UInt64, UInt64) {
        let ms = UInt64(bitPattern: milliseconds) & 0xFFFF_FFFF_FFFF
        let high = (ms << 16) | 0x7000 | (next() & 0x0FFF)
        let low = (next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return (high.bigEndian, low.bigEndian)
    }
}

/// One commit, as the writer reports it to observers (metrics, benchmarks).
public struct CommitReport: Sendable {
    /// Submissions answered by this commit.
    public var submissions: Int
    /// Events written by it.
    public var events: Int
    /// From the start of the write transaction to the end of the durable commit.
    public var duration: Duration
}

/// A point at which tests make the writer fail, to prove that nothing half-written stays.
enum WriterFault: Sendable {
    case beforeCommit
}

/// The single writer. Runs on its own thread, which begins, fills and commits every write
/// transaction of the log; callers reach it only through the ``SubmissionQueue``.
///
/// It keeps every stream's current version and newest position in memory, and writes the
/// stream rows to the log only every ``LMDBEventLog/Configuration/streamRowFlushInterval``
/// events (and on close), with the position they reflect. Each record carries its stream
/// version and the position of the stream's previous event, so the rows are derivable from
/// the log: a reader or a reopened writer folds the few events after that position. This
/// keeps a commit to the pages of its events instead of one random page per stream.
final class LogWriter: @unchecked Sendable {
    private let environment: LMDBEnvironment
    private let databases: LogDatabases
    private let queue: SubmissionQueue
    private let notifier: HeadNotifier
    private let configuration: LMDBEventLog.Configuration
    private let logger: Logger

    // State below is touched only by the writer thread once `start` has run, so the
    // per-access exclusivity checks on the hot properties are turned off.
    private var head: LogPosition = 0
    private var lastRecordedAt = Int64.min
    /// Every stream the writer has seen, mutated in place during a batch; the batch's undo
    /// list restores it if the commit fails. Keyed by bytes, as the `streams` table is.
    private let streamCache = StreamCache()
    /// The cache slots of the streams whose cached row is newer than the stored one, in the
    /// order they changed.
    @exclusivity(unchecked) private var dirtyStreams: [Int] = []
    private var eventsSinceFlush: UInt64 = 0
    @exclusivity(unchecked) private var batchNumber: UInt64 = 0
    @exclusivity(unchecked) private var idGenerator = EventIDGenerator()
    /// `checkpointInterval - 1` when the interval is a power of two (a mask instead of a
    /// division for every event), nil otherwise.
    private let checkpointMask: UInt64?
    /// The batch's effect before it commits; its lists keep their room from batch to batch.
    @exclusivity(unchecked) private var overlay = Overlay(head: 0, lastRecordedAt: .min, dirtyCountAtStart: 0)

    /// Set by tests before appending; read only by the writer thread.
    nonisolated(unsafe) var faultInjector: (@Sendable (WriterFault) -> Int32?)?

    /// Signalled once the writer thread has left `run` and let go of the writer, so that
    /// releasing the log closes its LMDB environment at once.
    let stopSignal = StopSignal()

    /// Opens the writer on a log whose newest event is `head`, folding the events after
    /// the stored stream rows into its cache.
    init(
        environment: LMDBEnvironment,
        databases: LogDatabases,
        queue: SubmissionQueue,
        notifier: HeadNotifier,
        configuration: LMDBEventLog.Configuration,
        logger: Logger
    ) throws {
        self.environment = environment
        self.databases = databases
        self.queue = queue
        self.notifier = notifier
        self.configuration = configuration
        self.logger = logger
        let interval = databases.checkpointInterval
        checkpointMask = interval & (interval - 1) == 0 ? interval - 1 : nil
        let cache = streamCache
        var recovered: [Int] = []
        var tailCount: UInt64 = 0
        let last = try environment.withReadTransaction { txn in
            let reader = LogReader(txn: txn, databases: databases)
            try reader.visit(from: try reader.streamsThrough() + 1) { record in
                let state = StreamState(version: record.streamVersion, lastPosition: record.position)
                let key = record.streamBytes
                let hash = cache.hash(key)
                if let slot = cache.slot(of: key, hash: hash) {
                    if !cache.entries[slot].dirty { recovered.append(slot) }
                    cache.entries[slot].state = state
                    cache.entries[slot].dirty = true
                } else {
                    recovered.append(cache.insert(key, hash: hash, state: state, batch: 0, dirty: true))
                }
                tailCount += 1
                return true
            }
            return try reader.lastRecord().map { ($0.position, $0.recordedAt.microsecondsSince1970) }
        }
        if let last { (head, lastRecordedAt) = last }
        dirtyStreams = recovered
        eventsSinceFlush = tailCount
    }

    func start() {
        let signal = stopSignal
        // The thread holds the writer only while it runs: the log's release must close the
        // environment, not a thread that is still winding down.
        let thread = Thread { [weak self] in
            self?.run()
            signal.signal()
        }
        thread.name = "playhead-log-writer"
        thread.start()
    }

    /// Blocks until the writer thread has drained the queue and ended (after the queue closed).
    func waitUntilStopped() {
        stopSignal.wait()
    }

    /// Why the participant could not catch up; while set, every submission fails with it
    /// and the catch-up is tried again at `nextCatchUpAttempt`.
    private var participantFailure: EventLogError?
    /// `participantFailure`, for readers on other threads (readiness).
    let catchUpFailure = Mutex<EventLogError?>(nil)
    private var catchUpAttempts = 0
    private var nextCatchUpAttempt = ContinuousClock.now
    /// Clears the reader slots of dead processes every few batches.
    private var readerSweep = StaleReaderSweep()

    /// Catches the participant up with the log. On failure, appends fail until a retry,
    /// after ``LMDBEventLog/Configuration/catchUpRetryInterval`` (doubling up to eight
    /// times it), succeeds.
    private func catchUpParticipant() {
        guard let participant = configuration.participant else { return }
        catchUpAttempts += 1
        do {
            try environment.withReadTransaction { txn in try participant.catchUp(LogReader(txn: txn, databases: databases)) }
            if participantFailure != nil {
                logger.notice("the batch participant caught up; appends work again", metadata: ["attempts": "\(catchUpAttempts)"])
            }
            participantFailure = nil
            catchUpAttempts = 0
            catchUpFailure.withLock { $0 = nil }
        } catch {
            let failure = EventLogError(.storage, "the inline projections could not catch up with the log: \(error)")
            let backoff = configuration.catchUpRetryInterval * (1 << min(catchUpAttempts - 1, 3))
            nextCatchUpAttempt = ContinuousClock.now + backoff
            let metadata: Logger.Metadata = ["error": "\(error)", "attempts": "\(catchUpAttempts)", "retryIn": "\(backoff)"]
            if participantFailure == nil {
                logger.critical("the batch participant could not catch up; appends will fail until a retry succeeds", metadata: metadata)
            } else {
                logger.warning("the batch participant still could not catch up", metadata: metadata)
            }
            participantFailure = failure
            catchUpFailure.withLock { $0 = failure }
        }
    }

    /// How long the writer may wait for a submission before it has something of its own to
    /// do: store the changed stream rows, or retry the participant's catch-up.
    private var idleWork: Duration? {
        var delay: Duration? = dirtyStreams.isEmpty ? nil : configuration.idleFlushDelay
        if participantFailure != nil {
            let untilRetry = max(.zero, nextCatchUpAttempt - ContinuousClock.now)
            delay = min(delay ?? untilRetry, untilRetry)
        }
        return delay
    }

    private func run() {
        catchUpParticipant()
        var previousBatch = 1
        while let batch = queue.takeBatch(gathering: previousBatch, window: configuration.groupCommitWindow, idleAfter: idleWork) {
            if participantFailure != nil && ContinuousClock.now >= nextCatchUpAttempt {
                catchUpParticipant()
            }
            if batch.isEmpty {
                // Quiet for a moment: store the changed stream rows, so that readers and the
                // next open have a short tail to fold, and free the reader slots of dead processes.
                if !dirtyStreams.isEmpty { _ = write([]) }
                environment.clearStaleReaders()
                continue
            }
            previousBatch = batch.count
            let outcomes: [Result<SubmissionOutcome, any Error>] =
                participantFailure.map { failure in batch.map { _ in .failure(failure) } } ?? write(batch)
            for (submission, outcome) in zip(batch, outcomes) {
                submission.continuation.resume(with: outcome)
            }
            readerSweep.afterBatch(environment)
        }
        // Store the stream rows, so that the next open has no tail to fold.
        if !dirtyStreams.isEmpty { _ = write([]) }
    }

    // MARK: One batch

    /// The effect of a batch before it commits. Head and recorded-at become the writer's
    /// only after the commit; stream rows change in the cache at once, and `touched` keeps
    /// each one's committed value, so a failed commit leaves the writer exactly as before.
    private struct Overlay {
        var head: LogPosition
        var lastRecordedAt: Int64
        var dirtyCountAtStart: Int
        /// The cache slots the batch touched, with their committed rows.
        var touched: [(slot: Int, committed: StreamState, wasDirty: Bool)] = []
        /// The stream (by cache slot) and version of each checkpoint to store.
        var checkpoints: [(slot: Int, version: UInt64, position: LogPosition)] = []
        var idempotency: [UTF8Key: ClosedRange<LogPosition>] = [:]

        init(head: LogPosition, lastRecordedAt: Int64, dirtyCountAtStart: Int) {
            self.head = head
            self.lastRecordedAt = lastRecordedAt
            self.dirtyCountAtStart = dirtyCountAtStart
        }

        /// Starts a batch afresh, keeping the lists' room.
        mutating func reset(head: LogPosition, lastRecordedAt: Int64, dirtyCountAtStart: Int) {
            self.head = head
            self.lastRecordedAt = lastRecordedAt
            self.dirtyCountAtStart = dirtyCountAtStart
            touched.removeAll(keepingCapacity: true)
            checkpoints.removeAll(keepingCapacity: true)
            if !idempotency.isEmpty { idempotency.removeAll() }
        }
    }

    /// Writes and commits one batch (an empty batch only flushes the stream rows), answering
    /// each submission with its result.
    private func write(_ batch: [Submission]) -> [Result<SubmissionOutcome, any Error>] {
        // The writer's overlay, moved out (so that its lists stay uniquely referenced and keep their room) and back.
        var overlay = self.overlay
        self.overlay = Overlay(head: 0, lastRecordedAt: .min, dirtyCountAtStart: 0)
        defer { self.overlay = overlay }
        overlay.reset(head: head, lastRecordedAt: lastRecordedAt, dirtyCountAtStart: dirtyStreams.count)
        let participant = batch.isEmpty ? nil : configuration.participant
        var attempts = 0
        while true {
            attempts += 1
            let started = ContinuousClock.now
            do {
                let owner = try environment.beginWriteTransaction()
                let transaction = owner.transaction
                if dirtyStreams.isEmpty && streamCache.count > configuration.streamCacheLimit {
                    // Every row is stored; the cache only saves lookups. Start it afresh.
                    streamCache.removeAll()
                }
                batchNumber += 1
                overlay.reset(head: head, lastRecordedAt: lastRecordedAt, dirtyCountAtStart: dirtyStreams.count)
                try participant?.beginBatch(BatchScope(batch: batchNumber), LogReader(txn: transaction, databases: databases))
                let now = configuration.clock().microsecondsSince1970
                var outcomes: [Result<SubmissionOutcome, any Error>] = []
                outcomes.reserveCapacity(batch.count)
                if !batch.isEmpty {
                    // One cursor for the batch's appends: it stays at the end of the events, so
                    // each append skips the descent from the root that a plain put makes.
                    try transaction.withCursor(databases.events) { cursor in
                        for submission in batch {
                            outcomes.append(try process(submission, now: now, txn: transaction, cursor: cursor, overlay: &overlay))
                        }
                    }
                }
                let appended = overlay.head - head
                let flush =
                    batch.isEmpty || eventsSinceFlush + appended >= configuration.streamRowFlushInterval
                try writeIndexes(overlay, flushingRows: flush, txn: transaction)
                if let code = faultInjector?(.beforeCommit) {
                    throw LMDBError(code: code, operation: "commit (injected)")
                }
                try owner.commit()
                commitSucceeded(overlay, flushed: flush)
                do {
                    try participant?.commitBatch()
                } catch {
                    logger.error("the batch participant failed to commit after the log did", metadata: ["error": "\(error)"])
                }
                // Published after the participant's commit, so that a reader who sees the new
                // head finds the inline views at it too.
                notifier.publish(head)
                configuration.commitObserver?(
                    CommitReport(submissions: batch.count, events: Int(appended), duration: ContinuousClock.now - started)
                )
                return outcomes
            } catch {
                // The write transaction was aborted when its owner went out of scope.
                rollBack(overlay)
                participant?.abortBatch()
                if error is BatchRetryRequest && attempts < BatchRetryRequest.maxAttempts {
                    continue
                }
                if let error = error as? LMDBError, error.isMapFull {
                    do {
                        let (from, to) = try environment.growMap()
                        logger.notice("log map grown", metadata: ["from": "\(from)", "to": "\(to)"])
                        continue
                    } catch {
                        logger.error("could not grow the map", metadata: ["error": "\(error)"])
                        return batch.map { _ in .failure(EventLogError.storage(error)) }
                    }
                }
                logger.error("append batch failed", metadata: ["error": "\(error)", "submissions": "\(batch.count)"])
                let failure: any Error = (error as? LMDBError).map { EventLogError.storage($0, hint: diskFullHint($0)) } ?? error
                return batch.map { _ in .failure(failure) }
            }
        }
    }

    /// LMDB reports a short write at commit as EIO: say so when the log's file system is full.
    private func diskFullHint(_ error: LMDBError) -> String? {
        guard error.code == EIO || error.code == ENOSPC else { return nil }
        var stats = statvfs()
        guard statvfs(environment.path, &stats) == 0 else { return nil }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        guard free < UInt64(configuration.maxBatchBytes) * 2 else { return nil }
        return "the file system holding the log is full (\(free) bytes free)"
    }

    private func commitSucceeded(_ overlay: Overlay, flushed: Bool) {
        eventsSinceFlush += overlay.head - head
        head = overlay.head
        lastRecordedAt = overlay.lastRecordedAt
        if flushed {
            for slot in dirtyStreams { streamCache.entries[slot].dirty = false }
            dirtyStreams.removeAll(keepingCapacity: true)
            eventsSinceFlush = 0
        }
    }

    /// Puts back the committed rows of every stream the failed batch touched.
    private func rollBack(_ overlay: Overlay) {
        for (slot, committed, wasDirty) in overlay.touched {
            streamCache.entries[slot].state = committed
            streamCache.entries[slot].batch = 0
            streamCache.entries[slot].dirty = wasDirty
        }
        dirtyStreams.removeLast(dirtyStreams.count - overlay.dirtyCountAtStart)
    }

    /// Decides (for a decided submission) and writes one submission. A decider's error fails
    /// only its own submission.
    private func process(
        _ submission: Submission,
        now: Int64,
        txn: LMDBTransaction,
        cursor: LMDBCursor,
        overlay: inout Overlay
    ) throws -> Result<SubmissionOutcome, any Error> {
        switch submission.work {
        case .append(let request):
            return try apply(request, now: now, txn: txn, cursor: cursor, overlay: &overlay).map { ($0, nil) }
        case .decide(let decide):
            let request: AppendRequest?
            let decision: any Sendable
            do {
                (request, decision) = try decide(BatchScope(batch: batchNumber))
                if let request { _ = try LMDBEventLog.validate(request) }
            } catch {
                return .failure(error)
            }
            guard let request else { return .success((nil, decision)) }
            return try apply(request, now: now, txn: txn, cursor: cursor, overlay: &overlay).map { ($0, decision) }
        }
    }

    /// Decides and writes one submission. Every check runs before the first write, so a
    /// refused request leaves nothing in the transaction; a storage error throws and
    /// aborts the whole batch.
    private func apply(
        _ request: AppendRequest,
        now: Int64,
        txn: LMDBTransaction,
        cursor: LMDBCursor,
        overlay: inout Overlay
    ) throws -> Result<AppendResult, any Error> {
        if let key = request.idempotencyKey, let positions = try storedIdempotency(key, txn: txn, overlay: overlay) {
            return .success(AppendResult(positions: positions, deduplicated: true))
        }
        for (stream, expected) in request.expectations {
            let slot = try withUTF8Bytes(stream.string) { try cacheSlot(of: $0, txn: txn, overlay: &overlay) }
            let actual = streamCache.entries[slot].state.version
            if !expected.isSatisfied(by: actual) {
                return .failure(WrongExpectedVersionError(stream: stream.string, expected: expected, actual: actual))
            }
        }
        if let failure = recordedAtFailure(request.events, floor: overlay.lastRecordedAt, now: now) {
            return .failure(failure)
        }

        let first = overlay.head + 1
        let participant = configuration.participant
        // The events are read where the request keeps them: no copy of each, no reference
        // counting. They go through a pipeline of groups: while one group is written, the
        // next one's cache rows and the one after's buckets and payloads are fetched into the
        // CPU's cache, so that those misses overlap instead of stalling each event in turn.
        try request.events.withUnsafeBufferPointer { events in
            guard let base = events.baseAddress else { return }
            let count = events.count
            let group = Self.lookupGroup
            let payloadOffset = PayloadPrefetch.offset
            try withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.hashRing) { hashes in
                let ring = Self.hashRing - 1
                // Stage 1: hash the stream ids, fetch their buckets and the payloads.
                func hashGroup(_ start: Int) {
                    for index in start..<min(start + group, count) {
                        let hash = withUTF8Bytes(events[index].stream) { streamCache.hash($0) }
                        hashes[index & ring] = hash
                        streamCache.prefetchBucket(hash)
                        if let payloadOffset { PayloadPrefetch.fetch(UnsafeRawPointer(base + index) + payloadOffset) }
                    }
                }
                // Stage 2: fetch the cache rows the buckets name.
                func fetchGroup(_ start: Int) {
                    for index in start..<min(start + group, count) { streamCache.prefetchEntry(hashes[index & ring]) }
                }
                hashGroup(0)
                if group < count { hashGroup(group) }
                fetchGroup(0)
                var start = 0
                while start < count {
                    if start + 2 * group < count { hashGroup(start + 2 * group) }
                    if start + group < count { fetchGroup(start + group) }
                    for index in start..<min(start + group, count) {
                        try append(
                            base + index,
                            streamHash: hashes[index & ring],
                            now: now,
                            cursor: cursor,
                            txn: txn,
                            participant: participant,
                            overlay: &overlay
                        )
                    }
                    start += group
                }
            }
        }
        let positions = first...overlay.head
        if let key = request.idempotencyKey { overlay.idempotency[UTF8Key(key)] = positions }
        return .success(
            AppendResult(positions: positions, deduplicated: false, recordedAt: Timestamp(microsecondsSince1970: overlay.lastRecordedAt))
        )
    }

    /// Why the explicit recorded-at times of `events` cannot be stored after `floor` (the
    /// last one in the log), nil when they can.
    private func recordedAtFailure(_ events: [ProposedEvent], floor start: Int64, now: Int64) -> EventLogError? {
        events.withUnsafeBufferPointer { events in
            var floor = start
            for index in events.indices {
                guard let recordedAt = events[index].recordedAt else {
                    // The log stamps this one with its clock, which a later explicit time must not precede.
                    floor = max(floor, now)
                    continue
                }
                if recordedAt.microsecondsSince1970 < floor {
                    let event = events[index]
                    return EventLogError(
                        .recordedAtWentBack,
                        "event \(event.eventID.map { "\($0)" } ?? event.type) has recorded-at \(recordedAt), earlier than "
                            + "\(Timestamp(microsecondsSince1970: floor)) already in the log"
                    )
                }
                floor = recordedAt.microsecondsSince1970
            }
            return nil
        }
    }

    /// Events whose stream rows are looked up together (see ``apply(_:now:txn:cursor:overlay:)``).
    private static let lookupGroup = 16
    /// The hashes of three groups in flight, in a ring (a power of two).
    private static let hashRing = 64

    /// Writes one event of a request whose checks passed, at the next position;
    /// `streamHash` is the ``StreamCache/hash(_:)`` of its stream id.
    @inline(__always)
    private func append(
        _ event: UnsafePointer<ProposedEvent>,
        streamHash: Int,
        now: Int64,
        cursor: LMDBCursor,
        txn: LMDBTransaction,
        participant: (any BatchParticipant)?,
        overlay: inout Overlay
    ) throws {
        let position = overlay.head + 1
        let recordedAt = max(event.pointee.recordedAt?.microsecondsSince1970 ?? now, overlay.lastRecordedAt)
        try withUTF8Bytes(event.pointee.stream) { stream in
            let slot = try cacheSlot(of: stream, hash: streamHash, txn: txn, overlay: &overlay)
            let entry = streamCache.entries + slot
            let previous = entry.pointee.state
            let version = previous.version + 1
            let eventID = event.pointee.eventID.map(RecordEncoding.words(of:)) ?? idGenerator.makeWords(milliseconds: recordedAt / 1000)
            let flags = RecordEncoding.flags(of: event)
            // LMDB reserves the record's bytes in its page and the record is encoded there: one copy, not two.
            let room = try cursor.append(position: position, reserving: RecordEncoding.size(of: event, flags: flags, streamCount: stream.count))
            // LMDB fills a leaf page from its end down: the next record goes just below this one.
            if let start = room.baseAddress {
                for line in 1...5 { playhead_prefetch(start - 64 * line) }
            }
            RecordEncoding.encode(
                event,
                flags: flags,
                stream: stream,
                eventID: eventID,
                streamVersion: version,
                previousPosition: previous.lastPosition,
                recordedAt: recordedAt,
                into: room
            )
            if let participant {
                try participant.apply(try EventRecord(justWritten: position, bytes: UnsafeRawBufferPointer(room)).view)
            }
            entry.pointee.state = StreamState(version: version, lastPosition: position)
            if !entry.pointee.dirty {
                entry.pointee.dirty = true
                dirtyStreams.append(slot)
            }
            let checkpointDue = checkpointMask.map { version & $0 == 0 } ?? (version % databases.checkpointInterval == 0)
            if checkpointDue {
                overlay.checkpoints.append((slot, version, position))
            }
        }
        overlay.head = position
        overlay.lastRecordedAt = recordedAt
    }

    /// The cache slot of the stream whose id has the UTF-8 bytes `stream`, loading its
    /// stored row on a miss (a stream missing from the cache is never dirty, so its stored
    /// row is current). The first touch in a batch records the committed row for rollback.
    private func cacheSlot(of stream: UnsafeRawBufferPointer, txn: LMDBTransaction, overlay: inout Overlay) throws -> Int {
        try cacheSlot(of: stream, hash: streamCache.hash(stream), txn: txn, overlay: &overlay)
    }

    /// ``cacheSlot(of:txn:overlay:)`` with the stream id's hash already made.
    @inline(__always)
    private func cacheSlot(of stream: UnsafeRawBufferPointer, hash: Int, txn: LMDBTransaction, overlay: inout Overlay) throws -> Int {
        guard let slot = streamCache.slot(of: stream, hash: hash) else {
            return try loadStream(stream, hash: hash, txn: txn, overlay: &overlay)
        }
        let entry = streamCache.entries + slot
        if entry.pointee.batch != batchNumber {
            overlay.touched.append((slot, entry.pointee.state, entry.pointee.dirty))
            entry.pointee.batch = batchNumber
        }
        return slot
    }

    /// Adds a stream the cache does not have, with its stored row.
    @inline(never)
    private func loadStream(_ stream: UnsafeRawBufferPointer, hash: Int, txn: LMDBTransaction, overlay: inout Overlay) throws -> Int {
        let stored = try StreamState.stored(stream, in: databases.streams, txn: txn)
        let slot = streamCache.insert(stream, hash: hash, state: stored, batch: batchNumber, dirty: false)
        overlay.touched.append((slot, stored, false))
        return slot
    }

    private func storedIdempotency(_ key: String, txn: LMDBTransaction, overlay: Overlay) throws -> ClosedRange<LogPosition>? {
        if let positions = overlay.idempotency[UTF8Key(key)] { return positions }
        return try txn.get(key, in: databases.idempotency).flatMap(IdempotencyValue.decode)
    }

    /// The dirty streams' slots in the byte order of their ids, as the `streams` table sorts
    /// them: a few are sorted; when many of the cached streams are dirty, the cache's kept
    /// order is filtered instead.
    private func dirtySlotsInKeyOrder() -> [Int] {
        let cache = streamCache
        if dirtyStreams.count * 8 < cache.count {
            return dirtyStreams.sorted { cache.precedes($0, $1) }
        }
        return cache.slotsInKeyOrder().filter { cache.entries[$0].dirty }
    }

    /// Writes the batch's checkpoints and idempotency keys and, when `flushingRows`, every
    /// dirty stream row (in key order, through one cursor) with the position they reflect.
    private func writeIndexes(_ overlay: Overlay, flushingRows: Bool, txn: LMDBTransaction) throws {
        if flushingRows && !dirtyStreams.isEmpty {
            try txn.withCursor(databases.streams) { cursor in
                // Sorted for locality of the puts only; any order is correct.
                for slot in dirtySlotsInKeyOrder() {
                    let state = streamCache.entries[slot].state
                    guard state.version > 0 else { continue }
                    try state.withEncoded { try cursor.put(streamCache.key(at: slot), $0) }
                }
            }
        }
        if flushingRows {
            try MetaKey.put(MetaKey.streamsThrough, value: overlay.head, database: databases.meta, txn: txn)
        }
        for checkpoint in overlay.checkpoints {
            try CheckpointKey.withKey(stream: streamCache.key(at: checkpoint.slot), version: checkpoint.version) { key in
                try withUnsafeBytes(of: checkpoint.position.littleEndian) { try txn.put(key, $0, in: databases.checkpoints) }
            }
        }
        for (key, positions) in overlay.idempotency {
            try IdempotencyValue.withEncoded(positions) { try txn.put(key.string, $0, in: databases.idempotency) }
        }
    }
}

/// Fetches an event's payload into the CPU's cache ahead of its copy, without touching the
/// array (no reference counting, no load that would wait for the miss): an `[UInt8]` is one
/// word, the address of its storage, whose elements follow a 32-byte header. A hint only:
/// prefetching a wrong address cannot fault, and where the layout differs nothing is fetched.
enum PayloadPrefetch {
    /// Where `ProposedEvent` keeps its payload's word, nil when an array is not one word.
    static var offset: Int? {
        guard MemoryLayout<[UInt8]>.size == MemoryLayout<UnsafeRawPointer>.size else { return nil }
        return MemoryLayout<ProposedEvent>.offset(of: \.payload)
    }

    /// Fetches the storage whose address is stored at `word`: its header and the first 224
    /// bytes (a 200-byte payload whole).
    @inline(__always)
    static func fetch(_ word: UnsafeRawPointer) {
        guard let storage = word.load(as: UnsafeRawPointer?.self) else { return }
        for line in 0..<4 { playhead_prefetch(storage + 64 * line) }
    }
}

/// A one-shot signal that threads can wait for.
final class StopSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var signalled = false

    func signal() {
        condition.lock()
        signalled = true
        condition.broadcast()
        condition.unlock()
    }

    func wait() {
        condition.lock()
        while !signalled { condition.wait() }
        condition.unlock()
    }
}

/// Values of the idempotency database: first and last position, little-endian.
enum IdempotencyValue {
    static func decode(_ bytes: UnsafeRawBufferPointer) -> ClosedRange<LogPosition>? {
        guard bytes.count == 16 else { return nil }
        let first = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let last = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard first <= last else { return nil }
        return first...last
    }

    static func withEncoded<T>(_ positions: ClosedRange<LogPosition>, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        var words = (positions.lowerBound.littleEndian, positions.upperBound.littleEndian)
        return try withUnsafeBytes(of: &words) { try body($0) }
    }
}

/// Names and values in the meta database.
enum MetaKey {
    /// The format marker: magic bytes and the format version.
    static let format = "format"
    /// Every this many versions a stream's position is indexed (8 bytes).
    static let checkpointInterval = "stream_checkpoint_interval"
    /// The log position the stored stream rows reflect (8 bytes).
    static let streamsThrough = "streams_through"

    static func put(_ name: String, value: UInt64, database: LMDBDatabase, txn: LMDBTransaction) throws {
        try withUnsafeBytes(of: value.littleEndian) { try txn.put(name, $0, in: database) }
    }

    static func get(_ name: String, database: LMDBDatabase, txn: LMDBTransaction) throws -> UInt64? {
        guard let bytes = try txn.get(name, in: database), bytes.count == 8 else { return nil }
        return UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    }
}
