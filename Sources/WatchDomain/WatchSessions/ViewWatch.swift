public import EventLog

/// A set of the 100 retention points of a video (point `i` is the position `i × length / 100`),
/// as two 64-bit words.
public struct RetentionPoints: Sendable, Hashable {
    /// The points, as bits: point `i` is bit `i % 64` of word `i / 64`.
    public private(set) var words: (UInt64, UInt64) = (0, 0)

    /// No point.
    public init() {}

    /// The set `words` stands for (the stored form).
    public init(words: (UInt64, UInt64)) { self.words = words }

    /// Whether `point` (0 to 99) is in the set.
    public func contains(_ point: Int) -> Bool {
        point < 64 ? words.0 & (1 << UInt64(point)) != 0 : words.1 & (1 << UInt64(point - 64)) != 0
    }

    /// Adds `point`; returns whether it was new.
    @discardableResult
    public mutating func insert(_ point: Int) -> Bool {
        guard !contains(point) else { return false }
        if point < 64 { words.0 |= 1 << UInt64(point) } else { words.1 |= 1 << UInt64(point - 64) }
        return true
    }

    /// The points in the set, in order.
    public var points: [Int] { (0..<ViewWatch.points).filter(contains) }

    /// How many points the set holds.
    public var count: Int { words.0.nonzeroBitCount + words.1.nonzeroBitCount }

    public static func == (left: RetentionPoints, right: RetentionPoints) -> Bool { left.words == right.words }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }
}

/// How one view (a watch session) watched its video, folded from its player events in the
/// order they were recorded (issue 17): the stretches it watched, which of the video's 100
/// retention points they covered (once, and more than once), its watch time, its seeks, and
/// whether it counts as a play and as a completion.
///
/// The rules, after YouTube Studio's and Mux's definitions:
/// - A stretch is watched from a `play` (its position, its time) until the next `pause`,
///   `seek` or `ended`, or a new `play`: for the time that passed on the client's clock,
///   from the play's position, never past the video's end. What a seek jumps over is not
///   watched; a seek's `videoTime` is where it lands, and playback goes on from there.
/// - Point `i` (0 to 99) is at `i × length / 100`; a stretch from `a` to `b` covers it when
///   `a ≤ i × length / 100 < b`. A view covers a point once however often it watches it;
///   covering it again (a rewatch) adds it to ``rewatched``.
/// - A view is a **play that counts** once it has watched ``countedPlayMillis`` (or the whole
///   video, when shorter), and a **completion** once it reaches `ended` or watches up to the
///   video's completion threshold (`threshold × length`).
/// - `buffering`, `ratechange` and `volumechange` change nothing; events whose time is before
///   the play's count no time.
public struct ViewWatch: Sendable, Hashable {
    /// Points along a video.
    public static let points = 100
    /// The watch time that makes a view a play that counts (30 s, as YouTube counts a view).
    public static let countedPlayMillis: UInt64 = 30_000

    /// What one event changed, for the read models to add up.
    public struct Change: Sendable, Hashable {
        /// Watch time added, in milliseconds.
        public var watchedMillis: UInt64 = 0
        /// Points covered for the first time.
        public var newlyWatched = RetentionPoints()
        /// Points covered for the second time.
        public var newlyRewatched = RetentionPoints()
        /// A seek: where the player was and where it landed, in milliseconds.
        public var seek: (from: UInt64, to: UInt64)?
        /// Whether the view became a play that counts, or a completion, with this event.
        public var becameCounted = false
        public var becameCompleted = false
        /// When the stretch this event ended began playing, by the client's clock (it lasted
        /// ``watchedMillis``); nil when the event ended none.
        public var playedSince: Timestamp?

        public static func == (left: Change, right: Change) -> Bool {
            left.watchedMillis == right.watchedMillis && left.newlyWatched == right.newlyWatched
                && left.newlyRewatched == right.newlyRewatched && left.seek?.from == right.seek?.from && left.seek?.to == right.seek?.to
                && left.becameCounted == right.becameCounted && left.becameCompleted == right.becameCompleted
                && left.playedSince == right.playedSince
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(watchedMillis)
            hasher.combine(newlyWatched)
            hasher.combine(newlyRewatched)
            hasher.combine(seek?.from)
            hasher.combine(seek?.to)
            hasher.combine(becameCounted)
            hasher.combine(becameCompleted)
            hasher.combine(playedSince)
        }
    }

    /// The video's length, in milliseconds.
    public let lengthMillis: UInt64
    /// Where the view counts as complete, in milliseconds.
    public let completionMillis: UInt64
    /// Whether the player is playing, and since which position and client time.
    public private(set) var playing = false
    private var from: UInt64 = 0
    private var since = Timestamp(microsecondsSince1970: 0)
    /// The player's last known position, in milliseconds.
    public private(set) var position: UInt64 = 0
    /// Watch time so far, in milliseconds.
    public private(set) var watchedMillis: UInt64 = 0
    /// Points covered at least once, and at least twice.
    public private(set) var watched = RetentionPoints()
    public private(set) var rewatched = RetentionPoints()
    public private(set) var counted = false
    public private(set) var completed = false

    /// A view of a video `lengthMillis` long (at least 1) that completes at `threshold` (0 to 1) of it.
    public init(lengthMillis: UInt64, threshold: Double) {
        self.lengthMillis = max(lengthMillis, 1)
        completionMillis = UInt64((Double(max(lengthMillis, 1)) * min(max(threshold, 0), 1)).rounded(.up))
    }

    /// The position of point `index`, in milliseconds.
    public func position(ofPoint index: Int) -> UInt64 { UInt64(index) * lengthMillis / UInt64(Self.points) }

    /// Folds `event` in; returns what it changed.
    public mutating func apply(_ event: PlayerEvent) -> Change {
        var change = Change()
        let time = event.eventTime.timestamp
        let landing = min(event.videoTimeMillis, lengthMillis)
        switch event.event {
        case .play:
            if playing { stopWatching(at: time, &change) }
            start(at: landing, time)
        case .pause:
            if playing { stopWatching(at: time, &change) }
            playing = false
            position = landing
        case .seek:
            let wasPlaying = playing
            if playing { stopWatching(at: time, &change) }
            change.seek = (position, landing)
            if wasPlaying { start(at: landing, time) } else { position = landing }
        case .ended:
            if playing { stopWatching(at: time, &change) }
            playing = false
            position = landing
            if !completed {
                completed = true
                change.becameCompleted = true
            }
        case .buffering, .rateChange, .volumeChange:
            break
        }
        return change
    }

    private mutating func start(at position: UInt64, _ time: Timestamp) {
        playing = true
        from = position
        since = time
        self.position = position
    }

    /// Ends the stretch playing since `since` at `time`: watched from `from` for the time
    /// that passed, up to the end.
    private mutating func stopWatching(at time: Timestamp, _ change: inout Change) {
        let elapsed = UInt64(max(time.microsecondsSince1970 - since.microsecondsSince1970, 0) / 1_000)
        let end = min(from + elapsed, lengthMillis)
        playing = false
        position = end
        guard end > from else { return }
        watchedMillis += end - from
        change.watchedMillis = end - from
        change.playedSince = since
        // Points i with from ≤ i × length / 100 < end.
        let points = UInt64(Self.points)
        let first = (from * points + lengthMillis - 1) / lengthMillis
        let last = min((end * points + lengthMillis - 1) / lengthMillis, points)
        for point in Int(first)..<Int(last) where position(ofPoint: point) < end && position(ofPoint: point) >= from {
            if watched.insert(point) {
                change.newlyWatched.insert(point)
            } else if rewatched.insert(point) {
                change.newlyRewatched.insert(point)
            }
        }
        if !counted && watchedMillis >= min(Self.countedPlayMillis, lengthMillis) {
            counted = true
            change.becameCounted = true
        }
        if !completed && end >= completionMillis {
            completed = true
            change.becameCompleted = true
        }
    }
}

extension ViewWatch {
    /// The stored form (a read model's row): a version byte, then every field.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(UInt8(1))
        writer.write(lengthMillis)
        writer.write(completionMillis)
        writer.write(playing)
        writer.write(from)
        writer.write(since)
        writer.write(position)
        writer.write(watchedMillis)
        writer.writeFixed(watched.words.0)
        writer.writeFixed(watched.words.1)
        writer.writeFixed(rewatched.words.0)
        writer.writeFixed(rewatched.words.1)
        writer.write(counted)
        writer.write(completed)
    }

    /// Reads what ``encode(to:)`` wrote.
    ///
    /// - Throws: ``DomainCodecError`` for bytes it did not write.
    public init(from reader: inout BinaryReader) throws(DomainCodecError) {
        guard try reader.readByte() == 1 else { throw DomainCodecError("unknown view watch version") }
        lengthMillis = try reader.readUInt()
        completionMillis = try reader.readUInt()
        playing = try reader.readBool()
        from = try reader.readUInt()
        since = try reader.readTimestamp()
        position = try reader.readUInt()
        watchedMillis = try reader.readUInt()
        watched = RetentionPoints(words: (try reader.readFixedUInt64(), try reader.readFixedUInt64()))
        rewatched = RetentionPoints(words: (try reader.readFixedUInt64(), try reader.readFixedUInt64()))
        counted = try reader.readBool()
        completed = try reader.readBool()
    }
}
