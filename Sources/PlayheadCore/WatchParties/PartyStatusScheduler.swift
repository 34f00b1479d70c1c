import EventLog
public import Logging
public import ServiceLifecycle

/// Appends the watch parties' status transitions (`watch-party.started`,
/// `watch-party.finished`) when the clock reaches them: at once on start (a server that was
/// down when a party started or ended catches up), then every `interval`.
///
/// Each transition is appended exactly once: the decision is made in the log's writer
/// against the party's read model, so a second scheduler (another node, a restart racing
/// the old process) finds it logged and appends nothing. A clock that jumps back delays
/// nothing already logged and logs nothing twice; one that jumps ahead logs what fell due.
/// Reads never wait for it: a party's status is derived from the clock on every read.
public struct PartyStatusScheduler: Service {
    let commands: WatchPartyCommands
    let interval: Duration
    let logger: Logger

    /// A scheduler appending through `commands` (whose clock it reads), checking every `interval`.
    public init(commands: WatchPartyCommands, interval: Duration = .seconds(1), logger: Logger) {
        self.commands = commands
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let appended = try await commands.advanceStatuses()
                if appended > 0 { logger.info("logged watch party status transitions", metadata: ["transitions": "\(appended)"]) }
            } catch {
                logger.error("could not log watch party status transitions", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
