public import EventLog

/// Where a query reads the views: their last committed state, or the state a command's
/// batch has reached so far (what its decider must decide on). Chosen by whoever makes the
/// query, never by the thread it runs on.
public struct ViewSource: Sendable {
    private enum Kind: Sendable {
        case committed
        case batch(BatchScope)
    }

    /// The views read.
    public let views: InlineProjections
    private let kind: Kind

    private init(views: InlineProjections, kind: Kind) {
        self.views = views
        self.kind = kind
    }

    /// The last committed state, each read in a snapshot of its own.
    public static func committed(_ views: InlineProjections) -> ViewSource { ViewSource(views: views, kind: .committed) }

    /// The state batch `scope` has left so far; valid only while that batch is open (in its
    /// decider): a read after it throws ``ViewError``.
    public static func batch(_ scope: BatchScope, of views: InlineProjections) -> ViewSource {
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
