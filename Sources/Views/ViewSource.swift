public import EventLog

/// Views a query can read: their last committed state, and the state of an open batch.
/// ``InlineProjections`` (LMDB) and ``InMemoryViews`` (unit tests) are such views.
public protocol ViewReading: Sendable {
    /// Runs `body` with the views of `projector` as last committed.
    func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T
    /// Runs `body` with the views of `projector` as batch `scope` has left them so far.
    func read<T>(_ projector: String, in scope: BatchScope, _ body: (ViewTransaction) throws -> T) throws -> T
    /// The oldest position every projector has applied in the committed views.
    func appliedPosition() throws -> LogPosition
}

/// Where a query reads the views: their last committed state, or the state a command's
/// batch has reached so far (what its decider must decide on). Chosen by whoever makes the
/// query, never by the thread it runs on.
public struct ViewSource: Sendable {
    private enum Kind: Sendable {
        case committed
        case batch(BatchScope)
    }

    /// The views read.
    public let views: any ViewReading
    private let kind: Kind

    private init(views: any ViewReading, kind: Kind) {
        self.views = views
        self.kind = kind
    }

    /// The last committed state, each read in a snapshot of its own.
    public static func committed(_ views: any ViewReading) -> ViewSource { ViewSource(views: views, kind: .committed) }

    /// The state batch `scope` has left so far; valid only while that batch is open (in its
    /// decider): a read after it throws ``ViewError``.
    public static func batch(_ scope: BatchScope, of views: any ViewReading) -> ViewSource {
        ViewSource(views: views, kind: .batch(scope))
    }

    /// Runs `body` with the views of `projector` from this source.
    public func read<T>(_ projector: String, _ body: (ViewTransaction) throws -> T) throws -> T {
        switch kind {
        case .committed: try views.read(projector, body)
        case .batch(let scope): try views.read(projector, in: scope, body)
        }
    }
}
