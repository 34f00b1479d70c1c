import EventLog
import Foundation

/// What a submission asks the writer to do.
enum SubmissionWork: Sendable {
    /// Append this request.
    case append(AppendRequest)
    /// Decide the request on the writer thread, after the batch's earlier submissions were
    /// applied, and append it (nil: append nothing); the second value goes back to the caller.
    case decide(@Sendable (BatchScope) throws -> (AppendRequest?, any Sendable))
}

/// What the writer answers a submission with: the append's result and, for a decided
/// submission, the decider's value. The result is nil when a decider appended nothing.
typealias SubmissionOutcome = (result: AppendResult?, decision: (any Sendable)?)

/// One caller's append, waiting for the writer.
final class Submission: @unchecked Sendable {
    let work: SubmissionWork
    /// Events it carries (for a decided submission, unknown until decided: counted as 1).
    let eventCount: Int
    let byteCount: Int
    let continuation: CheckedContinuation<SubmissionOutcome, any Error>

    init(work: SubmissionWork, eventCount: Int, byteCount: Int, continuation: CheckedContinuation<SubmissionOutcome, any Error>) {
        self.work = work
        self.eventCount = eventCount
        self.byteCount = byteCount
        self.continuation = continuation
    }
}

/// What to do when a caller submits to a full queue.
public enum OverflowPolicy: Sendable, Hashable {
    /// The caller is suspended until the writer has made room.
    case wait
    /// The caller gets ``EventLogError/Code/overloaded`` at once.
    case reject
}

/// The bounded queue between callers and the writer thread.
///
/// Callers reserve room (count and bytes) before they enqueue; when there is none they
/// either wait, parked as a continuation that the writer resumes as it drains the queue, or
/// are refused. The writer blocks on the condition while the queue is empty and takes
/// everything waiting, up to the batch bounds, in one go.
final class SubmissionQueue: @unchecked Sendable {
    struct Limits: Sendable {
        var capacity: Int
        var byteCapacity: Int
        var batchEvents: Int
        var batchBytes: Int
        var overflow: OverflowPolicy
    }

    private let condition = NSCondition()
    private let limits: Limits
    private var pending: [Submission] = []
    /// How many pending submissions the waiting writer needs before it is worth waking: 1
    /// while it waits for work, the batch it gathers while it waits out the window. Waking
    /// it for every caller of a gathering batch would cost a context switch each.
    private var wakeWriterAt = 1
    private var reservedCount = 0
    private var reservedBytes = 0
    private var spaceWaiters: [(bytes: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    private var closed = false
    private var paused = false

    init(limits: Limits) { self.limits = limits }

    private func hasRoom(for bytes: Int) -> Bool {
        reservedCount == 0 || (reservedCount < limits.capacity && reservedBytes + bytes <= limits.byteCapacity)
    }

    /// Waits for room for a submission of `bytes`, hands it to the writer, and returns the
    /// writer's answer, which comes only after the commit that made the events durable.
    func submit(_ work: SubmissionWork, events: Int, bytes: Int) async throws -> SubmissionOutcome {
        try await reserve(bytes: bytes)
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(Submission(work: work, eventCount: events, byteCount: bytes, continuation: continuation))
        }
    }

    private func enqueue(_ submission: Submission) {
        condition.lock()
        if closed {
            reservedCount -= 1
            reservedBytes -= submission.byteCount
            condition.unlock()
            submission.continuation.resume(throwing: EventLogError(.closed, "the event log is closed"))
            return
        }
        pending.append(submission)
        if pending.count >= wakeWriterAt { condition.signal() }
        condition.unlock()
    }

    private enum Reservation {
        case reserved
        case closed
        case full
    }

    private func reserve(bytes: Int) async throws {
        switch tryReserve(bytes: bytes) {
        case .reserved:
            return
        case .closed:
            throw EventLogError(.closed, "the event log is closed")
        case .full where limits.overflow == .reject:
            throw EventLogError(
                .overloaded,
                "the append queue is full (\(limits.capacity) submissions or \(limits.byteCapacity) bytes); retry later"
            )
        case .full:
            // True once room is reserved for this caller, false when the log closed first.
            let admitted = await withCheckedContinuation { continuation in
                reserveOrPark(bytes: bytes, continuation)
            }
            if !admitted { throw EventLogError(.closed, "the event log is closed") }
        }
    }

    private func tryReserve(bytes: Int) -> Reservation {
        condition.lock()
        defer { condition.unlock() }
        if closed { return .closed }
        guard spaceWaiters.isEmpty && hasRoom(for: bytes) else { return .full }
        reservedCount += 1
        reservedBytes += bytes
        return .reserved
    }

    /// Reserves room if some was made since `tryReserve`, otherwise parks the caller until
    /// the writer makes room (or the queue closes).
    private func reserveOrPark(bytes: Int, _ continuation: CheckedContinuation<Bool, Never>) {
        condition.lock()
        if closed {
            condition.unlock()
            continuation.resume(returning: false)
        } else if spaceWaiters.isEmpty && hasRoom(for: bytes) {
            reservedCount += 1
            reservedBytes += bytes
            condition.unlock()
            continuation.resume(returning: true)
        } else {
            spaceWaiters.append((bytes, continuation))
            condition.unlock()
        }
    }

    /// Blocks the writer thread until there is work, then takes a batch. Returns nil once
    /// the queue is closed and empty.
    ///
    /// With `gathering` above 1 (the size of the previous batch: callers are active), it
    /// waits up to `window` for that many submissions before taking what is there. The
    /// callers a commit has just answered are resubmitting; a moment's wait lets one commit
    /// serve them all instead of splitting them over two fsyncs. A lone caller never waits.
    ///
    /// With `idleAfter`, it returns an empty batch when nothing has arrived for that long, so
    /// the writer can use the quiet moment.
    func takeBatch(gathering: Int = 1, window: Duration = .zero, idleAfter: Duration? = nil) -> [Submission]? {
        condition.lock()
        let idleDeadline = idleAfter.map { Date(timeIntervalSinceNow: $0.seconds) }
        while (pending.isEmpty || paused) && !(closed && pending.isEmpty) {
            if let idleDeadline, !paused {
                if !condition.wait(until: idleDeadline) && pending.isEmpty && !paused && !closed {
                    condition.unlock()
                    return []
                }
            } else {
                condition.wait()
            }
        }
        if gathering > 1 && window > .zero && pending.count < gathering && !closed {
            let deadline = Date(timeIntervalSinceNow: window.seconds)
            wakeWriterAt = gathering
            while pending.count < gathering && !closed && condition.wait(until: deadline) {}
            wakeWriterAt = 1
        }
        if pending.isEmpty {
            condition.unlock()
            return nil
        }
        var events = 0
        var bytes = 0
        var count = 0
        for submission in pending {
            let nextEvents = events + submission.eventCount
            let nextBytes = bytes + submission.byteCount
            if count > 0 && (nextEvents > limits.batchEvents || nextBytes > limits.batchBytes) { break }
            events = nextEvents
            bytes = nextBytes
            count += 1
        }
        let batch = Array(pending.prefix(count))
        pending.removeFirst(count)
        reservedCount -= count
        reservedBytes -= bytes
        var admitted: [CheckedContinuation<Bool, Never>] = []
        while let first = spaceWaiters.first, hasRoom(for: first.bytes) {
            spaceWaiters.removeFirst()
            reservedCount += 1
            reservedBytes += first.bytes
            admitted.append(first.continuation)
        }
        condition.unlock()
        for continuation in admitted { continuation.resume(returning: true) }
        return batch
    }

    /// Refuses new submissions; the writer drains what is queued, then `takeBatch` returns nil.
    func close() {
        condition.lock()
        closed = true
        paused = false
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }

    // MARK: Test hooks

    /// Holds the writer before its next batch (tests use it to make batching deterministic).
    func pause() {
        condition.lock()
        paused = true
        condition.unlock()
    }

    /// Lets the writer go on.
    func resume() {
        condition.lock()
        paused = false
        condition.broadcast()
        condition.unlock()
    }

    /// Submissions queued and waiting for room.
    var depth: (queued: Int, waitingForRoom: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (pending.count, spaceWaiters.count)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    fileprivate var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
