import CCRC32C

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The writer's in-memory stream rows, keyed by the stream id's UTF-8 bytes (as the
/// `streams` table is, so two spellings of one text are two streams).
///
/// Built for the writer's hot path, one lookup per appended event: an open-addressing table
/// of slot numbers over entries kept in one buffer, and the ids' bytes in one arena, so a hit
/// is one hash of the id's bytes, one probe and one `memcmp`, with no reference counting and
/// no copy of the id. The hash (``hash(_:)``) is keyed with a random seed per cache, so
/// that ids chosen to collide cannot be made without knowing it. A slot number stays valid
/// until ``removeAll()``.
///
/// Only the writer thread uses it; not `Sendable`.
final class StreamCache {
    /// One stream's row, as the writer keeps it.
    struct Entry {
        /// Its version and newest position, including the current batch's events.
        var state: StreamState
        /// The batch that last touched it (a batch's first touch records the committed row).
        var batch: UInt64
        /// Whether the row is newer than the one stored in the `streams` table.
        var dirty: Bool
        /// The id's bytes, in the arena (kept small: an entry is 40 bytes, and the fewer
        /// cache lines and pages the entries take, the fewer misses a lookup makes).
        fileprivate let keyOffset: UInt32
        fileprivate let keyCount: UInt16
        /// The low 32 bits of the id's hash (the buckets use fewer).
        fileprivate let hash: UInt32
    }

    @exclusivity(unchecked) private(set) var entries: UnsafeMutablePointer<Entry>
    @exclusivity(unchecked) private var capacity: Int
    /// How many entries there are; slots are `0..<count`.
    @exclusivity(unchecked) private(set) var count = 0
    /// Slot + 1 per bucket, 0 for an empty bucket; a power of two, at most half full.
    @exclusivity(unchecked) private var buckets: UnsafeMutablePointer<Int32>
    @exclusivity(unchecked) private var bucketMask: Int
    @exclusivity(unchecked) private var arena: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var arenaCapacity: Int
    @exclusivity(unchecked) private var arenaUsed = 0
    /// The slots `0..<orderedCount`, in the byte order of their ids (see ``slotsInKeyOrder()``).
    @exclusivity(unchecked) private var order: [Int] = []
    @exclusivity(unchecked) private var orderedCount = 0
    /// The key of ``hash(_:)``, random per cache.
    private let seed: UInt64

    private static let initialCapacity = 1024

    init() {
        capacity = Self.initialCapacity
        entries = .allocate(capacity: capacity)
        bucketMask = 2 * capacity - 1
        buckets = .allocate(capacity: bucketMask + 1)
        buckets.initialize(repeating: 0, count: bucketMask + 1)
        arenaCapacity = 32 * capacity
        arena = .allocate(byteCount: arenaCapacity, alignment: 8)
        var random = SystemRandomNumberGenerator()
        let seed: UInt64 = random.next()
        self.seed = seed ^ Self.mix(seed ^ Self.secret0, Self.secret1)
    }

    deinit {
        entries.deinitialize(count: count)
        entries.deallocate()
        buckets.deallocate()
        arena.deallocate()
    }

    /// The hash of an id's bytes, keyed with the cache's seed: wyhash's construction (each
    /// 16 bytes folded in by a 64 x 64 -> 128-bit multiplication of key-masked words), a few
    /// nanoseconds for an id where SipHash (`Hasher`) took several times that on every event.
    @inline(__always)
    func hash(_ key: UnsafeRawBufferPointer) -> Int {
        let count = key.count
        guard let p = key.baseAddress, count > 0 else { return Int(truncatingIfNeeded: Self.mix(seed ^ Self.secret0, Self.secret1)) }
        var state = seed
        var a: UInt64
        var b: UInt64
        if count <= 16 {
            if count >= 4 {
                let step = (count >> 3) << 2
                a = UInt64(Self.load32(p, 0)) << 32 | UInt64(Self.load32(p, step))
                b = UInt64(Self.load32(p, count - 4)) << 32 | UInt64(Self.load32(p, count - 4 - step))
            } else {
                let bytes = p.assumingMemoryBound(to: UInt8.self)
                a = UInt64(bytes[0]) << 16 | UInt64(bytes[count >> 1]) << 8 | UInt64(bytes[count - 1])
                b = 0
            }
        } else {
            var offset = 0
            while count - offset > 16 {
                state = Self.mix(Self.load64(p, offset) ^ Self.secret1, Self.load64(p, offset + 8) ^ state)
                offset += 16
            }
            a = Self.load64(p, count - 16)
            b = Self.load64(p, count - 8)
        }
        let (high, low) = (a ^ Self.secret1).multipliedFullWidth(by: b ^ state)
        return Int(truncatingIfNeeded: Self.mix(low ^ Self.secret0 ^ UInt64(count), high ^ Self.secret1))
    }

    /// Whether `count` bytes at `a` and `b` are equal: word compares in line (an id is a few
    /// words), where a call to `memcmp` cost more than the comparison.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?, _ count: Int) -> Bool {
        guard let b, count > 0 else { return count == 0 }
        if count < 8 {
            if count >= 4 { return load32(a, 0) == load32(b, 0) && load32(a, count - 4) == load32(b, count - 4) }
            for offset in 0..<count where a.load(fromByteOffset: offset, as: UInt8.self) != b.load(fromByteOffset: offset, as: UInt8.self) {
                return false
            }
            return true
        }
        var offset = 0
        while offset + 8 < count {
            if load64(a, offset) != load64(b, offset) { return false }
            offset += 8
        }
        return load64(a, count - 8) == load64(b, count - 8)
    }

    private static let secret0: UInt64 = 0xA076_1D64_78BD_642F
    private static let secret1: UInt64 = 0xE703_7ED1_A0B4_28DB

    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        return high ^ low
    }

    @inline(__always)
    private static func load64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private static func load32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The slot of the stream whose id has the bytes `key` and the hash `hash`, nil when
    /// the cache has none.
    @inline(__always)
    func slot(of key: UnsafeRawBufferPointer, hash: Int) -> Int? {
        var bucket = hash & bucketMask
        while true {
            let stored = Int(buckets[bucket])
            if stored == 0 { return nil }
            let slot = stored - 1
            let entry = entries + slot
            if entry.pointee.hash == UInt32(truncatingIfNeeded: hash) && Int(entry.pointee.keyCount) == key.count
                && Self.equal(arena + Int(entry.pointee.keyOffset), key.baseAddress, key.count)
            {
                return slot
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// The slot of the stream `key`, nil when the cache has none.
    func slot(of key: UnsafeRawBufferPointer) -> Int? { slot(of: key, hash: hash(key)) }

    /// Starts loading the bucket where a lookup of `hash` begins into the CPU's cache.
    @inline(__always)
    func prefetchBucket(_ hash: Int) {
        playhead_prefetch(buckets + (hash & bucketMask))
    }

    /// Starts loading the entry and the id bytes a lookup of `hash` compares first (after
    /// ``prefetchBucket(_:)``, when its bucket has arrived).
    @inline(__always)
    func prefetchEntry(_ hash: Int) {
        let stored = Int(buckets[hash & bucketMask])
        guard stored != 0 else { return }
        let entry = entries + (stored - 1)
        playhead_prefetch(entry)
        playhead_prefetch(arena + Int(entry.pointee.keyOffset))
    }

    /// Adds a stream that is not in the cache and returns its slot.
    func insert(_ key: UnsafeRawBufferPointer, hash: Int, state: StreamState, batch: UInt64, dirty: Bool) -> Int {
        precondition(count < Int(Int32.max), "the stream cache holds at most Int32.max streams")
        precondition(key.count <= Int(UInt16.max), "a stream id is at most \(UInt16.max) bytes")
        precondition(arenaUsed + key.count <= Int(UInt32.max), "the stream cache holds at most 4 GiB of ids")
        if count == capacity { growEntries() }
        if arenaUsed + key.count > arenaCapacity { growArena(atLeast: arenaUsed + key.count) }
        if let source = key.baseAddress, key.count > 0 { (arena + arenaUsed).copyMemory(from: source, byteCount: key.count) }
        let slot = count
        (entries + slot).initialize(
            to: Entry(
                state: state,
                batch: batch,
                dirty: dirty,
                keyOffset: UInt32(arenaUsed),
                keyCount: UInt16(key.count),
                hash: UInt32(truncatingIfNeeded: hash)
            )
        )
        arenaUsed += key.count
        count += 1
        var bucket = hash & bucketMask
        while buckets[bucket] != 0 { bucket = (bucket + 1) & bucketMask }
        buckets[bucket] = Int32(slot + 1)
        return slot
    }

    /// The id's bytes of the stream in `slot`; valid until the next ``insert(_:hash:state:batch:dirty:)``.
    @inline(__always)
    func key(at slot: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: arena + Int(entries[slot].keyOffset), count: Int(entries[slot].keyCount))
    }

    /// Forgets every stream.
    func removeAll() {
        entries.deinitialize(count: count)
        count = 0
        arenaUsed = 0
        buckets.update(repeating: 0, count: bucketMask + 1)
        order.removeAll()
        orderedCount = 0
    }

    /// Whether the id in `left` sorts before the id in `right`, in bytes (as LMDB orders keys).
    @inline(__always)
    func precedes(_ left: Int, _ right: Int) -> Bool {
        let (a, b) = (entries + left, entries + right)
        let common = Int(min(a.pointee.keyCount, b.pointee.keyCount))
        if common > 0 {
            let order = memcmp(arena + Int(a.pointee.keyOffset), arena + Int(b.pointee.keyOffset), common)
            if order != 0 { return order < 0 }
        }
        return a.pointee.keyCount < b.pointee.keyCount
    }

    /// Every slot, in the byte order of the ids. Kept from call to call: only the streams
    /// added since the last call are sorted, then merged in, so a flush of the stream rows
    /// costs a pass over the cache instead of a sort of its dirty rows.
    func slotsInKeyOrder() -> [Int] {
        guard orderedCount < count else { return order }
        var added = Array(orderedCount..<count)
        added.sort { precedes($0, $1) }
        if order.isEmpty {
            order = added
        } else {
            var merged: [Int] = []
            merged.reserveCapacity(count)
            var (i, j) = (0, 0)
            while i < order.count && j < added.count {
                if precedes(added[j], order[i]) {
                    merged.append(added[j])
                    j += 1
                } else {
                    merged.append(order[i])
                    i += 1
                }
            }
            merged.append(contentsOf: order[i...])
            merged.append(contentsOf: added[j...])
            order = merged
        }
        orderedCount = count
        return order
    }

    private func growEntries() {
        let newCapacity = capacity * 2
        let newEntries = UnsafeMutablePointer<Entry>.allocate(capacity: newCapacity)
        newEntries.moveInitialize(from: entries, count: count)
        entries.deallocate()
        entries = newEntries
        capacity = newCapacity
        // Rehash into twice as many buckets, from the hashes the entries keep.
        buckets.deallocate()
        bucketMask = 2 * newCapacity - 1
        buckets = .allocate(capacity: bucketMask + 1)
        buckets.initialize(repeating: 0, count: bucketMask + 1)
        for slot in 0..<count {
            var bucket = Int(entries[slot].hash) & bucketMask
            while buckets[bucket] != 0 { bucket = (bucket + 1) & bucketMask }
            buckets[bucket] = Int32(slot + 1)
        }
    }

    private func growArena(atLeast needed: Int) {
        var newCapacity = arenaCapacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newArena = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newArena.copyMemory(from: arena, byteCount: arenaUsed)
        arena.deallocate()
        arena = newArena
        arenaCapacity = newCapacity
    }
}

/// Runs `body` with the UTF-8 bytes of `string`, without copying them when the string
/// keeps them contiguous (native and small strings always do).
@inline(__always)
func withUTF8Bytes<R>(_ string: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    if let result = try string.utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    var copy = string
    return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
}
