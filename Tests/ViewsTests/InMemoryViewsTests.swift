import Foundation
import Testing

@testable import EventLog
@testable import LMDBLog
@testable import Views

/// Puts, updates, deletes and counts keys chosen to test an order (prefixes of one another,
/// zero bytes, bytes above 0x7F), and writes down what prefix and range scans see while it
/// folds: whatever order its store keeps shows in its rows.
struct OrderProbe: Projector {
    var name: String { "probe" }
    var version: UInt32 { 1 }
    var databases: [String] { ["rows", "counters", "scans"] }
    var eventTypePrefixes: [String] { ["probe."] }

    /// Thrown by the `probe.fail` event, to fail its batch.
    struct Refused: Error {}

    func apply(_ record: EventView, to views: ViewTransaction) throws {
        let key = Array(record.payload)
        let stamp = ViewKey.bigEndian(record.position)
        switch String(decoding: record.typeBytes, as: UTF8.self) {
        case "probe.put":
            try views.put("rows", key, stamp)
            try views.addToCounter("counters", Array(key.prefix(1)), 1)
        case "probe.update":
            if try !views.update("rows", key, { $0.append(UInt8(truncatingIfNeeded: record.position)) }) {
                try views.put("rows", key, stamp)
            }
        case "probe.delete":
            if try views.get("rows", key) != nil {
                try views.delete("rows", key)
                try views.addToCounter("counters", Array(key.prefix(1)), -1)
            }
        case "probe.scan":
            // The keys under the prefix, and the first three at or after it, in the order seen.
            var seen: [UInt8] = []
            try views.forEach("rows", prefix: key) { found, _ in
                seen += [UInt8(found.count)] + found
                return true
            }
            seen.append(0xEE)
            var taken = 0
            try views.forEach("rows", from: key) { found, value in
                seen += [UInt8(found.count)] + found + value.prefix(2)
                taken += 1
                return taken < 3
            }
            try views.put("scans", stamp, seen)
        case "probe.deletePrefix":
            var doomed: [[UInt8]] = []
            try views.forEach("rows", prefix: key) { found, _ in
                doomed.append(found)
                return true
            }
            for found in doomed {
                try views.delete("rows", found)
                try views.addToCounter("counters", Array(found.prefix(1)), -1)
            }
        case "probe.fail":
            try views.put("rows", key, stamp)
            throw Refused()
        default:
            break
        }
    }
}

/// A repeatable workload for ``OrderProbe``: keys of one to five bytes from an alphabet of
/// awkward bytes, so that many keys are prefixes of others.
func probeWorkload(events count: Int, seed: UInt64) -> [[ProposedEvent]] {
    var state = seed
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0x7F, 0x80, 0xFE, 0xFF]
    func key(_ length: Int) -> [UInt8] { (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] } }
    let types = ["probe.put", "probe.put", "probe.put", "probe.update", "probe.delete", "probe.scan", "probe.deletePrefix"]
    var batches: [[ProposedEvent]] = []
    var written = 0
    while written < count {
        let size = 1 + Int(next() % 4)
        batches.append(
            (0..<size).map { _ in
                let type = types[Int(next() % UInt64(types.count))]
                let length = type == "probe.deletePrefix" ? 3 + Int(next() % 3) : 1 + Int(next() % 5)
                return ProposedEvent(type: type, stream: "probe-\(next() % 5)", payload: key(length))
            }
        )
        written += size
    }
    return batches
}

/// Every key and value of every database of `projector`, in the order the views list them.
func entries(_ views: any ViewReading, _ projector: any Projector) throws -> [String: [[UInt8]]] {
    var all: [String: [[UInt8]]] = [:]
    for database in projector.databases {
        all[database] = []
        try views.read(projector.name) { tx in
            try tx.forEach(database) { key, value in
                all[database, default: []].append([UInt8(key.count)] + key + value)
                return true
            }
        }
    }
    return all
}

@Suite("Views in memory", .timeLimit(.minutes(5)))
struct InMemoryViewsTests {
    @Test("folded in memory, the views hold exactly the keys, values and order of LMDB's, inline and rebuilt")
    func sameAsLMDB() async throws {
        try await withDirectory { directory in
            let batches = probeWorkload(events: 3_000, seed: 11)
            let memory = InMemoryViews(projectors: [OrderProbe()])
            let memoryLog = InMemoryEventStore(participant: memory)
            let inline = try InlineProjections(directory: directory + "/views", projectors: [OrderProbe()])
            let log = try openLog(directory, inline)
            for events in batches {
                _ = try await memoryLog.append(AppendRequest(events: events))
                _ = try await log.append(AppendRequest(events: events))
            }
            let rebuilt = directory + "/rebuilt"
            try log.withReader { reader in
                _ = try InlineProjections.build(directory: rebuilt, projectors: [OrderProbe()], from: reader)
            }
            let rebuiltViews = try InlineProjections(directory: rebuilt, projectors: [OrderProbe()], readOnly: true)

            let expected = try entries(inline, OrderProbe())
            #expect(try entries(memory, OrderProbe()) == expected)
            #expect(try entries(rebuiltViews, OrderProbe()) == expected)
            // The workload did what it is for: many rows, scans that saw some, counters.
            #expect(expected["rows", default: []].count > 100)
            #expect(expected["scans", default: []].contains { $0.count > 20 })
            #expect(expected["counters", default: []].count > 3)
            #expect(memory.appliedPosition() == (try log.head))
            await log.close()
        }
    }

    @Test("keys sort as unsigned bytes, a prefix before the longer key")
    func order() throws {
        let keys: [[UInt8]] = [[0xFF], [0x00], [0x80], [0x7F], [0x00, 0x00], [0x7F, 0xFF], [0x80, 0x00], [0x01]]
        var table = MemoryTable()
        for key in keys { table.put(key, key) }
        #expect(table.keys == [[0x00], [0x00, 0x00], [0x01], [0x7F], [0x7F, 0xFF], [0x80], [0x80, 0x00], [0xFF]])
        #expect(table.index(atOrAfter: [0x7F, 0x00]) == 4)
        table.delete([0x7F])
        table.delete([0x42])
        #expect(table.keys.count == 7)
        #expect(table.get([0x80, 0x00]) == [0x80, 0x00])
        #expect(table.get([0x7F]) == nil)
    }

    @Test("a batch works on a copy: a failed batch leaves nothing, a decider sees its batch, committed reads do not")
    func batches() async throws {
        let views = InMemoryViews(projectors: [OrderProbe()])
        let log = InMemoryEventStore(participant: views)
        _ = try await log.append(AppendRequest(events: [ProposedEvent(type: "probe.put", stream: "s", payload: [1])]))
        let before = try entries(views, OrderProbe())

        // The second event fails the batch: the first one's row must not stay.
        let failing = [
            ProposedEvent(type: "probe.put", stream: "s", payload: [2]),
            ProposedEvent(type: "probe.fail", stream: "s", payload: [3]),
        ]
        await #expect(throws: OrderProbe.Refused.self) { try await log.append(AppendRequest(events: failing)) }
        #expect(try entries(views, OrderProbe()) == before)
        #expect(try views.read("probe") { try $0.get("rows", [2]) } == nil)

        // A decider reads its batch's state; the committed state is read apart from it.
        let (_, seen) = try await log.append(deciding: { scope in
            let inBatch = try views.read("probe", in: scope) { try $0.get("rows", [1]) != nil }
            return (AppendRequest(events: [ProposedEvent(type: "probe.put", stream: "s", payload: [4])]), (inBatch, scope))
        })
        #expect(seen.0)
        #expect(try views.read("probe") { try $0.get("rows", [4]) } != nil)
        // The batch has ended: its scope is refused.
        #expect(throws: ViewError.self) { try views.read("probe", in: seen.1) { _ in 0 } }
        #expect(throws: ViewError.self) { try views.read("nope") { _ in 0 } }
        #expect(throws: ViewError.self) { try views.read("probe") { try $0.put("rows", [9], [9]) } }
        #expect(views.appliedPosition() == (try await log.currentHead()))
    }

    @Test("queries read through a view source over either store")
    func source() async throws {
        let views = InMemoryViews(projectors: [OrderProbe()])
        let log = InMemoryEventStore(participant: views)
        _ = try await log.append(AppendRequest(events: [ProposedEvent(type: "probe.put", stream: "s", payload: [7])]))
        let committed = ViewSource.committed(views)
        #expect(try committed.read("probe") { try $0.get("rows", [7]) } == ViewKey.bigEndian(1))
        let (_, found) = try await log.append(deciding: { scope in
            (nil, try ViewSource.batch(scope, of: views).read("probe") { try $0.get("rows", [7]) })
        })
        #expect(found == ViewKey.bigEndian(1))
    }
}
