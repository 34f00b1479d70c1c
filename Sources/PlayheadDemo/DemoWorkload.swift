public import EventLog
public import PlayheadCore
import Synchronization
import WatchDomain

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Plausible viewing behaviour for a new store (`playhead demo`, issue 17), sent through the
/// real command path (the same commands the API calls), so every read model, the analytics
/// included, folds it as it would live traffic.
///
/// Over ``Options/days`` days ending with ``Options/lastDay``, each of ``Options/users``
/// users logs in on some days (a user session with heartbeats every 5 minutes), watches one
/// to three of the catalogue's ``catalogue`` videos per visit (popular ones more often),
/// with plays, pauses, seeks forward and back and a drop-off along each video, reports its
/// progress from a phone or a laptop, and likes, saves, shares, rates and completes with a
/// mood. On the last day's evening an administrator's watch party of the longest video runs
/// with tickets, joins, chat and player actions.
///
/// Everything is decided by a pseudo-random generator seeded with ``Options/seed`` and
/// happens in time order on a simulated clock, so the same options give the same behaviour
/// and the same figures (the ids the commands draw are random).
public struct DemoWorkload: Sendable {
    /// What to generate.
    public struct Options: Sendable, Hashable {
        /// Users, `demo-user-001` and on.
        public var users: Int = 40
        /// Days of activity, ending with ``lastDay``.
        public var days: Int = 14
        public var seed: UInt64 = 1
        /// The last day (its midnight, UTC); the watch party is on its evening.
        public var lastDay: Timestamp

        /// Options ending on the UTC day of `lastDay`.
        public init(users: Int = 40, days: Int = 14, seed: UInt64 = 1, lastDay: Timestamp) {
            self.users = users
            self.days = days
            self.seed = seed
            self.lastDay = Timestamp(microsecondsSince1970: lastDay.microsecondsSince1970 / Self.day * Self.day)
        }

        static let day: Int64 = 86_400_000_000
    }

    /// What was generated.
    public struct Summary: Sendable, Hashable {
        public var userSessions = 0
        public var heartbeats = 0
        public var watchSessions = 0
        public var playerEvents = 0
        public var progressReports = 0
        public var interactions = 0
        /// The watch party (finished on the last day's evening) and its log entries.
        public var partyId: UUID?
        public var partyEntries = 0
    }

    /// A video of the catalogue.
    public struct Video: Sendable, Hashable {
        public var id: String
        public var title: String
        public var lengthSeconds: Int
        /// Relative popularity.
        public var weight: Double
        /// How likely a viewer leaves in each minute of it (0 to 1).
        public var leavePerMinute: Double
    }

    /// The catalogue the demo registers.
    public static let catalogue: [Video] = [
        Video(id: "big-buck-bunny", title: "Big Buck Bunny", lengthSeconds: 596, weight: 10, leavePerMinute: 0.05),
        Video(id: "sintel", title: "Sintel", lengthSeconds: 888, weight: 7, leavePerMinute: 0.06),
        Video(id: "tears-of-steel", title: "Tears of Steel", lengthSeconds: 734, weight: 6, leavePerMinute: 0.08),
        Video(id: "elephants-dream", title: "Elephants Dream", lengthSeconds: 654, weight: 4, leavePerMinute: 0.1),
        Video(id: "cosmos-laundromat", title: "Cosmos Laundromat", lengthSeconds: 725, weight: 5, leavePerMinute: 0.07),
        Video(id: "spring", title: "Spring", lengthSeconds: 464, weight: 3, leavePerMinute: 0.06),
        Video(id: "agent-327", title: "Agent 327", lengthSeconds: 231, weight: 3, leavePerMinute: 0.04),
        Video(id: "lecture-swift-concurrency", title: "Swift concurrency, a lecture", lengthSeconds: 3_120, weight: 2, leavePerMinute: 0.05),
    ]

    static let moods = ["happy", "relaxed", "excited", "curious", "bored", "moved"]
    static let chat = [
        "hello everyone!", "the music here", "look at the colours", "haha", "this part!", "wow", "who else is crying",
        "best scene", "the sound design", "again please", "brb", "back", "that ending", "👏👏👏",
    ]

    public let options: Options

    /// A workload with `options`.
    public init(_ options: Options) { self.options = options }

    /// The user ids, in order.
    public var userIds: [String] { Self.userIds(options.users) }

    /// `demo-user-001` to `demo-user-N`.
    static func userIds(_ count: Int) -> [String] {
        (1...max(count, 1)).map { number in
            let digits = String(number)
            return "demo-user-" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
        }
    }

    /// Fills `store` through its commands; `clock` is the simulated clock the store's log was
    /// opened with (``SimulatedClock``). `progress` is called with (done, total) actions.
    ///
    /// - Throws: whatever a command throws (a refusal means the store was not new).
    public func run(
        on store: PlayheadStore,
        clock: SimulatedClock,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> Summary {
        let now: @Sendable () -> Timestamp = { clock.now }
        let runner = CommandRunner(store: store)
        let commands = Commands(
            sessions: UserSessionCommands(runner: runner, clock: now, timeout: .seconds(1_800)),
            watch: WatchSessionCommands(runner: runner),
            progress: VideoProgressCommands(runner: runner, clock: now),
            interactions: InteractionCommands(runner: runner),
            parties: WatchPartyCommands(runner: runner, clock: now)
        )
        var plan = Plan(options: options)
        plan.build()
        let actions = plan.actions.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        let summary = Tally()
        for (index, action) in actions.enumerated() {
            clock.set(Timestamp(microsecondsSince1970: action.time))
            try await action.run(commands, summary)
            if index % 500 == 0 || index == actions.count - 1 { progress(index + 1, actions.count) }
        }
        return summary.withLock { $0 }
    }

    /// The summary, counted as the actions run.
    final class Tally: Sendable {
        private let summary = Mutex(Summary())
        func withLock<T>(_ body: (inout Summary) -> T) -> T { summary.withLock { body(&$0) } }
    }

    /// The commands an action calls.
    struct Commands: Sendable {
        var sessions: UserSessionCommands
        var watch: WatchSessionCommands
        var progress: VideoProgressCommands
        var interactions: InteractionCommands
        var parties: WatchPartyCommands
    }

    /// One command at a simulated time.
    struct Action: Sendable {
        var time: Int64
        var run: @Sendable (Commands, Tally) async throws -> Void
    }

    /// A value an earlier action produces for later ones (a session's id).
    final class Slot<Value: Sendable>: Sendable {
        private let value = Mutex<Value?>(nil)
        func set(_ new: Value) { value.withLock { $0 = new } }
        var current: Value? { value.withLock { $0 } }
    }

    /// The whole workload as actions, decided from the seed.
    struct Plan {
        let options: Options
        var random: SplitMix64
        var actions: [Action] = []
        static let admin = Caller(userId: "demo-admin", isAdmin: true)

        init(options: Options) {
            self.options = options
            random = SplitMix64(seed: options.seed)
        }

        var firstDay: Int64 { options.lastDay.microsecondsSince1970 - Int64(max(options.days, 1) - 1) * Options.day }

        mutating func build() {
            registerCatalogue()
            let users = DemoWorkload.userIds(options.users)
            for day in 0..<max(options.days, 1) {
                let midnight = firstDay + Int64(day) * Options.day
                for (index, user) in users.enumerated() {
                    // Some users come most days, some rarely.
                    let keenness = 0.25 + 0.6 * Double((index * 7919) % 100) / 100
                    guard random.chance(keenness) else { continue }
                    visit(user, at: midnight + random.int(in: 7 * 3_600...23 * 3_600) * 1_000_000, deviceIndex: day + index)
                }
            }
            party(users)
        }

        /// When the party is scheduled: two days before it starts, at 20:00 on the last day.
        var partyScheduled: Int64 { options.lastDay.microsecondsSince1970 + 20 * 3_600_000_000 - 2 * Options.day }

        /// An hour before anything else, the party's scheduling included (which comes before
        /// the first day when the demo has fewer than three days).
        mutating func registerCatalogue() {
            let time = min(firstDay, partyScheduled) - 3_600_000_000
            for video in DemoWorkload.catalogue {
                actions.append(
                    Action(time: time) { commands, _ in
                        _ = try await commands.progress.registerVideo(
                            try VideoID(video.id),
                            durationMillis: UInt64(video.lengthSeconds) * 1_000,
                            title: video.title,
                            completionThreshold: nil,
                            caller: Plan.admin,
                            correlation: UUID()
                        )
                    }
                )
            }
        }

        /// A login, one to three views with their progress and interactions, heartbeats,
        /// and mostly a logout.
        mutating func visit(_ user: String, at start: Int64, deviceIndex: Int) {
            let caller = Caller(userId: user, isAdmin: false)
            let session = Slot<UUID>()
            let phone = deviceIndex % 3 == 0
            actions.append(
                Action(time: start) { commands, summary in
                    let started = try await commands.sessions.start(
                        caller: caller,
                        userAgent: phone ? "DemoPhone/1.0" : "DemoLaptop/1.0",
                        correlation: UUID()
                    )
                    session.set(started.sessionId)
                    summary.withLock { $0.userSessions += 1 }
                }
            )
            var time = start + random.int(in: 5...60) * 1_000_000
            // Watching marks the session as engaged with content (the spec's content engagement).
            actions.append(
                Action(time: time) { commands, _ in
                    guard let id = session.current else { return }
                    try await commands.sessions.setEngaged(true, id, caller: caller, correlation: UUID())
                }
            )
            for _ in 0..<random.int(in: 1...3) {
                time = view(by: caller, session: session, at: time, phone: phone) + random.int(in: 10...300) * 1_000_000
            }
            var beat = start + 300_000_000
            while beat < time {
                actions.append(
                    Action(time: beat) { commands, summary in
                        guard let id = session.current else { return }
                        _ = try await commands.sessions.heartbeat(id, caller: caller, correlation: UUID())
                        summary.withLock { $0.heartbeats += 1 }
                    }
                )
                beat += 300_000_000
            }
            if random.chance(0.7) {
                actions.append(
                    Action(time: time) { commands, _ in
                        guard let id = session.current else { return }
                        _ = try await commands.sessions.end(id, caller: caller, correlation: UUID())
                    }
                )
            }
        }

        /// One view: its player events, recorded as a watch session when it ends, then a
        /// progress report and, sometimes, interactions. Returns when the view ended.
        mutating func view(by caller: Caller, session: Slot<UUID>, at start: Int64, phone: Bool) -> Int64 {
            let video = random.pick(DemoWorkload.catalogue, weight: \.weight)
            let length = Int64(video.lengthSeconds) * 1_000
            var events: [PlayerEvent] = []
            var time = start
            var position: Int64 = 0
            var watched: Int64 = 0
            var ended = false
            func event(_ kind: PlayerEventKind) {
                events.append(PlayerEvent(event: kind, eventTime: Timestamp(microsecondsSince1970: time), videoTimeMillis: UInt64(position)))
            }
            event(.play)
            while true {
                // Watch a stretch, leaving along the way at the video's rate per minute.
                let stretch = min(random.int(in: 20...240) * 1_000, length - position)
                if random.chance(video.leavePerMinute * Double(stretch) / 60_000) {
                    let part = random.int(in: 1...max(stretch, 1))
                    time += part * 1_000
                    position += part
                    watched += part
                    event(.pause)
                    break
                }
                time += stretch * 1_000
                position += stretch
                watched += stretch
                if position >= length {
                    ended = true
                    event(.ended)
                    break
                }
                let roll = random.unit()
                if roll < 0.12 {
                    // Skip ahead.
                    position = min(position + random.int(in: 15...120) * 1_000, length - 1_000)
                    event(.seek)
                } else if roll < 0.2 {
                    // Go back to see something again.
                    position = max(position - random.int(in: 10...60) * 1_000, 0)
                    event(.seek)
                } else if roll < 0.3 {
                    event(.pause)
                    time += random.int(in: 5...180) * 1_000_000
                    event(.play)
                }
            }
            let videoId = video.id
            let playerEvents = events
            let endTime = time
            let finalPosition = position
            let watchedMillis = watched
            actions.append(
                Action(time: endTime) { commands, summary in
                    let draft = WatchSessionDraft(
                        userSessionId: session.current,
                        videoId: try VideoID(videoId),
                        startTime: Timestamp(microsecondsSince1970: start),
                        endTime: Timestamp(microsecondsSince1970: endTime),
                        actualTimeWatchedMillis: UInt64(watchedMillis),
                        percentageWatched: min(100, Double(watchedMillis) * 100 / Double(length)),
                        playerEvents: playerEvents,
                        userMetadata: ClientMetadata(device: phone ? "phone" : "laptop", deviceType: phone ? "mobile" : "desktop")
                    )
                    _ = try await commands.watch.create(draft, caller: caller, correlation: UUID())
                    let report = ProgressReport(
                        videoId: try VideoID(videoId),
                        watchedDuration: try WatchedDuration(seconds: Double(finalPosition) / 1_000),
                        lastWatched: Timestamp(microsecondsSince1970: endTime),
                        videoDurationMillis: UInt64(length)
                    )
                    try await commands.progress.report(
                        report,
                        of: try UserID(caller.userId),
                        source: phone ? .realtime : .update,
                        caller: caller,
                        correlation: UUID()
                    )
                    summary.withLock {
                        $0.watchSessions += 1
                        $0.playerEvents += playerEvents.count
                        $0.progressReports += 1
                    }
                }
            )
            interactions(by: caller, with: videoId, at: endTime + 5_000_000, ended: ended)
            return endTime
        }

        mutating func interactions(by caller: Caller, with videoId: String, at time: Int64, ended: Bool) {
            var chosen: [(InteractionType, Int64?)] = [(.play, nil)]
            if ended { chosen.append((.complete, nil)) }
            if random.chance(ended ? 0.5 : 0.15) { chosen.append((.like, nil)) } else if random.chance(0.08) { chosen.append((.dislike, nil)) }
            if random.chance(0.15) { chosen.append((.save, nil)) }
            if random.chance(0.08) { chosen.append((.share, nil)) }
            if random.chance(0.2) { chosen.append((.rate, random.int(in: ended ? 3...5 : 1...4))) }
            for (offset, (type, value)) in chosen.enumerated() {
                let details = InteractionDetails(
                    interactionValue: value,
                    moodAtInteraction: random.pick(DemoWorkload.moods),
                    moodIntensityAtInteraction: random.int(in: 1...5),
                    contentType: "video"
                )
                actions.append(
                    Action(time: time + Int64(offset) * 1_000_000) { commands, summary in
                        _ = try await commands.interactions.track(
                            userId: try UserID(caller.userId),
                            contentId: try ContentID(videoId),
                            type: type,
                            details: details,
                            caller: caller,
                            correlation: UUID()
                        )
                        summary.withLock { $0.interactions += 1 }
                    }
                )
            }
        }

        /// An administrator's party of the longest film (not the lecture) at 20:00 on the last
        /// day: tickets for up to 12 users, most of whom join around the start and chat; some
        /// leave half way, the others stay to the end.
        mutating func party(_ users: [String]) {
            guard let film = DemoWorkload.catalogue.filter({ $0.lengthSeconds < 3_000 }).max(by: { $0.lengthSeconds < $1.lengthSeconds }) else {
                return
            }
            let start = options.lastDay.microsecondsSince1970 + 20 * 3_600_000_000
            let length = Int64(film.lengthSeconds) * 1_000_000
            let party = Slot<UUID>()
            let ticket = Slot<UUID>()
            let scheduled = partyScheduled
            actions.append(
                Action(time: scheduled) { commands, summary in
                    let created = try await commands.parties.schedule(
                        movieId: try VideoID(film.id),
                        startTime: Timestamp(microsecondsSince1970: start),
                        endTime: Timestamp(microsecondsSince1970: start + length),
                        isFeatured: true,
                        maxParticipants: 50,
                        caller: Plan.admin,
                        correlation: UUID()
                    )
                    party.set(created.partyId)
                    let seat = try await commands.parties.createTicket(
                        TicketDefinition(name: "Seat", price: Price(hundredths: 500, currency: "EUR"), description: nil, isVoucher: false),
                        caller: Plan.admin,
                        correlation: UUID()
                    )
                    ticket.set(seat.ticketId)
                    summary.withLock { $0.partyId = created.partyId }
                }
            )
            let guests = Array(users.prefix(12))
            for (index, user) in guests.enumerated() {
                let caller = Caller(userId: user, isAdmin: false)
                actions.append(
                    Action(time: scheduled + Int64(index + 1) * 3_600_000_000) { commands, _ in
                        guard let partyId = party.current, let ticketId = ticket.current else { return }
                        _ = try await commands.parties.purchase(
                            partyId: partyId,
                            ticketId: ticketId,
                            idempotencyKey: nil,
                            caller: caller,
                            correlation: UUID()
                        )
                    }
                )
            }
            func log(_ user: String, _ type: PartyLogEventType, at time: Int64, message: String? = nil, videoTime: Int64? = nil) {
                actions.append(
                    Action(time: time) { commands, summary in
                        guard let partyId = party.current else { return }
                        let request = WatchPartyDecider.LogRequest(
                            userId: try UserID(user),
                            eventType: type,
                            username: type == .join ? "Viewer " + user.dropFirst("demo-user-".count) : nil,
                            message: message,
                            videoTimeMillis: videoTime.map { UInt64($0) }
                        )
                        _ = try await commands.parties.log(request, in: partyId, caller: Caller(userId: user, isAdmin: false), correlation: UUID())
                        summary.withLock { $0.partyEntries += 1 }
                    }
                )
            }
            // Ten of the ticket holders come, from five minutes before the start; a quarter
            // of them leave half way, the others at the end.
            let attending = guests.prefix(10).filter { _ in random.chance(0.9) }
            var stays: [(user: String, joined: Int64, left: Int64)] = []
            for user in attending {
                let joined = start + random.int(in: -300...240) * 1_000_000
                log(user, .join, at: joined)
                let leftEarly = random.chance(0.25)
                let left = leftEarly ? joined + random.int(in: 300...Int64(film.lengthSeconds) / 2) * 1_000_000 : start + length
                stays.append((user, joined, left))
            }
            var time = start + random.int(in: 10...40) * 1_000_000
            while time < start + length - 10_000_000 {
                let present = stays.filter { $0.joined < time && time < $0.left }
                if !present.isEmpty { log(random.pick(present).user, .message, at: time, message: random.pick(DemoWorkload.chat)) }
                time += random.int(in: 5...60) * 1_000_000
            }
            let pauseAt = length / 3
            if let host = stays.first(where: { $0.joined < start && $0.left > start + pauseAt + 120_000_000 }) {
                // A pause a third of the way in, then play again from a little before.
                log(host.user, .pause, at: start + pauseAt, videoTime: pauseAt / 1_000)
                log(host.user, .seek, at: start + pauseAt + 60_000_000, videoTime: pauseAt / 1_000 - 10_000)
                log(host.user, .play, at: start + pauseAt + 90_000_000, videoTime: pauseAt / 1_000 - 10_000)
            }
            // Those who stay are in the room when it closes at the end: no leave.
            let leaves = stays.filter { $0.left < start + length }.map { ($0.user, $0.left) }
            for (user, time) in leaves { log(user, .leave, at: time) }
        }
    }
}

/// The clock a demo runs on: the store's log and every command read it, and the workload
/// moves it to each action's time.
public final class SimulatedClock: Sendable {
    private let time = Mutex(Timestamp(microsecondsSince1970: 0))

    /// A clock at the epoch until the workload sets it.
    public init() {}

    /// The simulated time.
    public var now: Timestamp { time.withLock { $0 } }

    func set(_ new: Timestamp) { time.withLock { $0 = new } }
}

/// Sebastiano Vigna's SplitMix64: a small, fast, seedable generator whose sequence is the
/// same on every platform (the standard library's generator is not seedable).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    /// A number in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    mutating func int(in range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func int(in range: ClosedRange<Int>) -> Int { Int(int(in: Int64(range.lowerBound)...Int64(range.upperBound))) }

    mutating func pick<T>(_ items: [T]) -> T { items[int(in: 0...(items.count - 1))] }

    mutating func pick<T>(_ items: [T], weight: KeyPath<T, Double>) -> T {
        let total = items.reduce(0) { $0 + $1[keyPath: weight] }
        var roll = unit() * total
        for item in items {
            roll -= item[keyPath: weight]
            if roll < 0 { return item }
        }
        return items[items.count - 1]
    }
}
