import EventLog
import Foundation
import Testing
import WatchDomain

/// ``PartyRoomState``: what a room tells of each entry, folded from the log alone.
@Suite("A room folded from its log")
struct PartyRoomStateTests {
    let party = UUID()
    var position: UInt64 = 0

    mutating func entry(_ user: String, _ type: PartyLogEventType, username: String? = nil) -> PartyLogEntry {
        position += 1
        return PartyLogEntry(
            entryId: UUID(),
            partyId: party,
            userId: user,
            eventType: type,
            username: username,
            message: type == .message ? "hi" : nil,
            realTime: Timestamp(microsecondsSince1970: Int64(position) * 1_000_000),
            eventTimeMillis: Int64(position) * 1_000,
            videoTimeMillis: 0,
            position: position,
            playing: false
        )
    }

    @Test("joins and leaves: one user on two devices is online once until both left; a leave without a join counts nothing")
    mutating func participants() {
        var room = PartyRoomState()
        #expect(room.apply(entry("bob", .join, username: "Bob")).participants == [.init(userId: "bob", username: "Bob")])
        let second = room.apply(entry("alice", .join, username: "Alice"))
        #expect(second.participants?.map(\.userId) == ["alice", "bob"], "sorted by id")
        #expect(room.apply(entry("alice", .join, username: "Ally")).participants?.map(\.username) == ["Ally", "Bob"], "a second device, renamed")
        #expect(room.apply(entry("alice", .leave)).participants?.map(\.userId) == ["alice", "bob"], "her other device is still in")
        let left = room.apply(entry("alice", .leave))
        #expect(left.participants?.map(\.userId) == ["bob"] && left.username == "Ally")
        #expect(room.apply(entry("carol", .leave)).participants?.map(\.userId) == ["bob"])
        #expect(room.position == position)
    }

    @Test("messages and player actions carry their author's last name and no participant list; a user who never named themself is their id")
    mutating func names() {
        var room = PartyRoomState()
        _ = room.apply(entry("bob", .join, username: "Bob"))
        let message = room.apply(entry("bob", .message))
        #expect(message.username == "Bob" && message.participants == nil)
        #expect(room.apply(entry("root", .seek)).username == "root")
        _ = room.apply(entry("bob", .join))
        #expect(room.username(of: "bob") == "Bob", "a join without a name keeps the last one")
    }
}

@Suite("Party room state: ids are bytes")
struct PartyRoomStateIdTests {
    @Test("two spellings of one name (NFC and NFD) are two users: neither renames the other")
    func canonicalEquivalentsAreDistinct() {
        var room = PartyRoomState()
        func entry(_ user: String, _ type: PartyLogEventType, _ name: String?, _ position: UInt64) -> PartyLogEntry {
            PartyLogEntry(
                entryId: UUID(),
                partyId: UUID(),
                userId: user,
                eventType: type,
                username: name,
                message: nil,
                realTime: Timestamp(microsecondsSince1970: 0),
                eventTimeMillis: 0,
                videoTimeMillis: 0,
                position: position,
                playing: false
            )
        }
        let composed = "zo\u{EB}"
        let decomposed = "zoe\u{308}"
        _ = room.apply(entry(composed, .join, "Real", 1))
        let told = room.apply(entry(decomposed, .join, "Impostor", 2))
        #expect(told.participants?.count == 2)
        #expect(room.username(of: composed) == "Real")
        #expect(room.username(of: decomposed) == "Impostor")
        _ = room.apply(entry(decomposed, .leave, nil, 3))
        #expect(room.participants.map(\.userId.utf8.count) == [composed.utf8.count], "the leave was the impostor's")
    }
}
