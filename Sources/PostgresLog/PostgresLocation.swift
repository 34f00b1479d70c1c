import EventLog
import Foundation
public import PostgresNIO

/// Where a PostgreSQL log lives: a `postgres://user[:password]@host[:port]/database` URL
/// (also `postgresql://`), as libpq writes it. `sslmode` may be `disable`, `prefer` (the
/// default, as libpq's) or `require`; a `host` query item naming a directory connects through
/// that Unix-domain socket.
///
/// The password never appears in `description`.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// The pool configuration the URL describes.
    public var configuration: PostgresClient.Configuration
    /// The same, for one connection (what `open` tries first, to fail fast and clearly).
    package var connection: PostgresConnection.Configuration
    /// The URL with its password replaced by `***`: what logs and errors show.
    public let description: String

    /// Parses `url`.
    ///
    /// - Throws: `EventLogError` with code `invalidRequest`, naming what is wrong.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw EventLogError(.invalidRequest, "a PostgreSQL log is a postgres://user@host:port/database URL, not \(Self.redacted(url))")
        }
        if let port = components.port, !(1...65_535).contains(port) {
            throw EventLogError(.invalidRequest, "the port of a PostgreSQL URL must be 1 to 65535, not \(port)")
        }
        let user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding }
        var database = String(components.path.drop(while: { $0 == "/" }))
        if database.isEmpty { database = user }
        let items = components.queryItems ?? []
        enum TLSMode { case disable, prefer, require }
        let tlsMode: TLSMode
        switch items.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": tlsMode = .disable
        case "prefer", "allow": tlsMode = .prefer
        case "require", "verify-ca", "verify-full": tlsMode = .require
        case let other: throw EventLogError(.invalidRequest, "sslmode must be disable, prefer or require, not \(other)")
        }
        if let socketDirectory = items.first(where: { $0.name == "host" })?.value, socketDirectory.hasPrefix("/") {
            let port = components.port ?? 5432
            let path = "\(socketDirectory)/.s.PGSQL.\(port)"
            configuration = PostgresClient.Configuration(unixSocketPath: path, username: user, password: password, database: database)
            connection = PostgresConnection.Configuration(unixSocketPath: path, username: user, password: password, database: database)
        } else {
            guard var host = components.host, !host.isEmpty else {
                throw EventLogError(.invalidRequest, "a PostgreSQL URL needs a host: \(Self.redacted(url))")
            }
            // An IPv6 address is written in brackets in a URL (RFC 3986), and kept in them by
            // URLComponents; the resolver wants it bare.
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let clientTLS: PostgresClient.Configuration.TLS =
                switch tlsMode {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            configuration = PostgresClient.Configuration(
                host: host,
                port: components.port ?? 5432,
                username: user,
                password: password,
                database: database,
                tls: clientTLS
            )
            let connectionTLS: PostgresConnection.Configuration.TLS =
                switch tlsMode {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            connection = PostgresConnection.Configuration(
                host: host,
                port: components.port ?? 5432,
                username: user,
                password: password,
                database: database,
                tls: connectionTLS
            )
        }
        description = Self.redacted(url)
    }

    /// `url` with the password of its user part replaced by `***`.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }
}
