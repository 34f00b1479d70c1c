import HTTPTypes
import Hummingbird
import Synchronization

/// The routes the router serves, as path patterns and their methods, for answering a known
/// path asked with a method it does not serve: `405 Method Not Allowed` with an `Allow`
/// header (RFC 9110 §15.5.6), where the router alone would answer 404.
///
/// Filled once, after every route is added (``record(_:)``); read by ``ProblemMiddleware``.
final class RouteTable: Sendable {
    private struct Route {
        /// The pattern's segments: literal text, or nil for a `:capture`.
        var segments: [Substring?]
        var methods: Set<String>
    }

    private let routes = Mutex<[Route]>([])

    /// Takes the routes of `router`.
    func record(_ router: Router<PlayheadRequestContext>) {
        var byPattern: [String: Route] = [:]
        for route in router.routes {
            let pattern = route.path.description
            // Hummingbird writes a capture as `{name}`.
            let segments = pattern.split(separator: "/").map { $0.first == "{" || $0 == "*" ? nil : $0 }
            byPattern[pattern, default: Route(segments: segments, methods: [])].methods.insert(route.method.rawValue)
        }
        routes.withLock { $0 = Array(byPattern.values) }
    }

    /// The methods served at `path`, sorted, with `HEAD` wherever `GET` is; nil when no route
    /// matches it. Where several patterns match, the router takes the one with a literal
    /// segment earliest (`/progress/sync` over `/progress/:userId`), and so does this.
    func allowedMethods(_ path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let best = routes.withLock { routes -> Route? in
            let matching = routes.filter { route in
                route.segments.count == parts.count
                    && zip(route.segments, parts).allSatisfy { segment, part in segment.map { $0.utf8.elementsEqual(part.utf8) } ?? true }
            }
            return matching.min { left, right in
                // The first segment where one pattern is literal and the other a capture decides.
                for (l, r) in zip(left.segments, right.segments) where (l == nil) != (r == nil) { return l != nil }
                return false
            }
        }
        guard let methods = best?.methods else { return nil }
        var allowed = methods
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return allowed.sorted()
    }
}
