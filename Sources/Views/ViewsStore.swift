import EventLog
import Foundation
import LMDBKit

/// One opened `views` environment holding the databases of a set of projectors and their
/// checkpoints. ``InlineProjections`` keeps the live one; a rebuild folds the log into a
/// fresh one. Closed when the last reference goes.
final class ViewsStore: @unchecked Sendable {
    let directory: String
    let environment: LMDBEnvironment
    let handles: [String: DatabaseHandles]
    let checkpoints: LMDBDatabase

    /// Opens the views in `directory` for `projectors`: for writing, creating what is
    /// missing; or, with `readOnly`, only to read views that exist (no write transaction, so
    /// never waiting for a server's batch).
    init(directory: String, projectors: [any Projector], initialMapSize: Int, readOnly: Bool = false) throws {
        guard Set(projectors.map(\.name)).count == projectors.count else {
            throw ViewError("two projectors share a name")
        }
        if !readOnly { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let environment = try LMDBEnvironment(
            path: directory,
            mapSize: initialMapSize,
            maxReaders: 1024,
            maxDatabases: UInt32(2 + projectors.reduce(0) { $0 + $1.databases.count }),
            options: readOnly ? [.noSync, .readOnly] : .noSync
        )
        // A read-only transaction keeps the handles it opens once it commits.
        (handles, checkpoints) = try environment.withTransaction(readOnly: readOnly) { txn in
            var handles: [String: DatabaseHandles] = [:]
            for projector in projectors {
                var own: [(name: String, dbi: LMDBDatabase)] = []
                for database in projector.databases {
                    own.append((database, try txn.openDatabase("\(projector.name).\(database)", create: !readOnly)))
                }
                handles[projector.name] = DatabaseHandles(entries: own)
            }
            return (handles, try txn.openDatabase("checkpoints", create: !readOnly))
        }
        self.directory = directory
        self.environment = environment
    }

    func view(_ projector: String, _ txn: LMDBTransaction, writable: Bool, overlay: ViewOverlay? = nil) -> ViewTransaction {
        ViewTransaction(txn: txn, handles: handles[projector] ?? .none, owner: projector, isWritable: writable, overlay: overlay)
    }

    /// Grows the map by the environment's policy; no transaction of these views may be open.
    func grow() throws {
        try environment.growMap()
    }

    func storedCheckpoint(_ name: String, _ txn: LMDBTransaction) throws -> (version: UInt32, position: LogPosition)? {
        guard let bytes = try txn.get(name, in: checkpoints), bytes.count == 12 else { return nil }
        return (
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        )
    }

    func storeCheckpoint(_ projector: any Projector, position: LogPosition, _ txn: LMDBTransaction) throws {
        var bytes = [UInt8]()
        withUnsafeBytes(of: projector.version.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: position.littleEndian) { bytes.append(contentsOf: $0) }
        try bytes.withUnsafeBytes { try txn.put(projector.name, $0, in: checkpoints) }
    }

    /// The oldest position every projector has applied (0 when one has applied nothing, or
    /// only under another version of itself, which the next catch-up folds again from the start).
    func oldestCheckpoint(_ projectors: [any Projector]) throws -> LogPosition {
        try environment.withReadTransaction { txn in
            try projectors.map { projector in
                guard let stored = try storedCheckpoint(projector.name, txn), stored.version == projector.version else { return 0 }
                return stored.position
            }.min() ?? 0
        }
    }

    /// Folds the log into these views until they are at `last` (the reader's head when nil):
    /// empties the projectors whose version changed, then applies every event after each
    /// projector's checkpoint through a write-back ``ViewOverlay``, flushing and committing
    /// every ``commitInterval`` events. Grows the map when it fills. Returns how many events were read.
    @discardableResult
    func catchUp(
        _ projectors: [any Projector],
        from reader: some EventScanner,
        through last: LogPosition? = nil,
        progress: ((LogPosition) -> Void)? = nil
    ) throws -> Int {
        try environment.growingWhenFull {
            try catchUpOnce(projectors, reader, through: last ?? reader.head(), progress: progress)
        }
    }

    /// Events a catch-up folds between two commits.
    static let commitInterval = 262_144

    private func catchUpOnce(
        _ projectors: [any Projector],
        _ reader: some EventScanner,
        through last: LogPosition,
        progress: ((LogPosition) -> Void)?
    ) throws -> Int {
        // Per projector, by index: the last position applied.
        var positions = [LogPosition](repeating: 0, count: projectors.count)
        let overlay = ViewOverlay()
        // The last event visited; past `caughtUpFrom`, every projector has applied it.
        var visited: LogPosition = 0
        var caughtUpFrom: LogPosition = 0
        func commit(_ transaction: consuming LMDBWriteTransaction) throws {
            let txn = transaction.transaction
            try overlay.flush(txn)
            if visited >= caughtUpFrom {
                for index in positions.indices { positions[index] = max(positions[index], visited) }
            }
            for (index, projector) in projectors.enumerated() { try storeCheckpoint(projector, position: positions[index], txn) }
            try transaction.commit()
        }
        let routing = ProjectorRouting(projectors)
        var read = 0
        var start: LogPosition = 0
        var first = true
        // One write transaction per ``commitInterval`` events; a failure aborts the open one.
        while true {
            let transaction = try environment.beginWriteTransaction()
            let txn = transaction.transaction
            if first {
                first = false
                for (index, projector) in projectors.enumerated() {
                    let stored = try storedCheckpoint(projector.name, txn)
                    if let stored, stored.version == projector.version {
                        positions[index] = stored.position
                    } else {
                        for dbi in (handles[projector.name] ?? .none).values { try txn.empty(dbi) }
                        positions[index] = 0
                    }
                }
                start = (positions.min() ?? 0) + 1
                guard start <= last else {
                    try commit(transaction)
                    return 0
                }
                caughtUpFrom = (positions.max() ?? 0) + 1
            }
            let views = projectors.map { view($0.name, txn, writable: true, overlay: overlay) }
            var sinceCommit = 0
            _ = try reader.scan(from: start) { record in
                guard record.position <= last else { return false }
                let type = record.typeBytes
                if record.position >= caughtUpFrom {
                    // Every projector takes every event from here on (all of a rebuild): no
                    // per-projector positions to check and move.
                    for index in projectors.indices where routing.wants(index, type) {
                        try projectors[index].apply(record, to: views[index])
                    }
                } else {
                    for index in projectors.indices where positions[index] < record.position {
                        if routing.wants(index, type) { try projectors[index].apply(record, to: views[index]) }
                        positions[index] = record.position
                    }
                }
                visited = record.position
                read += 1
                sinceCommit += 1
                return sinceCommit < Self.commitInterval
            }
            try commit(transaction)
            guard sinceCommit == Self.commitInterval else { break }
            progress?(visited)
            start = visited + 1
        }
        progress?(last)
        return read
    }
}

/// Where a difference between two views lies.
public struct ViewDifference: Sendable, Hashable, CustomStringConvertible {
    /// `projector.database`.
    public var database: String
    /// The key, in hex.
    public var key: String
    /// What differs: a key only on one side, or different values.
    public var reason: String

    public var description: String { "\(database) key \(key): \(reason)" }
}

extension ViewsStore {
    /// Compares every database of `projectors` with `other`, key by key, in one read
    /// snapshot of each; returns the oldest checkpoint of this snapshot and up to `limit`
    /// differences.
    func differences(
        from other: ViewsStore,
        projectors: [any Projector],
        limit: Int = 10
    ) throws -> (position: LogPosition, differences: [ViewDifference]) {
        try environment.withReadTransaction { mine in
            let position = try projectors.map { try storedCheckpoint($0.name, mine)?.position ?? 0 }.min() ?? 0
            return try other.environment.withReadTransaction { theirs in
                var found: [ViewDifference] = []
                for projector in projectors {
                    for database in projector.databases {
                        guard found.count < limit,
                            let left = handles[projector.name]?[database],
                            let right = other.handles[projector.name]?[database]
                        else { continue }
                        try compare(
                            "\(projector.name).\(database)",
                            mine,
                            left,
                            theirs,
                            right,
                            limit: limit,
                            into: &found
                        )
                    }
                }
                return (position, found)
            }
        }
    }

    /// Writes a compacted copy of these views into the empty directory `path`.
    func copy(to path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try environment.copy(to: path)
    }

    /// Forgets `projector`'s checkpoint, so that the next catch-up empties it and folds the
    /// whole log into it again.
    func reset(_ projector: String) throws {
        try environment.withWriteTransaction { txn in _ = try txn.delete(projector, in: checkpoints) }
    }

    private func compare(
        _ name: String,
        _ leftTxn: LMDBTransaction,
        _ left: LMDBDatabase,
        _ rightTxn: LMDBTransaction,
        _ right: LMDBDatabase,
        limit: Int,
        into found: inout [ViewDifference]
    ) throws {
        func hex(_ bytes: UnsafeRawBufferPointer) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        try leftTxn.withCursor(left) { leftCursor in
            try rightTxn.withCursor(right) { rightCursor in
                var mine = try leftCursor.first()
                var theirs = try rightCursor.first()
                while found.count < limit && (mine != nil || theirs != nil) {
                    let order: Int
                    if let mine, let theirs {
                        order = leftTxn.compare(mine.key, theirs.key, in: left)
                    } else {
                        order = mine == nil ? 1 : -1
                    }
                    if order < 0, let entry = mine {
                        found.append(ViewDifference(database: name, key: hex(entry.key), reason: "only in the live views"))
                        mine = try leftCursor.next()
                    } else if order > 0, let entry = theirs {
                        found.append(ViewDifference(database: name, key: hex(entry.key), reason: "only in the rebuilt views"))
                        theirs = try rightCursor.next()
                    } else if let entry = mine, let other = theirs {
                        if !entry.value.elementsEqual(other.value) {
                            found.append(ViewDifference(database: name, key: hex(entry.key), reason: "values differ"))
                        }
                        mine = try leftCursor.next()
                        theirs = try rightCursor.next()
                    }
                }
            }
        }
    }
}
