import EventLog

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A room's state as its log has made it so far: who is online (with how many connections)
/// and the name each user last joined under. Folding a party's log entries in order gives,
/// for each entry, what the room's members were told of it; the live room and every replay
/// fold the same entries the same way, so that a replay says what was said live.
public struct PartyRoomState: Sendable, Hashable {
    /// A user online in the room, as `participant_list` shows them.
    public struct Participant: Sendable, Hashable {
        /// The user.
        public var userId: String
        /// The name they last joined under (their id when they never gave one).
        public var username: String

        /// Creates a participant.
        public init(userId: String, username: String) {
            self.userId = userId
            self.username = username
        }
    }

    /// One entry as the room tells it: the entry, its author's display name, and for a join
    /// or a leave the participants online after it.
    public struct Told: Sendable, Hashable {
        /// The entry.
        public var entry: PartyLogEntry
        /// The author's display name at that point.
        public var username: String
        /// The users online after a join or a leave, sorted by id; nil for other entries.
        public var participants: [Participant]?

        /// An entry as told.
        public init(entry: PartyLogEntry, username: String, participants: [Participant]?) {
            self.entry = entry
            self.username = username
            self.participants = participants
        }
    }

    /// Open connections per user online (a user on two devices has two). Keyed by the id's
    /// bytes: two spellings of one name (NFC and NFD) are two users, as everywhere else.
    private var connections: [UTF8Key: Int] = [:]
    /// The name each user last joined under.
    private var usernames: [UTF8Key: String] = [:]
    /// The users online, kept sorted by the bytes of their ids as joins and leaves come:
    /// every join and leave tells the list, so it is not sorted again each time.
    public private(set) var participants: [Participant] = []
    /// The log position of the last entry folded in, 0 before any.
    public private(set) var position: UInt64 = 0

    /// An empty room: the state before a party's first entry.
    public init() {}

    /// The display name of `userId`: the name of their last join, else their id.
    public func username(of userId: String) -> String { usernames[UTF8Key(userId)] ?? userId }

    /// Folds `entry` in and says what the room was told of it. A leave without a join counts
    /// nothing down (as the `online` read model does).
    public mutating func apply(_ entry: PartyLogEntry) -> Told {
        fold(entry)
        let participants = entry.eventType == .join || entry.eventType == .leave ? participants : nil
        return Told(entry: entry, username: username(of: entry.userId), participants: participants)
    }

    /// Folds `entry` in without telling it: only joins and leaves change the room, so a
    /// replay that starts later folds only those before its start.
    public mutating func fold(_ entry: PartyLogEntry) {
        position = entry.position
        switch entry.eventType {
        case .join:
            let user = UTF8Key(entry.userId)
            if let name = entry.username { usernames[user] = name }
            connections[user, default: 0] += 1
            let index = Self.index(of: entry.userId, in: participants)
            let participant = Participant(userId: entry.userId, username: username(of: entry.userId))
            if index < participants.count, participants[index].userId.utf8.elementsEqual(entry.userId.utf8) {
                participants[index] = participant
            } else {
                participants.insert(participant, at: index)
            }
        case .leave:
            let user = UTF8Key(entry.userId)
            if let count = connections[user] {
                connections[user] = count > 1 ? count - 1 : nil
                if count == 1 { participants.remove(at: Self.index(of: entry.userId, in: participants)) }
            }
        case .message, .play, .pause, .seek:
            break
        }
    }

    /// Where `userId` is, or would go, in `participants` (sorted by the ids' bytes).
    private static func index(of userId: String, in participants: [Participant]) -> Int {
        var id = userId
        return id.withUTF8 { key in
            var low = 0
            var high = participants.count
            while low < high {
                let middle = (low + high) / 2
                var other = participants[middle].userId
                let before = other.withUTF8 { Self.precedes($0, key) }
                if before { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// Whether `left` sorts before `right`, byte by byte (a prefix first).
    private static func precedes(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Bool {
        let common = min(left.count, right.count)
        if common > 0, let l = left.baseAddress, let r = right.baseAddress {
            let order = memcmp(l, r, common)
            if order != 0 { return order < 0 }
        }
        return left.count < right.count
    }
}
