import EventLog
import Foundation
import PlayheadCore
import Projections
import Testing
import WatchDomain

/// The commands without HTTP: each appends through the in-memory log and answers a domain
/// outcome, or refuses with a ``CommandError`` code.
@Suite("Commands")
struct CommandTests {
    let alice = Caller(userId: "alice")
    let bob = Caller(userId: "bob")
    let admin = Caller(userId: "root", isAdmin: true)

    /// The refusal `body` throws.
    func refusal(_ body: () async throws -> Void) async -> CommandError? {
        do {
            try await body()
        } catch let error as CommandError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
        }
        return nil
    }

    @Test("user sessions: start, heartbeat, end; someone else's is not found, a closed one is a conflict")
    func userSessions() async throws {
        try await Core.run { core in
            let commands = core.userSessions
            let started = try await commands.start(caller: alice, userAgent: "agent", correlation: UUID())
            #expect(started.userId == "alice")
            #expect(core.log.head == 1, "the start went through the log")
            #expect(try await commands.heartbeat(started.sessionId, caller: alice, correlation: UUID()) == .active)
            #expect(try commands.activeSessions(of: alice).map(\.sessionId) == [started.sessionId])
            #expect(try commands.activeSessions(of: bob).isEmpty)

            let hidden = await refusal { _ = try await commands.heartbeat(started.sessionId, caller: bob, correlation: UUID()) }
            #expect(hidden?.code == .notFound)
            #expect(try await commands.heartbeat(started.sessionId, caller: admin, correlation: UUID()) == .active, "an administrator may act")

            #expect(try await commands.end(started.sessionId, caller: alice, correlation: UUID()) == .ended)
            let closed = await refusal { try await commands.setEngaged(true, started.sessionId, caller: alice, correlation: UUID()) }
            #expect(closed?.code == .conflict)
            #expect(try await commands.end(started.sessionId, caller: alice, correlation: UUID()) == .alreadyClosed(.ended))
        }
    }

    @Test("watch sessions: create, update, read; only the owner or an administrator sees one")
    func watchSessions() async throws {
        try await Core.run { core in
            let commands = core.watchSessions
            let start = Timestamp(microsecondsSince1970: 1_700_000_000_000_000)
            let id = try await commands.create(WatchSessionDraft(videoId: try VideoID("v"), startTime: start), caller: alice, correlation: UUID())
            try await commands.update(WatchSessionChanges(percentageWatched: 40), of: id, caller: alice, correlation: UUID())
            #expect(try commands.session(id, caller: alice).session.percentageWatched == 40)
            #expect(try commands.session(id, caller: admin).session.userId == "alice")
            #expect(try commands.page(for: alice, limit: 10, offset: 0).total == 1)
            #expect(try commands.page(for: bob, limit: 10, offset: 0).total == 0)

            #expect(await refusal { _ = try commands.session(id, caller: bob) }?.code == .notFound)
            #expect(await refusal { try await commands.delete(id, caller: bob, correlation: UUID()) }?.code == .notFound)
            let listing = await refusal { _ = try commands.page(ofUser: try UserID("alice"), caller: bob, limit: 10, offset: 0) }
            #expect(listing?.code == .forbidden && listing?.field == "userId")
            let invalid = await refusal {
                _ = try await commands.create(
                    WatchSessionDraft(videoId: try VideoID("v"), startTime: start, endTime: Timestamp(microsecondsSince1970: 0)),
                    caller: alice,
                    correlation: UUID()
                )
            }
            #expect(invalid?.code == .invalid && invalid?.field == "endTime")

            try await commands.delete(id, caller: alice, correlation: UUID())
            #expect(await refusal { _ = try commands.session(id, caller: alice) }?.code == .notFound)
        }
    }

    @Test("video progress: a report answers the merged entry, a stale one keeps it; only the owner writes")
    func videoProgress() async throws {
        try await Core.run { core in
            let commands = core.videoProgress
            let video = try await commands.registerVideo(
                try VideoID("v"),
                durationMillis: 100_000,
                title: "V",
                completionThreshold: 0.5,
                caller: admin,
                correlation: UUID()
            )
            #expect(video.completionThreshold == 0.5)
            let now = core.clock.now
            let earlier = Timestamp(microsecondsSince1970: now.microsecondsSince1970 - 60_000_000)
            let first = try await commands.record(
                ProgressReport(videoId: try VideoID("v"), watchedDuration: try WatchedDuration(seconds: 60), lastWatched: now),
                of: try UserID("alice"),
                source: .update,
                caller: alice,
                correlation: UUID()
            )
            #expect(first.entry.watchedDuration == 60 && first.isCompleted && first.video == video)
            let stale = try await commands.record(
                ProgressReport(videoId: try VideoID("v"), watchedDuration: try WatchedDuration(seconds: 5), lastWatched: earlier),
                of: try UserID("alice"),
                source: .update,
                caller: alice,
                correlation: UUID()
            )
            #expect(stale.entry == first.entry, "a stale report answers the merged state")
            #expect(try commands.progress(of: try UserID("alice"), caller: alice).map(\.videoId) == ["v"])

            let forbidden = await refusal {
                try await commands.report(
                    ProgressReport(videoId: try VideoID("v"), watchedDuration: try WatchedDuration(seconds: 1), lastWatched: now),
                    of: try UserID("alice"),
                    source: .realtime,
                    caller: bob,
                    correlation: UUID()
                )
            }
            #expect(forbidden?.code == .forbidden && forbidden?.field == "userId")
            #expect(await refusal { _ = try commands.progress(of: try UserID("alice"), in: try VideoID("v"), caller: bob) }?.code == .forbidden)
            let notAdmin = await refusal {
                _ = try await commands.registerVideo(
                    try VideoID("w"),
                    durationMillis: 1_000,
                    title: nil,
                    completionThreshold: nil,
                    caller: alice,
                    correlation: UUID()
                )
            }
            #expect(notAdmin?.code == .forbidden)

            try await commands.delete(of: try UserID("alice"), in: try VideoID("v"), caller: alice, correlation: UUID())
            #expect(
                await refusal { try await commands.delete(of: try UserID("alice"), in: try VideoID("v"), caller: alice, correlation: UUID()) }?.code
                    == .notFound
            )
        }
    }

    @Test("interactions: a first tracking creates, the next updates; only the owner tracks")
    func interactions() async throws {
        try await Core.run { core in
            let commands = core.interactions
            let first = try await commands.track(
                userId: try UserID("alice"),
                contentId: try ContentID("c"),
                type: .rate,
                details: InteractionDetails(interactionValue: 3),
                caller: alice,
                correlation: UUID()
            )
            #expect(first.created && first.interaction.count == 1)
            let second = try await commands.track(
                userId: try UserID("alice"),
                contentId: try ContentID("c"),
                type: .rate,
                details: InteractionDetails(interactionValue: 9),
                caller: alice,
                correlation: UUID()
            )
            #expect(!second.created && second.interaction.count == 2 && second.interaction.interactionId == first.interaction.interactionId)
            #expect(second.interaction.details.interactionValue == 9)

            let forbidden = await refusal {
                _ = try await commands.track(
                    userId: try UserID("alice"),
                    contentId: try ContentID("c"),
                    type: .like,
                    details: InteractionDetails(),
                    caller: bob,
                    correlation: UUID()
                )
            }
            #expect(forbidden?.code == .forbidden && forbidden?.field == "userId")
            let invalid = await refusal {
                _ = try await commands.track(
                    userId: try UserID("alice"),
                    contentId: try ContentID(""),
                    type: .like,
                    details: InteractionDetails(),
                    caller: alice,
                    correlation: UUID()
                )
            }
            #expect(invalid?.code == .invalid && invalid?.field == "contentId")
            #expect(core.log.head == 2, "refusals append nothing")
        }
    }
}

@Suite("The access policy")
struct AccessPolicyTests {
    let policy = AccessPolicy()

    @Test("owners and administrators; ids compared byte for byte")
    func ownership() throws {
        let precomposed = "jos\u{E9}"
        let decomposed = "jose\u{301}"
        #expect(policy.mayAccess(Caller(userId: precomposed), ownedBy: precomposed))
        #expect(!policy.mayAccess(Caller(userId: decomposed), ownedBy: precomposed))
        #expect(policy.mayAccess(Caller(userId: decomposed, isAdmin: true), ownedBy: precomposed))
        #expect(throws: CommandError.self) { try policy.requireAdministrator(Caller(userId: "alice")) }
        #expect(try policy.requireAdministrator(Caller(userId: "root", isAdmin: true)).userId == "root")
    }

    @Test("refusals carry the code and field the routes answer with")
    func refusals() {
        func refusal(_ body: () throws -> Void) -> CommandError? {
            do {
                try body()
            } catch {
                return error as? CommandError
            }
            return nil
        }
        let alice = Caller(userId: "alice")
        let progress = refusal { try policy.requireProgress(of: UserID("bob"), for: alice) }
        #expect(progress?.code == .forbidden && progress?.field == "userId")
        let own = refusal { try policy.requireProgress(of: UserID("summary"), for: Caller(userId: "summary")) }
        #expect(own == nil, "the policy checks rights; the progress routes' words are the server's to refuse")
        #expect(refusal { try policy.requireInteractions(of: UserID("bob"), for: alice) }?.message == "you may only read your own interactions")
        #expect(refusal { try policy.requireWatchSessions(of: UserID("bob"), for: alice) }?.message == "you may only list your own watch sessions")
        #expect(refusal { try policy.requireWatchSessions(of: UserID(""), for: alice) }?.code == .invalid)
        let id = UUID()
        #expect(refusal { try policy.requireWatchSession(id, ownedBy: "bob", for: alice) }?.code == .notFound)
        #expect(refusal { try policy.requireUserSession(id, ownedBy: nil, for: alice) }?.code == .notFound)
        #expect(refusal { try policy.requireUserSession(id, ownedBy: "alice", for: alice) } == nil)
        #expect(policy.watchSessionList(for: alice) == .user("alice"))
        #expect(policy.watchSessionList(for: Caller(userId: "root", isAdmin: true)) == .all)
    }
}
