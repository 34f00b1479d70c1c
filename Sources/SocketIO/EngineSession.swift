import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The transport an Engine.IO session uses.
enum EngineTransport: String, Sendable {
    /// HTTP long-polling: `GET` receives, `POST` sends.
    case polling
    /// One WebSocket connection.
    case websocket
}

/// Why an Engine.IO session ended, in the words Socket.IO's reference server gives a
/// `disconnect` handler.
public enum EngineCloseReason: String, Sendable {
    /// The client closed the transport (a `close` packet, or the WebSocket closed).
    case transportClose = "transport close"
    /// The client did not answer a ping within `pingTimeout`.
    case pingTimeout = "ping timeout"
    /// The client broke the transport's rules (two polls at once, an aborted poll, a bad packet).
    case transportError = "transport error"
    /// The client sent something the server can't read (a malformed or binary packet).
    case parseError = "parse error"
    /// The client stopped reading and too many packets waited for it.
    case tooSlow = "client too slow"
    /// The client sent packets faster than the server handles them, and too many waited.
    case flooding = "client flooding"
    /// The server is shutting down.
    case serverShutdown = "server shutting down"
}

/// One Engine.IO session (docs/engine.io-protocol/v4-current.md): its id, its transport,
/// the packets waiting for the client, the pending poll, and the heartbeat. Every method
/// may be called from any task; state changes happen under one lock.
final class EngineSession: Sendable {
    /// The session id (`sid`).
    let id: String
    /// What the request that opened the session carried.
    let handshake: SocketIOHandshake
    /// The most packets that may wait for a client before it is dropped as too slow.
    static let maxQueuedPackets = 4_096
    /// The most packets one poll answers with; the rest wait for the next poll. The
    /// protocol sets no bound, but python-engineio's client refuses a payload of more than 16
    /// packets (`Payload.max_decode_packets`) and drops the connection.
    static let maxPacketsPerPoll = 16

    private struct State {
        var transport: EngineTransport
        /// Encoded packets waiting for the next poll (polling only).
        var outbox: [String] = []
        /// The pending `GET`, resumed with the packets to answer.
        var poll: CheckedContinuation<[String], Never>?
        /// Whether a `POST` is being read.
        var posting = false
        /// The WebSocket writer's queue, once the session runs over a WebSocket.
        var webSocket: AsyncStream<String>.Continuation?
        /// Frames handed to the WebSocket writer and not yet written.
        var webSocketBacklog = 0
        /// A WebSocket that has answered the upgrade probe and waits for the `upgrade` packet.
        var probing: AsyncStream<String>.Continuation?
        /// Whether a ping is unanswered.
        var awaitingPong = false
        var closed: EngineCloseReason?
        var onClose: [@Sendable (EngineCloseReason) -> Void] = []

        /// Moves what waited for a poll to the WebSocket writer `webSocket`, in order.
        /// The packets one poll answers with: the oldest, at most ``EngineSession/maxPacketsPerPoll``.
        mutating func takePollPayload() -> [String] {
            let count = min(outbox.count, EngineSession.maxPacketsPerPoll)
            let packets = Array(outbox.prefix(count))
            outbox.removeFirst(count)
            return packets
        }

        mutating func flushOutbox(to webSocket: AsyncStream<String>.Continuation) {
            for packet in outbox {
                webSocketBacklog += 1
                webSocket.yield(packet)
            }
            outbox = []
        }
    }

    private let state: Mutex<State>

    init(id: String, transport: EngineTransport, handshake: SocketIOHandshake) {
        self.id = id
        self.handshake = handshake
        self.state = Mutex(State(transport: transport))
    }

    /// The session's current transport.
    var transport: EngineTransport { state.withLock { $0.transport } }

    /// Whether the session has ended.
    var isClosed: Bool { state.withLock { $0.closed != nil } }

    /// Calls `body` once, when the session ends (at once when it has ended already).
    func onClose(_ body: @escaping @Sendable (EngineCloseReason) -> Void) {
        let reason: EngineCloseReason? = state.withLock { state in
            if state.closed == nil { state.onClose.append(body) }
            return state.closed
        }
        if let reason { body(reason) }
    }

    /// Queues `packet` for the client: written to the WebSocket, or kept for the next poll
    /// (answering a pending one at once). A client that lets too many wait is dropped.
    func send(_ packet: EnginePacket) { send(encoded: packet.encoded) }

    /// Queues a packet already encoded (``EnginePacket/encoded``): one encoding for many sessions.
    func send(encoded: String) {
        enum Action {
            case none
            case resume(CheckedContinuation<[String], Never>, [String])
            case tooSlow
        }
        let action: Action = state.withLock { state in
            guard state.closed == nil else { return .none }
            if let webSocket = state.webSocket {
                guard state.webSocketBacklog < Self.maxQueuedPackets else { return .tooSlow }
                state.webSocketBacklog += 1
                webSocket.yield(encoded)
                return .none
            }
            state.outbox.append(encoded)
            if let poll = state.poll {
                state.poll = nil
                return .resume(poll, state.takePollPayload())
            }
            return state.outbox.count > Self.maxQueuedPackets ? .tooSlow : .none
        }
        switch action {
        case .none: break
        case .resume(let poll, let packets): poll.resume(returning: packets)
        case .tooSlow: close(.tooSlow)
        }
    }

    /// One frame was written to the WebSocket.
    /// Packets queued for the client and not yet written (to its WebSocket) or polled.
    var queuedPackets: Int { state.withLock { $0.webSocket != nil ? $0.webSocketBacklog : $0.outbox.count } }

    func webSocketFrameWritten() { state.withLock { $0.webSocketBacklog = max(0, $0.webSocketBacklog - 1) } }

    /// Ends the session: a pending poll gets a `close` packet, the WebSocket writer ends,
    /// and the `onClose` handlers run. Later calls do nothing.
    func close(_ reason: EngineCloseReason) {
        let (handlers, poll, webSocket, probing):
            (
                [@Sendable (EngineCloseReason) -> Void], CheckedContinuation<[String], Never>?, AsyncStream<String>.Continuation?,
                AsyncStream<String>.Continuation?
            ) =
                state.withLock { state in
                    guard state.closed == nil else { return ([], nil, nil, nil) }
                    state.closed = reason
                    let handlers = state.onClose
                    state.onClose = []
                    let poll = state.poll
                    state.poll = nil
                    return (handlers, poll, state.webSocket, state.probing)
                }
        poll?.resume(returning: [EnginePacket(.close).encoded])
        webSocket?.finish()
        probing?.finish()
        for handler in handlers { handler(reason) }
    }

    // MARK: HTTP long-polling

    /// What a poll gets.
    enum PollOutcome {
        /// The packets to answer with.
        case packets([String])
        /// The poll breaks the protocol (another one is pending, or the session runs over a
        /// WebSocket): a 400.
        case refused
    }

    /// Waits for packets for a `GET` (answering at once when some wait). A second poll
    /// while one is pending is refused and ends the session; a poll whose request is
    /// cancelled (the client went away) ends it too.
    func poll() async -> PollOutcome {
        enum Start {
            case ready([String])
            case wait
            case refused
            case upgraded
        }
        let start: Start = state.withLock { state in
            if state.closed != nil { return .ready([EnginePacket(.close).encoded]) }
            // A poll of a session that upgraded is refused, and the session goes on.
            guard state.transport == .polling else { return .upgraded }
            guard state.poll == nil else { return .refused }
            if !state.outbox.isEmpty { return .ready(state.takePollPayload()) }
            return .wait
        }
        switch start {
        case .upgraded:
            return .refused
        case .refused:
            close(.transportError)
            return .refused
        case .ready(let packets):
            return .packets(packets)
        case .wait:
            let packets = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<[String], Never>) in
                    let immediate: [String]? = state.withLock { state in
                        if state.closed != nil { return [EnginePacket(.close).encoded] }
                        if !state.outbox.isEmpty { return state.takePollPayload() }
                        state.poll = continuation
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                self.close(.transportError)
            }
            return .packets(packets)
        }
    }

    /// Marks a `POST` as being read; false (and the session ended) when another one is.
    func beginPost() -> Bool {
        enum Outcome { case allowed, duplicate, upgraded }
        let outcome: Outcome = state.withLock { state in
            guard state.transport == .polling else { return .upgraded }
            guard !state.posting else { return .duplicate }
            state.posting = true
            return .allowed
        }
        if outcome == .duplicate { close(.transportError) }
        return outcome == .allowed
    }

    /// The `POST` is read.
    func endPost() { state.withLock { $0.posting = false } }

    // MARK: WebSocket

    /// Makes the session run over a WebSocket whose writer reads the returned stream (a
    /// WebSocket-only session, from its start).
    func attachWebSocket() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let closed = state.withLock { state in
            state.webSocket = continuation
            state.transport = .websocket
            // What was queued before (the open packet) goes first.
            state.flushOutbox(to: continuation)
            return state.closed != nil
        }
        if closed { continuation.finish() }
        return stream
    }

    /// Whether a new WebSocket may upgrade the session: it runs over long-polling and no
    /// other WebSocket is probing.
    var mayUpgrade: Bool { state.withLock { $0.closed == nil && $0.transport == .polling && $0.probing == nil } }

    /// The upgrade probe (`2probe`) arrived over a new WebSocket: the pending poll ends with
    /// a `noop`, and the WebSocket answers `3probe`. Nil when the session can't upgrade (it
    /// runs over a WebSocket already, or another probe is under way).
    func beginUpgrade() -> AsyncStream<String>? {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let poll: CheckedContinuation<[String], Never>?? = state.withLock { state in
            guard state.closed == nil, state.transport == .polling, state.probing == nil else { return .none }
            state.probing = continuation
            let poll = state.poll
            state.poll = nil
            return .some(poll)
        }
        guard case .some(let pending) = poll else { return nil }
        pending?.resume(returning: [EnginePacket(.noop).encoded])
        continuation.yield(EnginePacket(.pong, "probe").encoded)
        return stream
    }

    /// The `upgrade` packet arrived: the session runs over the probing WebSocket from now on,
    /// and what waited for a poll goes to it.
    func completeUpgrade() -> Bool {
        state.withLock { state in
            guard state.closed == nil, let probing = state.probing else { return false }
            state.probing = nil
            state.webSocket = probing
            state.transport = .websocket
            state.flushOutbox(to: probing)
            return true
        }
    }

    // MARK: Heartbeat

    /// Sends a ping and notes that a pong is due.
    func ping() {
        state.withLock { $0.awaitingPong = true }
        send(EnginePacket(.ping))
    }

    /// Whether the last ping is still unanswered.
    var pingUnanswered: Bool { state.withLock { $0.awaitingPong } }

    /// A pong arrived.
    func pong() { state.withLock { $0.awaitingPong = false } }
}
