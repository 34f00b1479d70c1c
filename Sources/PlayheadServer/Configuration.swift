public import EventLog
import LMDBLog
public import Logging
import PlayheadCore
public import SocketIO
import Views

/// How `playhead serve` runs.
public struct ServerConfiguration: Sendable {
    /// The address to listen on.
    public var host: String = "127.0.0.1"
    /// The port to listen on (0: any free port).
    public var port: Int = 8080
    /// The HS256 secret that signs and verifies bearer tokens.
    public var jwtSecret: String
    /// How long a user session may go without activity before it expires.
    public var sessionTimeout: Duration = .seconds(3600)
    /// The clock that stamps events and decides expiry (tests inject one).
    public var clock: @Sendable () -> Timestamp = { Timestamp.now() }
    /// How often the server looks for views published by `playhead rebuild`.
    public var viewsPollInterval: Duration = .seconds(1)
    /// How often a quiet progress stream (`GET /progress/stream/:userId`) gets a keep-alive comment.
    public var streamKeepAliveInterval: Duration = .seconds(15)
    /// How often the watch-party scheduler looks for status transitions that fell due.
    public var partySchedulerInterval: Duration = .seconds(1)
    /// How long a graceful shutdown (SIGTERM, SIGINT) waits for requests in flight (a slow
    /// reader of a long response) before it cancels them and stops.
    public var gracefulShutdownLimit: Duration = .seconds(10)
    /// How long a connection may take to send its first request's head (request line and
    /// headers) before it is closed: a connection that sends nothing, or stops half way
    /// through its headers, does not hold a descriptor for ever (Go's `ReadHeaderTimeout`,
    /// nginx's `client_header_timeout`). A graceful shutdown closes such connections at once.
    public var requestHeadTimeout: Duration = .seconds(30)
    /// How long a connection may stay idle between two requests (nothing read, nothing being
    /// answered) before it is closed, as nginx's `keepalive_timeout`. A request being answered
    /// (a long-poll, an event stream, a download) is not idle.
    public var idleConnectionTimeout: Duration = .seconds(75)
    /// Whether this server folds the asynchronous projections (the video and party analytics)
    /// behind its writer. Off, the analytics answer what was folded before and `/ready`
    /// reports the growing lag: for a node that only ingests while another folds, and to
    /// measure what the fold costs the write path (`tools/bench-http --compare-args`).
    public var foldsAsyncProjections = true
    /// The Socket.IO gateway's Engine.IO parameters (ping interval and timeout, largest payload).
    public var socketIO = EngineConfiguration()
    /// How many committed entries a party room may have unread before the live feed drops
    /// it (it then reads what it missed from the log and follows the feed again).
    public var partyRoomFeedCapacity = TopicHub.defaultCapacity
    /// The server's logger.
    public var logger = Logger(label: "playhead.server")

    /// A configuration with `jwtSecret` and the defaults.
    public init(jwtSecret: String) { self.jwtSecret = jwtSecret }
}
