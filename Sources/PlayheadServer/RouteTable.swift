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

    /// The methods served at `path`, sorted, with `HEAD` wherever `GET` is; nil when the
    /// router has no route there. Walks the patterns as the router's trie does: at each
    /// segment a literal match wins over a capture, with no going back (`/progress/summary`
    /// follows the literal `summary` and finds no route, though `/progress/{userId}` would
    /// match it).
    func allowedMethods(_ path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let methods = routes.withLock { routes -> Set<String>? in
            var candidates = routes
            for (index, part) in parts.enumerated() {
                candidates = candidates.filter { $0.segments.count > index }
                let literal = candidates.filter { $0.segments[index].map { $0.utf8.elementsEqual(part.utf8) } ?? false }
                candidates = literal.isEmpty ? candidates.filter { $0.segments[index] == nil } : literal
            }
            let found = candidates.filter { $0.segments.count == parts.count }
            return found.isEmpty ? nil : found.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
        guard let methods else { return nil }
        var allowed = methods
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return allowed.sorted()
    }
}
