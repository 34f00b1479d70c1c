public import EventLog

/// Folds events into read models: one named part of the `views` environment.
///
/// A projector is a pure fold. It reads only the event it is given and its own
/// databases, uses no clock and no randomness, and so gives the same read models however
/// often the log is folded again.
public protocol Projector: Sendable {
    /// A stable name; its databases are stored as `name.database`.
    var name: String { get }
    /// Bump it when the read models' layout or meaning changes: the projector's databases are
    /// then emptied and the whole log is folded again on the next start.
    var version: UInt32 { get }
    /// The databases it keeps (each opened, and created when missing, at start).
    var databases: [String] { get }
    /// The beginnings of the event types it folds (`user-session.`); events of other types
    /// are not given to it. By default, every event.
    var eventTypePrefixes: [String] { get }
    /// Applies one event to the read models.
    func apply(_ record: EventView, to views: ViewTransaction) throws
}

extension Projector {
    /// Every event.
    public var eventTypePrefixes: [String] { [""] }
}

/// Which projectors an event goes to, by the beginning of its type: checked once per event
/// and projector before the call, which is cheaper than calling every projector (a fold
/// sees many events, and most concern one projector).
struct ProjectorRouting: Sendable {
    private let prefixes: [[[UInt8]]]

    init(_ projectors: [any Projector]) {
        prefixes = projectors.map { $0.eventTypePrefixes.map { Array($0.utf8) } }
    }

    /// Whether the projector at `index` folds events of `type`.
    func wants(_ index: Int, _ type: UnsafeRawBufferPointer) -> Bool {
        for prefix in prefixes[index] where ViewKey.matches(type, prefixOf: prefix) { return true }
        return false
    }
}
