import EventLog
import Foundation
import PlayheadCore
import Synchronization
import Views

/// A clock the tests move by hand.
final class ManualClock: Sendable {
    private let time = Mutex(Timestamp(microsecondsSince1970: 1_800_000_000_000_000))

    var now: Timestamp { time.withLock { $0 } }

    func advance(seconds: Int64) { time.withLock { $0 = Timestamp(microsecondsSince1970: $0.microsecondsSince1970 + seconds * 1_000_000) } }
}

/// The application over the in-memory log and views: no LMDB, no directory, no HTTP.
struct Core {
    let log: InMemoryEventStore
    let views: InMemoryViews
    let runner: CommandRunner
    let clock: ManualClock

    /// Runs `body` with a fresh application.
    static func run<T>(_ body: (Core) async throws -> T) async throws -> T {
        let clock = ManualClock()
        let views = InMemoryViews(projectors: PlayheadStore.projectors)
        let log = InMemoryEventStore(clock: { clock.now }, participant: views)
        return try await body(Core(log: log, views: views, runner: CommandRunner(log: log, views: views), clock: clock))
    }

    var userSessions: UserSessionCommands { UserSessionCommands(runner: runner, clock: { [clock] in clock.now }, timeout: .seconds(3_600)) }
    var watchSessions: WatchSessionCommands { WatchSessionCommands(runner: runner) }
    var videoProgress: VideoProgressCommands { VideoProgressCommands(runner: runner, clock: { [clock] in clock.now }) }
    var interactions: InteractionCommands { InteractionCommands(runner: runner) }
    var watchParties: WatchPartyCommands { WatchPartyCommands(runner: runner, clock: { [clock] in clock.now }) }
}
