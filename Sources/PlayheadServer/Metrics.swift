import EventLog
import Foundation
import Hummingbird
import LMDBLog
import Metrics
import PlayheadCore
import Projections
import Prometheus
import Synchronization
import Views

/// The process's Prometheus registry, bootstrapped into swift-metrics once: Hummingbird's
/// request metrics and Playhead's own land in it, and `GET /metrics` prints it.
enum PlayheadMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Prometheus names allow no dots; swift-metrics labels (Hummingbird's) use them.
        factory.nameAndLabelSanitizer = { name, labels in
            (name.replacingOccurrences(of: ".", with: "_"), labels.map { ($0.0.replacingOccurrences(of: ".", with: "_"), $0.1) })
        }
        factory.valueHistogramBuckets["playhead_append_batch_events"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    static let batchEvents = Recorder(label: "playhead_append_batch_events")
    static let batchSubmissions = Recorder(label: "playhead_append_batch_submissions")
    static let commitTime = Metrics.Timer(label: "playhead_append_commit_seconds")
    static let projectionLag = Gauge(label: "playhead_projection_lag_events")
    static let logHead = Gauge(label: "playhead_log_head_position")
    /// Party rooms that fell behind the live feed and caught up from the log.
    static let partyRoomRecoveries = Metrics.Counter(label: "playhead_party_room_recoveries_total")

    /// Records one commit of the log's writer (called on the writer thread).
    static func record(_ report: CommitReport) {
        // The metric objects bind to the factory when first made: bootstrap it first.
        _ = registry
        batchEvents.record(report.events)
        batchSubmissions.record(report.submissions)
        commitTime.recordNanoseconds(
            report.duration.nanoseconds
        )
    }

    /// The text exposition, after updating the gauges that are read rather than pushed.
    static func exposition(readiness: (head: LogPosition, lag: UInt64, asyncLag: UInt64, failure: String?)) -> String {
        logHead.record(readiness.head)
        projectionLag.record(readiness.lag)
        return registry.emitToString()
    }
}

/// Counts requests and times them per method, route pattern and status:
/// `http_requests_total` and `http_request_duration_seconds`.
///
/// Hummingbird's `MetricsMiddleware` makes its metric objects anew for every request, which
/// costs more than a heartbeat's whole write path; this one makes them once per label set
/// and keeps them. Paths that match no route share one route label (Hummingbird's `NotFound`,
/// or `unmatched` when a request is refused before routing), so that scanners can't grow
/// the label set without bound.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext

    private struct Labels: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private final class Store: Sendable {
        let metrics = Mutex<[Labels: (requests: Metrics.Counter, duration: Metrics.Timer)]>([:])
    }

    private let store = Store()
    /// Any other method (HTTP allows any token) is counted as `OTHER`.
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, status: response.status.code, since: started)
            return response
        } catch {
            record(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, since started: ContinuousClock.Instant) {
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "OTHER"
        let labels = Labels(method: method, route: context.endpointPath ?? "unmatched", status: status)
        let (requests, duration) = store.metrics.withLock { metrics in
            if let known = metrics[labels] { return known }
            let dimensions = [("method", labels.method), ("route", labels.route), ("status", String(labels.status))]
            let made = (
                Metrics.Counter(label: "http_requests_total", dimensions: dimensions),
                Metrics.Timer(label: "http_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
            )
            metrics[labels] = made
            return made
        }
        requests.increment()
        duration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
    }
}

extension Duration {
    /// Whole nanoseconds, as swift-metrics timers take them.
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
