import EventLog
import Foundation
import PlayheadCore
import Projections
import Testing
import WatchDomain

/// ``PartyReplay`` and ``WatchPartyCommands/replay(of:window:caller:)``: who may replay when,
/// and which entries a window keeps, told as the room told them.
@Suite("Party replay")
struct PartyReplayTests {
    let admin = Caller(userId: "root", isAdmin: true)
    let alice = Caller(userId: "alice")
    let bob = Caller(userId: "bob")

    /// A party from 60 s to 1 h from now of a 10-minute film; alice holds a ticket; alice and
    /// the admin fill its log: alice joins in the lobby, the film starts, she chats, pauses at
    /// 100 s, seeks back to 40 s, plays, chats, root joins and leaves.
    func party(_ core: Core) async throws -> WatchParty {
        let commands = core.watchParties
        _ = try await core.videoProgress.registerVideo(
            try VideoID("film"),
            durationMillis: 600_000,
            title: nil,
            completionThreshold: nil,
            caller: admin,
            correlation: UUID()
        )
        let now = core.clock.now.microsecondsSince1970
        let party = try await commands.schedule(
            movieId: try VideoID("film"),
            startTime: Timestamp(microsecondsSince1970: now + 60_000_000),
            endTime: Timestamp(microsecondsSince1970: now + 3_600_000_000),
            isFeatured: false,
            maxParticipants: 10,
            caller: admin,
            correlation: UUID()
        )
        let ticket = try await commands.createTicket(
            TicketDefinition(name: "Seat", price: Price(hundredths: 100, currency: "EUR"), description: nil, isVoucher: false),
            caller: admin,
            correlation: UUID()
        )
        _ = try await commands.purchase(partyId: party.partyId, ticketId: ticket.ticketId, idempotencyKey: nil, caller: alice, correlation: UUID())
        func log(_ type: PartyLogEventType, as caller: Caller, message: String? = nil, videoTime: UInt64? = nil, username: String? = nil) async throws
        {
            _ = try await commands.log(
                .init(userId: try UserID(caller.userId), eventType: type, username: username, message: message, videoTimeMillis: videoTime),
                in: party.partyId,
                caller: caller,
                correlation: UUID()
            )
        }
        try await log(.join, as: alice, username: "Alice")  // -60 s, film 0
        core.clock.advance(seconds: 90)
        try await log(.message, as: alice, message: "it started")  // 30 s, film 30
        core.clock.advance(seconds: 70)
        try await log(.pause, as: alice)  // 100 s, film 100
        core.clock.advance(seconds: 10)
        try await log(.seek, as: alice, videoTime: 40_000)  // 110 s, film 40, paused
        core.clock.advance(seconds: 10)
        try await log(.play, as: alice)  // 120 s, film 40
        core.clock.advance(seconds: 30)
        try await log(.message, as: alice, message: "again")  // 150 s, film 70
        try await log(.join, as: admin, username: "Ops")  // 150 s
        try await log(.leave, as: admin)  // 150 s
        return party
    }

    @Test("ticket holders replay a finished party, administrators any party at any time; others and early callers are refused")
    func access() async throws {
        try await Core.run { core in
            let party = try await party(core)
            let commands = core.watchParties
            func refusal(_ caller: Caller) -> CommandError? {
                do {
                    _ = try commands.replay(of: party.partyId, window: ReplayWindow(), caller: caller)
                    return nil
                } catch let error as CommandError {
                    return error
                } catch {
                    Issue.record("unexpected \(error)")
                    return nil
                }
            }
            #expect(refusal(alice)?.code == .conflict && refusal(alice)?.message.contains("once it has finished") == true)
            #expect(refusal(admin) == nil, "an administrator, while it runs")
            #expect(refusal(bob)?.code == .forbidden)
            core.clock.advance(seconds: 3_600)
            #expect(refusal(alice) == nil)
            #expect(refusal(bob)?.code == .forbidden, "no ticket, even once finished")
            #expect(throws: CommandError.self) { try commands.replay(of: UUID(), window: ReplayWindow(), caller: admin) }
        }
    }

    @Test("the whole party in log order, told as live: names, participants after joins and leaves, the film's state")
    func wholeParty() async throws {
        try await Core.run { core in
            let party = try await party(core)
            var replay = try core.watchParties.replay(of: party.partyId, window: ReplayWindow(), caller: admin)
            let told = try replay.all()
            #expect(told.map(\.entry.eventType) == [.join, .message, .pause, .seek, .play, .message, .join, .leave])
            #expect(told.map(\.entry.eventTimeMillis) == [-60_000, 30_000, 100_000, 110_000, 120_000, 150_000, 150_000, 150_000])
            #expect(told.map(\.entry.videoTimeMillis) == [0, 30_000, 100_000, 40_000, 40_000, 70_000, 70_000, 70_000])
            #expect(told.map(\.entry.playing) == [false, true, false, false, true, true, true, true])
            #expect(told[1].username == "Alice" && told[7].username == "Ops")
            #expect(told[6].participants?.map(\.userId) == ["alice", "root"] && told[7].participants?.map(\.userId) == ["alice"])
            #expect(told[1].participants == nil)
        }
    }

    @Test("windows of event time and of video time, alone and together; a window that holds nothing is empty")
    func windows() async throws {
        try await Core.run { core in
            let party = try await party(core)
            func types(_ window: ReplayWindow) throws -> [PartyLogEventType] {
                var replay = try core.watchParties.replay(of: party.partyId, window: window, caller: admin)
                return try replay.all().map(\.entry.eventType)
            }
            #expect(try types(ReplayWindow(fromMillis: 30_000, toMillis: 110_000)) == [.message, .pause])
            #expect(try types(ReplayWindow(fromMillis: 0)) == [.message, .pause, .seek, .play, .message, .join, .leave])
            // The film's 30 s to 50 s: the first message (at 30 s), and after the seek back
            // to 40 s the seek and the play; not the later message at 70 s.
            #expect(try types(ReplayWindow(videoFromMillis: 30_000, videoToMillis: 50_000)) == [.message, .seek, .play])
            #expect(try types(ReplayWindow(fromMillis: 115_000, videoFromMillis: 30_000, videoToMillis: 50_000)) == [.play])
            #expect(try types(ReplayWindow(fromMillis: 200_000)).isEmpty)
            // A window from the middle still tells names and participants from the start.
            var replay = try core.watchParties.replay(of: party.partyId, window: ReplayWindow(fromMillis: 150_000), caller: admin)
            let told = try replay.all()
            #expect(told.first?.username == "Alice" && told.last?.participants?.map(\.userId) == ["alice"])
        }
    }

    @Test("a long log is read a page at a time, and every entry comes once, in order")
    func pages() async throws {
        try await Core.run { core in
            let party = try await party(core)
            let commands = core.watchParties
            for index in 0..<(PartyReplay.pageSize + 500) {
                _ = try await commands.log(
                    .init(userId: try UserID("alice"), eventType: .message, message: "m\(index)"),
                    in: party.partyId,
                    caller: alice,
                    correlation: UUID()
                )
            }
            var replay = try commands.replay(of: party.partyId, window: ReplayWindow(), caller: admin)
            var pages = 0
            var positions: [UInt64] = []
            while let page = try replay.next() {
                pages += 1
                positions += page.map(\.entry.position)
            }
            // A small first page (the first entry comes soon), then full ones.
            #expect(pages == 3 && positions.count == PartyReplay.pageSize + 508)
            #expect(positions == positions.sorted() && Set(positions).count == positions.count)
        }
    }

    @Test("a window that starts later tells every entry as the whole replay does, from folding only the joins and leaves before it")
    func laterStartsFoldJoinsAndLeavesOnly() async throws {
        try await Core.run { core in
            let party = try await party(core)
            let commands = core.watchParties
            var random = SystemRandomNumberGenerator()
            var online: Set<String> = ["alice"]
            // Over two pages of joins and of leaves, so that the merge of their pages is exercised.
            for index in 0..<2_600 {
                core.clock.advance(seconds: Int64.random(in: 0...1, using: &random))
                let user = "u\(Int.random(in: 0..<8, using: &random))"
                let type: PartyLogEventType
                if !online.contains(user) {
                    type = .join
                    online.insert(user)
                } else if Bool.random(using: &random) {
                    type = Bool.random(using: &random) ? .join : .leave
                    if type == .leave { online.remove(user) }
                } else {
                    type = .message
                }
                _ = try await commands.log(
                    .init(
                        userId: try UserID(user),
                        eventType: type,
                        username: type == .join ? "\(user)-\(index % 3)" : nil,
                        message: type == .message ? "m" : nil
                    ),
                    in: party.partyId,
                    caller: admin,
                    correlation: UUID()
                )
            }
            var whole = try commands.replay(of: party.partyId, window: ReplayWindow(), caller: admin)
            let all = try whole.all()
            for start in stride(from: 0, to: all.count, by: 97) {
                let from = all[start].entry.eventTimeMillis
                var later = try commands.replay(of: party.partyId, window: ReplayWindow(fromMillis: from), caller: admin)
                #expect(try later.all() == all.filter { $0.entry.eventTimeMillis >= from }, "from \(from) ms")
            }
        }
    }
}
