import EventLog
import Foundation
import HTTPTypes
public import Hummingbird
import LMDBLog
import Logging
import PlayheadCore
import Views
import WatchDomain

/// An error answered as `application/problem+json` (RFC 9457): a status, a detail for
/// people and, for a bad input, the field it concerns.
public struct Problem: Error, HTTPResponseError, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// What went wrong, for people.
    public var detail: String
    /// The request field at fault, when there is one (`startDate`, `engaged`, …).
    public var field: String?
    /// Extra response headers.
    public var headers: HTTPFields = [:]
    /// Extra members of the problem document (RFC 9457 §3.2), each an object of strings:
    /// a 409 for a second purchase shows the first one as `purchase`.
    public var objectMembers: [String: [String: String]] = [:]

    /// Creates a problem.
    public init(_ status: HTTPResponse.Status, _ detail: String, field: String? = nil) {
        self.status = status
        self.detail = detail
        self.field = field
    }

    /// The answer to a refused command: its code's status, its message and its field.
    init(_ error: CommandError) {
        switch error.code {
        case .notFound: self.init(.notFound, error.message)
        case .forbidden: self.init(.forbidden, error.message, field: error.field)
        case .conflict: self.init(.conflict, error.message, field: error.field)
        case .unexpected: self.init(.internalServerError, error.message)
        default: self.init(.badRequest, error.message, field: error.field)
        }
    }

    /// A 400 about `field`.
    static func badField(_ field: String, _ detail: String) -> Problem { Problem(.badRequest, detail, field: field) }

    public var description: String { "\(status.code) \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: Any] = [
            "type": "about:blank",
            "title": status.reasonPhrase,
            "status": status.code,
            "detail": detail,
            "instance": request.uri.path,
        ]
        if let field { object["field"] = field }
        for (name, member) in objectMembers { object[name] = member }
        let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error a route throws into a ``Problem``: the domain's refusals into their
/// statuses, Hummingbird's own errors (no such route, …) into problem documents, and
/// anything unexpected into a logged 500 that reveals nothing.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = PlayheadRequestContext
    /// The served routes: a path the router knows, asked with another method, is a 405.
    var routes = RouteTable()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // The router found no route for this method; another method may have one.
            guard let allowed = routes.allowedMethods(request.uri.path) else {
                return try Self.problem(for: error, context: context).response(from: request, context: context)
            }
            var problem = Problem(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: ", "))")
            problem.headers[.allow] = allowed.joined(separator: ", ")
            return try problem.response(from: request, context: context)
        } catch {
            return try Self.problem(for: error, context: context).response(from: request, context: context)
        }
    }

    static func problem(for error: any Error, context: Context) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as CommandError:
            return Problem(error)
        case let error as HTTPError:
            return Problem(error.status, error.body ?? error.status.reasonPhrase)
        case let error as EventLogError where error.code == .invalidRequest:
            return Problem(.badRequest, error.message)
        case let error as EventLogError where error.code == .unavailable:
            // The shared log (PostgreSQL) cannot be reached: nothing was acknowledged.
            context.logger.warning("the log is unavailable", metadata: ["error": "\(error.message)"])
            var problem = Problem(.serviceUnavailable, "the event log is unavailable; nothing was acknowledged, retry shortly")
            problem.headers[.retryAfter] = "1"
            return problem
        case let error as EventLogError where error.code == .overloaded:
            var problem = Problem(.serviceUnavailable, "the event log is overloaded; retry shortly")
            problem.headers[.retryAfter] = "1"
            return problem
        case let error as any HTTPResponseError:
            return Problem(error.status, error.status.reasonPhrase)
        default:
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return Problem(.internalServerError, "the server could not complete the request")
        }
    }
}
