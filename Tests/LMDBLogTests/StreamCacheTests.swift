import Testing

@testable import LMDBLog

/// The writer's stream rows: found by the bytes of the id, slots kept while the cache grows,
/// and the key order of the stream table.
@Suite("Stream cache", .timeLimit(.minutes(5)))
struct StreamCacheTests {
    static func withBytes<T>(_ id: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUTF8Bytes(id, body)
    }

    @Test("finds every stream by the bytes of its id, across growth, and forgets them all")
    func lookups() {
        let cache = StreamCache()
        // Short, word-sized and long ids, and two spellings of one text (two streams).
        let ids =
            (0..<5000).map { "s/\($0)" } + ["a", "ab", "abc", "abcd", "abcdefgh", String(repeating: "x", count: 400)]
            + ["progress/zo\u{EB}", "progress/zoe\u{308}"]
        var slots: [Int] = []
        for (index, id) in ids.enumerated() {
            #expect(Self.withBytes(id) { cache.slot(of: $0) } == nil)
            let state = StreamState(version: UInt64(index + 1), lastPosition: UInt64(index))
            slots.append(Self.withBytes(id) { cache.insert($0, hash: cache.hash($0), state: state, batch: 0, dirty: false) })
        }
        #expect(cache.count == ids.count)
        var wrong: [String] = []
        for (index, id) in ids.enumerated() {
            let slot = Self.withBytes(id) { cache.slot(of: $0) }
            if slot != slots[index] || cache.entries[slots[index]].state.version != UInt64(index + 1) { wrong.append(id) }
            if Self.withBytes(id, { Array($0) }) != Array(cache.key(at: slots[index])) { wrong.append(id) }
        }
        #expect(wrong.isEmpty)
        #expect(Self.withBytes("s/5000") { cache.slot(of: $0) } == nil)
        #expect(Self.withBytes("") { cache.slot(of: $0) } == nil)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(Self.withBytes("s/1") { cache.slot(of: $0) } == nil)
    }

    @Test("orders slots by the bytes of their ids, as the stream table does, as streams are added")
    func keyOrder() {
        let cache = StreamCache()
        var ids: [String] = []
        func add(_ new: [String]) {
            for id in new { _ = Self.withBytes(id) { cache.insert($0, hash: cache.hash($0), state: .empty, batch: 0, dirty: false) } }
            ids += new
            let ordered = cache.slotsInKeyOrder().map { Array(cache.key(at: $0)) }
            #expect(ordered == ids.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
        }
        add(["b", "a", "ab", "progress/zo\u{EB}", "progress/zoe\u{308}", "c/10", "c/9"])
        add(["aa", "", "\u{212A}", "K", "zz"])
        add((0..<300).map { "s/\(($0 * 7919) % 1000)" })
    }
}
