import Foundation
import Testing
import Views

@testable import EventLog
@testable import LMDBLog

/// Writes keys of awkward lengths and contents (prefixes of one another, zero bytes, keys
/// longer than the overlay's inline head), deletes some, updates some in place, and scans
/// a range while folding: everything the write-back overlay must get right.
struct AwkwardKeys: Projector {
    var name: String { "awkward" }
    var version: UInt32 { 1 }
    var databases: [String] { ["rows", "counts"] }

    func apply(_ record: EventView, to views: ViewTransaction) throws {
        let seed = UInt8(truncatingIfNeeded: record.position)
        let keys: [[UInt8]] = [
            [0], [0, 0], [seed], [seed, 0], Array(repeating: seed, count: 16), Array(repeating: seed, count: 17),
            Array(repeating: 0, count: 16) + [seed], Array(repeating: 0xFF, count: 24) + [seed % 3],
        ]
        for key in keys {
            if try !views.update("rows", key, { $0.append(seed) }) {
                try views.put("rows", key, [seed])
            }
        }
        // Deletes of rows earlier events wrote (already flushed by the scan below), and of one
        // this event wrote.
        if record.position % 3 == 0 { try views.delete("rows", [seed &- 1]) }
        if record.position % 5 == 0 { try views.delete("rows", Array(repeating: seed &- 2, count: 17)) }
        if record.position % 7 == 0 { try views.delete("rows", [seed, 0]) }
        // A range scan inside the fold must see the fold's own writes.
        var seen = 0
        try views.forEach("rows", prefix: [0]) { _, _ in
            seen += 1
            return true
        }
        try views.put("counts", withUnsafeBytes(of: record.position.bigEndian) { Array($0) }, withUnsafeBytes(of: UInt64(seen)) { Array($0) })
    }
}

@Suite("Write-back overlay", .timeLimit(.minutes(5)))
struct ViewOverlayTests {
    @Test("a fold through the overlay stores exactly what inline application stores")
    func overlayMatchesInline() async throws {
        try await withDirectory { directory in
            let views = try InlineProjections(directory: directory + "/views", projectors: [AwkwardKeys()])
            let log = try openLog(directory, views)
            for round in 0..<40 {
                _ = try await log.append(AppendRequest(events: (0..<(round % 7 + 1)).map { _ in event("t", "s") }))
            }
            let rebuilt = directory + "/rebuilt"
            try log.withReader { reader in
                _ = try InlineProjections.build(directory: rebuilt, projectors: [AwkwardKeys()], from: reader)
            }
            let (position, differences) = try views.differences(from: rebuilt)
            #expect(position == (try log.head))
            #expect(differences.isEmpty, "\(differences)")
            #expect(try dump(views, AwkwardKeys())["rows"]?.isEmpty == false)
            await log.close()
        }
    }
}
