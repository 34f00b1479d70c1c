import EventLog

/// The events this process last committed or read from the log, in position order: the run
/// at the log's head that the readers following it on one node (the views' follower, the
/// analytics' follower, the live feed) ask for next. They take it from memory instead of
/// each reading and decoding it from PostgreSQL again.
///
/// Only committed events enter (an append's rows once PostgreSQL confirmed its `COMMIT`, or
/// rows read back), and a committed position never changes, so an entry is never stale.
/// It holds one contiguous run of at most `capacity` events; a run that does not continue
/// it replaces it. A read is served from it only when it holds the whole page asked for, or
/// everything up to the newest head this process has heard of (its own commits, `NOTIFY`
/// payloads, reads of the head): a short page then means what it means from PostgreSQL, the
/// head as of a moment ago.
struct RecentEvents {
    /// The most events held.
    let capacity: Int
    private var events: [RecordedEvent] = []
    /// Index of the first held event in `events` (the ones before it are dropped in bulk).
    private var first = 0
    /// The newest head heard of.
    private(set) var knownHead: LogPosition = 0

    init(capacity: Int) {
        precondition(capacity > 0, "RecentEvents needs room for one event")
        self.capacity = capacity
    }

    /// The positions held, nil when empty.
    var positions: ClosedRange<LogPosition>? {
        guard first < events.count else { return nil }
        return events[first].position...events[events.count - 1].position
    }

    /// Up to `limit` events from `position` on, in order; nil when they are not all held
    /// (the caller reads PostgreSQL).
    func events(from position: LogPosition, limit: Int) -> [RecordedEvent]? {
        guard limit > 0, let held = positions, held.contains(position) else { return nil }
        let start = first + Int(position - held.lowerBound)
        let end = limit >= events.count - start ? events.count : start + limit
        guard end - start == limit || held.upperBound >= knownHead else { return nil }
        return Array(events[start..<end])
    }

    /// Notes that the log's head has reached `head`.
    mutating func heard(head: LogPosition) {
        knownHead = max(knownHead, head)
    }

    /// Adds `run`: committed events with consecutive positions, in order.
    mutating func add(_ run: [RecordedEvent]) {
        guard let head = run.first, let last = run.last else { return }
        heard(head: last.position)
        if let held = positions, head.position >= held.lowerBound, head.position <= held.upperBound + 1 {
            let fresh = run.drop { $0.position <= held.upperBound }
            events.append(contentsOf: fresh)
        } else {
            events = Array(run.suffix(capacity))
            first = 0
        }
        let held = events.count - first
        if held > capacity { first += held - capacity }
        // Drop the unused front in bulk, so that keeping the newest costs O(1) per event.
        if first >= capacity {
            events.removeFirst(first)
            first = 0
        }
    }
}
