import EventLog
import Foundation
import PlayheadCore
import SocketIO
import Synchronization
import WatchDomain

/// One socket's replay of a party (`replay_party`): the party's own server events re-emitted
/// to that socket alone, each marked `"replayed": true`, at their original pacing divided by
/// the speed, steered by `replay_control` (pause, resume, seek, speed) until it ends or the
/// socket goes.
///
/// Pacing follows a replay clock in event time: it runs at `speed` event milliseconds per
/// wall millisecond from an anchor, stands still while paused, and is re-anchored by every
/// control. An entry is emitted when the replay clock reaches its event time; the task
/// sleeps until that instant (or until a control wakes it), so lateness is the scheduler's
/// alone.
final class PartyReplayer: Sendable {
    /// The slowest and fastest speeds.
    static let speeds: ClosedRange<Double> = 0.1...10_000
    /// Packets queued for the client above which the replay waits for it to catch up.
    static let backlogLimit = 256

    private struct Clock {
        var speed: Double
        var paused = false
        /// Whether the clock waits for the first entry to set it (a replay from the start).
        var unanchored: Bool
        /// The replay clock's reading at `wall`, in event milliseconds.
        var anchorMillis: Double
        var wall: ContinuousClock.Instant
        /// A seek waiting to be applied by the task: the event time to go on from.
        var seek: Int64?
        /// The event time the clock starts from once the replay's first page is read (a
        /// replay from a point, or a seek): reading it folds the log up to that point, and
        /// the clock must not run meanwhile, or the first entries would all come late.
        var pendingStart: Double?
        /// Bumped by every control, so that a sleeping task wakes and recomputes.
        var generation = 0

        func reading(at now: ContinuousClock.Instant) -> Double {
            guard !paused else { return anchorMillis }
            let elapsed = now - wall
            let millis = Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15
            return anchorMillis + millis * speed
        }

        mutating func reanchor(at now: ContinuousClock.Instant) {
            anchorMillis = reading(at: now)
            wall = now
            generation += 1
        }
    }

    let partyId: UUID
    private let socket: SocketIOSocket
    private let clock: Mutex<Clock>
    private let wake = Mutex<CheckedContinuation<Void, Never>?>(nil)
    /// Opens the replay again from an event time on, for a seek.
    private let open: @Sendable (Int64?) throws -> PartyReplay
    private let first: PartyReplay

    /// `first`, a replay the commands opened (their access rules passed), for `socket` at
    /// `speed`; its window's `fromMillis` is where the clock starts (nil: at the first entry,
    /// at once).
    init(_ first: PartyReplay, socket: SocketIOSocket, speed: Double, open: @escaping @Sendable (Int64?) throws -> PartyReplay) {
        self.partyId = first.party.partyId
        self.socket = socket
        self.open = open
        self.first = first
        let from = first.window.fromMillis
        self.clock = Mutex(
            Clock(speed: speed, unanchored: from == nil, anchorMillis: Double(from ?? 0), wall: .now, pendingStart: from.map(Double.init))
        )
    }

    /// Applies a `replay_control`: `pause`, `resume`, `seek` (to `to`, event seconds) or
    /// `speed` (to `speed`).
    func control(_ action: String, to: Int64?, speed: Double?) throws(CommandError) {
        try clock.withLock { (clock: inout Clock) throws(CommandError) in
            let now = ContinuousClock.now
            switch action {
            case "pause":
                clock.reanchor(at: now)
                clock.paused = true
            case "resume":
                clock.reanchor(at: now)
                clock.paused = false
            case "speed":
                guard let speed else { throw CommandError(.invalid, "speed must be a number", field: "speed") }
                clock.reanchor(at: now)
                clock.speed = speed
            case "seek":
                guard let to else { throw CommandError(.invalid, "to must be a number of seconds from the party's start", field: "to") }
                clock.reanchor(at: now)
                clock.unanchored = false
                clock.anchorMillis = Double(to)
                clock.seek = to
                clock.pendingStart = Double(to)
            default:
                throw CommandError(.invalid, "action must be pause, resume, seek or speed", field: "action")
            }
        }
        signal()
    }

    /// Emits the replay until its end (then `replay_finished`) or until the task is cancelled.
    func run() async {
        var replay = first
        var pending: [PartyRoomState.Told] = []
        do {
            while !Task.isCancelled {
                if let seek = clock.withLock({ clock -> Int64? in
                    defer { clock.seek = nil }
                    return clock.seek
                }) {
                    replay = try open(seek)
                    pending = []
                }
                if pending.isEmpty {
                    guard let page = try replay.next() else { break }
                    let superseded = clock.withLock { clock -> Bool in
                        // A seek that came while the page was read: the page is the old
                        // replay's, and the clock waits for the new one's first page.
                        guard clock.seek == nil else { return true }
                        if let start = clock.pendingStart {
                            clock.pendingStart = nil
                            clock.anchorMillis = start
                            clock.wall = .now
                        }
                        return false
                    }
                    if superseded { continue }
                    pending = page
                    if pending.isEmpty { continue }
                }
                // Go at the client's pace when it takes less than the speed sends (the
                // session would drop it as too slow otherwise).
                if socket.queuedPackets > Self.backlogLimit {
                    await sleep(for: .milliseconds(5), unless: clock.withLock { $0.generation })
                    continue
                }
                let due = Double(pending[0].entry.eventTimeMillis)
                enum Step {
                    case emitted
                    case wait(Duration, generation: Int)
                    case reread
                }
                // Decided and emitted under the lock: a control that changes the clock (a
                // seek above all) comes wholly before an emission or wholly after it.
                let step = clock.withLock { clock -> Step in
                    guard clock.seek == nil else { return .reread }
                    guard !clock.paused else { return .wait(.seconds(3_600), generation: clock.generation) }
                    let now = ContinuousClock.now
                    if clock.unanchored {
                        clock.unanchored = false
                        clock.anchorMillis = due
                        clock.wall = now
                    }
                    let reading = clock.reading(at: now)
                    guard reading >= due else { return .wait(.milliseconds((due - reading) / clock.speed), generation: clock.generation) }
                    for (name, payload) in PartyEvents.events(for: pending.removeFirst(), replayed: true) {
                        socket.emit(name, [payload])
                    }
                    return .emitted
                }
                if case .wait(let duration, let generation) = step { await sleep(for: duration, unless: generation) }
            }
            if !Task.isCancelled {
                socket.emit("replay_finished", [.object([("partyId", .string(partyId.uuidString.lowercased()))])])
            }
        } catch {
            socket.emit("error", [PartyGateway.refusal(error, event: "replay_party")])
        }
    }

    /// Sleeps for `duration`, or until a control changes the clock (its generation moves on
    /// from `generation`) or the task is cancelled.
    private func sleep(for duration: Duration, unless generation: Int) async {
        var sleeper: Task<Void, Never>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                wake.withLock { $0 = continuation }
                // The timer starts once the continuation is stored, so that its signal finds it.
                sleeper = Task {
                    try? await Task.sleep(for: duration)
                    self.signal()
                }
                // A control or a cancellation may have come before the store.
                if Task.isCancelled || clock.withLock({ $0.generation != generation }) { signal() }
            }
        } onCancel: {
            self.signal()
        }
        sleeper?.cancel()
    }

    private func signal() {
        wake.withLock { continuation in
            continuation?.resume()
            continuation = nil
        }
    }
}
