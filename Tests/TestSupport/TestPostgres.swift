public import Foundation
import Logging
public import PostgresNIO

/// The PostgreSQL server the tests use: `tools/test` starts one on loopback (`tools/postgres`)
/// and names it in `PLAYHEAD_TEST_POSTGRES_URL`. Each test gets a database of its own.
public enum TestPostgres {
    /// The server's URL (its database is only used to create and drop the tests' own).
    public static var url: String? {
        guard let url = ProcessInfo.processInfo.environment["PLAYHEAD_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// Whether a server was named. The tests that need one are disabled without it, saying so:
    /// run them with `tools/test`, which starts it.
    public static var isAvailable: Bool { url != nil }

    /// Runs `body` with the URL of a new, empty database on the test server, dropped afterwards.
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let url, var components = URLComponents(string: url) else {
            throw TestPostgresError("PLAYHEAD_TEST_POSTGRES_URL is not set: run the tests with tools/test, which starts PostgreSQL")
        }
        let name = "playhead_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await administer(components, "CREATE DATABASE \(name)")
        components.path = "/" + name
        guard let databaseURL = components.string else { throw TestPostgresError("bad URL \(url)") }
        do {
            let result = try await body(databaseURL)
            try? await administer(components, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await administer(components, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    /// Runs one statement on the server's maintenance database.
    public static func administer(_ server: URLComponents, _ sql: String) async throws {
        var components = server
        components.path = "/postgres"
        _ = try await withConnection(components) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// Runs `body` with a connection of its own to the database `url` names.
    public static func withConnection<T>(_ url: URLComponents, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: url.host ?? "127.0.0.1",
            port: url.port ?? 5432,
            username: url.user ?? "postgres",
            password: url.password,
            database: String(url.path.dropFirst()),
            tls: .disable
        )
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static let logger = Logger(label: "playhead.tests.postgres")
}

/// A test's PostgreSQL set-up failed.
public struct TestPostgresError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
