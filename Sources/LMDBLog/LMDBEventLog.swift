public import EventLog
import Foundation
import LMDBKit
public import Logging
import Synchronization

/// The append-only event log, kept in an LMDB environment in one directory.
///
/// One writer thread owns every write transaction and commits in groups: callers
/// ``append(_:)`` concurrently, the writer takes everything waiting (up to the batch
/// bounds), writes it in one transaction and commits once; each caller is answered after the
/// fsync that made its events durable. Reads run on the caller's thread in their own read
/// transactions (``withReader(_:)``) and never wait for the writer.
///
/// Opening a log for writing takes an exclusive lock on `writer.lock` in its directory, so
/// only one process writes it; any number may open it ``OpenMode/readOnly``.
public final class LMDBEventLog: Sendable {
    /// How a log is opened.
    public enum OpenMode: Sendable, Hashable {
        /// Read and append; creates the log when the directory has none.
        case readWrite
        /// Read and append; refuses a directory without a log.
        case readWriteExisting
        /// Read only: no writer, appends are refused; refuses a directory without a log.
        case readOnly
    }

    /// Settings of a log. The defaults suit a server; tests shrink them.
    public struct Configuration: Sendable {
        /// The map size to start with; it grows when full.
        public var initialMapSize: Int = 1 << 30
        /// The most the map grows by at once (it doubles until then).
        public var maxMapGrowth: Int = 8 << 30
        /// Submissions that may wait for the writer before callers wait or are refused.
        public var queueCapacity: Int = 16_384
        /// Bytes of events that may wait for the writer.
        public var queueByteCapacity: Int = 256 << 20
        /// The most events the writer puts in one transaction (a larger single request still goes alone).
        public var maxBatchEvents: Int = 100_000
        /// The most bytes the writer puts in one transaction.
        public var maxBatchBytes: Int = 64 << 20
        /// How long the writer may wait, after a commit that served several callers, for as
        /// many to have submitted again before it takes the next batch (zero: never waits).
        public var groupCommitWindow: Duration = .microseconds(100)
        /// Whether a full queue makes callers wait or refuses them.
        public var overflowPolicy: OverflowPolicy = .wait
        /// Every this many versions a stream's position is indexed; reading a stream walks at
        /// most this many records back along the stream's chain from an indexed one. Fixed
        /// when the log is created: an existing log keeps the interval it was made with.
        public var streamCheckpointInterval: UInt64 = 64
        /// The stream rows are written to the log every this many events (and on close);
        /// readers fold the events after the last write. Larger means fewer pages per commit
        /// and a longer tail to fold for a stream read or a reopen.
        public var streamRowFlushInterval: UInt64 = 65_536
        /// After this long without appends, the writer stores the changed stream rows too.
        public var idleFlushDelay: Duration = .milliseconds(50)
        /// Stream rows the writer keeps in memory before it starts its cache afresh.
        public var streamCacheLimit: Int = 1_000_000
        /// The clock that stamps recorded-at times (tests inject one).
        public var clock: @Sendable () -> Timestamp = { Timestamp.now() }
        /// Takes part in every batch (the inline projections): caught up before the first
        /// batch, shown each record as it is written, committed after the log. See ``BatchParticipant``.
        public var participant: (any BatchParticipant)?
        /// Called on the writer thread after every commit; keep it cheap.
        public var commitObserver: (@Sendable (CommitReport) -> Void)?
        /// Where the log reports map growth and failed batches.
        public var logger = Logger(label: "playhead.eventlog")
        /// When the ``participant`` could not catch up (a full disk, say), how long the
        /// writer waits before it tries again; the wait doubles after each failure, up to
        /// eight times this. Meanwhile every append fails and ``LMDBEventLog/catchUpFailure``
        /// says why.
        public var catchUpRetryInterval: Duration = .seconds(1)

        /// The default configuration.
        public init() {}
    }

    /// The directory holding the log.
    public let directory: String
    /// How it was opened.
    public let mode: OpenMode
    /// The settings it was opened with.
    public let configuration: Configuration

    let environment: LMDBEnvironment
    let databases: LogDatabases
    let notifier: HeadNotifier
    let queue: SubmissionQueue?
    let writer: LogWriter?
    /// The lock on `writer.lock` that makes this the only writing process (nil when read-only).
    private let writerLock: FileLock?

    /// The format version this build writes and the newest it reads.
    public static let formatVersion: UInt32 = 1
    static let formatMagic: [UInt8] = Array("PLAYHEAD-LOG".utf8)

    /// Opens the log in `directory`, creating it when `mode` allows and it has none.
    ///
    /// - Throws: ``EventLogError`` with code ``EventLogError/Code/notALog`` when the directory
    ///   holds something else, ``EventLogError/Code/newerFormat`` when the log was written by a
    ///   newer format, ``EventLogError/Code/storage`` when LMDB cannot open it.
    public init(directory: String, mode: OpenMode = .readWrite, configuration: Configuration = Configuration()) throws {
        let existed = try Self.prepareDirectory(directory, create: mode == .readWrite)
        // The environment first: a second open in this process is refused as such, before
        // the writer lock could blame another process.
        let environment = try Self.openEnvironment(directory, configuration: configuration, readOnly: mode == .readOnly)
        var writerLock: FileLock?
        if mode != .readOnly {
            writerLock = try Self.takeWriterLock(directory)
            environment.clearStaleReaders()
        }
        do {
            let databases = try Self.openDatabases(
                environment,
                existed: existed,
                readOnly: mode == .readOnly,
                requestedCheckpointInterval: configuration.streamCheckpointInterval
            )
            let head = try environment.withReadTransaction { try LogReader(txn: $0, databases: databases).head() }
            self.directory = directory
            self.mode = mode
            self.configuration = configuration
            self.environment = environment
            self.databases = databases
            self.notifier = HeadNotifier(head: head)
            self.writerLock = writerLock
            if mode == .readOnly {
                queue = nil
                writer = nil
            } else {
                let queue = SubmissionQueue(
                    limits: .init(
                        capacity: configuration.queueCapacity,
                        byteCapacity: configuration.queueByteCapacity,
                        batchEvents: configuration.maxBatchEvents,
                        batchBytes: configuration.maxBatchBytes,
                        overflow: configuration.overflowPolicy
                    )
                )
                let writer = try LogWriter(
                    environment: environment,
                    databases: databases,
                    queue: queue,
                    notifier: notifier,
                    configuration: configuration,
                    logger: configuration.logger
                )
                self.queue = queue
                self.writer = writer
                writer.start()
            }
        } catch {
            writerLock?.release()
            throw error
        }
    }

    deinit {
        queue?.close()
        writer?.waitUntilStopped()
        notifier.close()
        releaseWriterLock()
    }

    private func releaseWriterLock() {
        writerLock?.release()
    }

    /// Stops taking appends, waits until everything queued is committed and answered, and
    /// ends subscriptions. Reads keep working until the log is released.
    public func close() async {
        guard let queue, let writer else {
            notifier.close()
            return
        }
        queue.close()
        let stopped = writer.stopSignal
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                stopped.wait()
                continuation.resume()
            }
            thread.start()
        }
        notifier.close()
        releaseWriterLock()
    }

    // MARK: Append

    /// Appends a batch of events atomically and returns their positions once they are durable.
    ///
    /// - Throws: ``WrongExpectedVersionError`` when an expectation fails (nothing written);
    ///   ``EventLogError`` with ``EventLogError/Code/invalidRequest``,
    ///   ``EventLogError/Code/recordedAtWentBack``, ``EventLogError/Code/overloaded``,
    ///   ``EventLogError/Code/storage`` or ``EventLogError/Code/closed``.
    public func append(_ request: AppendRequest) async throws -> AppendResult {
        guard let queue else { throw EventLogError(.closed, "the log at \(directory) is open read-only") }
        let bytes = try Self.validate(request)
        let outcome = try await queue.submit(.append(request), events: request.events.count, bytes: bytes)
        guard let result = outcome.result else { throw EventLogError(.storage, "the writer answered an append without a result") }
        return result
    }

    /// Appends what `decide` returns, deciding it on the writer thread inside the batch: it
    /// sees the state the batch's earlier submissions left in the ``Configuration/participant``
    /// (the inline read models a command handler reads). Answers after the durable commit,
    /// with the append's result and the decider's value. A decider that returns no request
    /// appends nothing; its caller is still answered after the batch's commit (so it never
    /// sees state that is not yet durable), with a nil result.
    ///
    /// - Throws: whatever `decide` throws (nothing is written), and everything
    ///   ``append(_:)`` throws.
    public func append<Decision: Sendable>(
        deciding decide: @escaping @Sendable (BatchScope) throws -> (request: AppendRequest?, decision: Decision)
    ) async throws -> (result: AppendResult?, decision: Decision) {
        guard let queue else { throw EventLogError(.closed, "the log at \(directory) is open read-only") }
        let outcome = try await queue.submit(
            .decide { scope in
                let (request, decision) = try decide(scope)
                return (request, decision)
            },
            events: 1,
            bytes: 1024
        )
        guard let decision = outcome.decision as? Decision else {
            throw EventLogError(.invalidRequest, "the decider's value did not come back as \(Decision.self)")
        }
        return (outcome.result, decision)
    }

    /// Checks a request against ``EventLogLimits``; see ``AppendRequest/validate()``.
    static func validate(_ request: AppendRequest) throws -> Int { try request.validate() }

    // MARK: Opening

    /// Creates the directory if allowed; returns whether it already held a log file.
    private static func prepareDirectory(_ directory: String, create: Bool) throws -> Bool {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if !files.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard create else { throw EventLogError(.notALog, "there is no Playhead log at \(directory)") }
            do {
                try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw EventLogError(.storage, "cannot create the log directory \(directory): \(error)")
            }
            return false
        }
        guard isDirectory.boolValue else { throw EventLogError(.notALog, "\(directory) is a file, not a Playhead log directory") }
        if files.fileExists(atPath: directory + "/data.mdb") { return true }
        let contents = (try? files.contentsOfDirectory(atPath: directory)) ?? []
        let foreign = contents.filter { !["lock.mdb", "writer.lock"].contains($0) }
        guard foreign.isEmpty else {
            throw EventLogError(
                .notALog,
                "\(directory) is not a Playhead log: it holds \(foreign.sorted().prefix(3).joined(separator: ", ")) and no data.mdb"
            )
        }
        guard create else { throw EventLogError(.notALog, "there is no Playhead log at \(directory)") }
        return false
    }

    private static func openEnvironment(_ directory: String, configuration: Configuration, readOnly: Bool) throws -> LMDBEnvironment {
        do {
            return try LMDBEnvironment(
                path: directory,
                mapSize: configuration.initialMapSize,
                maxReaders: 1024,
                maxDatabases: 8,
                options: readOnly ? .readOnly : [],
                growth: MapGrowthPolicy(maximumStep: configuration.maxMapGrowth)
            )
        } catch {
            if error.code == LMDBEnvironment.alreadyOpenCode {
                throw EventLogError(.alreadyOpen, "the log at \(directory) is already open in this process; share that LMDBEventLog")
            }
            if error.isDamage {
                throw EventLogError(.damaged, "the log at \(directory) is damaged: \(error.detail ?? "\(error)")")
            }
            if error.isNotAnEnvironment {
                throw EventLogError(.notALog, "\(directory) is not a Playhead log: its data.mdb is not an LMDB file this build reads (\(error))")
            }
            throw EventLogError(.storage, "cannot open the log at \(directory): \(error)")
        }
    }

    /// Whether a process (this one included) has the log in `directory` open for writing.
    public static func hasWriter(directory: String) -> Bool {
        FileLock.isHeld(path: directory + "/writer.lock")
    }

    private static func takeWriterLock(_ directory: String) throws -> FileLock {
        let path = directory + "/writer.lock"
        do {
            return try FileLock(path: path)
        } catch .cannotOpen(let reason) {
            throw EventLogError(.storage, "cannot open \(path): \(reason)")
        } catch .held {
            throw EventLogError(.storage, "another process has the log at \(directory) open for writing")
        }
    }

    private static func openDatabases(
        _ environment: LMDBEnvironment,
        existed: Bool,
        readOnly: Bool,
        requestedCheckpointInterval: UInt64
    ) throws -> LogDatabases {
        try environment.withTransaction(readOnly: readOnly) { txn in
            let meta: LMDBDatabase
            do throws(LMDBError) {
                meta = try txn.openDatabase("meta", create: !existed)
            } catch {
                if error.isNotFound || error.isIncompatible {
                    throw EventLogError(.notALog, "\(environment.path) holds an LMDB database that is not a Playhead log (no meta table)")
                }
                throw EventLogError.storage(error)
            }
            let checkpointInterval: UInt64
            if existed {
                try checkFormat(environment.path, meta: meta, txn: txn)
                guard let stored = try MetaKey.get(MetaKey.checkpointInterval, database: meta, txn: txn) else {
                    throw EventLogError(.notALog, "\(environment.path) is not a Playhead log: it has no stream checkpoint interval")
                }
                checkpointInterval = max(1, stored)
            } else {
                checkpointInterval = max(1, requestedCheckpointInterval)
                var marker = formatMagic
                withUnsafeBytes(of: formatVersion.littleEndian) { marker.append(contentsOf: $0) }
                try marker.withUnsafeBytes { try txn.put(MetaKey.format, $0, in: meta) }
                try MetaKey.put(MetaKey.checkpointInterval, value: checkpointInterval, database: meta, txn: txn)
            }
            // Handles opened in a committed transaction stay valid for the environment's life.
            return LogDatabases(
                events: try txn.openDatabase("events", create: !existed),
                streams: try txn.openDatabase("streams", create: !existed),
                checkpoints: try txn.openDatabase("stream_checkpoints", create: !existed),
                idempotency: try txn.openDatabase("idempotency", create: !existed),
                meta: meta,
                checkpointInterval: checkpointInterval
            )
        }
    }

    private static func checkFormat(_ path: String, meta: LMDBDatabase, txn: LMDBTransaction) throws {
        guard let bytes = try txn.get(MetaKey.format, in: meta).map(Array.init) else {
            throw EventLogError(.notALog, "\(path) is not a Playhead log: it has no format marker")
        }
        guard bytes.count == formatMagic.count + 4, Array(bytes.prefix(formatMagic.count)) == formatMagic else {
            throw EventLogError(.notALog, "\(path) is not a Playhead log: its format marker is unknown")
        }
        let version = bytes.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard version <= formatVersion else {
            throw EventLogError(
                .newerFormat,
                "\(path) was written in log format \(version) by a newer Playhead; this build reads format \(formatVersion) and older"
            )
        }
    }

    // MARK: Reading

    /// Runs `body` with a reader over one consistent snapshot of the log. Records the reader
    /// hands out point into the memory map and are valid only inside `body`. Do not start
    /// another read or append from inside `body`.
    public func withReader<T>(_ body: (LogReader) throws -> T) throws -> T {
        try environment.withReadTransaction { txn in
            try body(LogReader(txn: txn, databases: databases))
        }
    }

    /// Why the ``Configuration/participant`` (the inline projections) is not caught up with
    /// the log, while it is not: the writer retries the catch-up every
    /// ``Configuration/catchUpRetryInterval`` or so and refuses appends meanwhile. Nil when
    /// it is caught up, has none, or the log is read-only.
    public var catchUpFailure: EventLogError? {
        writer?.catchUpFailure.withLock { $0 }
    }

    /// The position of the newest committed event (0 when the log is empty).
    public var head: LogPosition {
        get throws {
            if writer != nil { return notifier.head }
            return try withReader { try $0.head() }
        }
    }
}
