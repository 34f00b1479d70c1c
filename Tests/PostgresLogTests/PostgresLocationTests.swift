import EventLog
import PostgresNIO
import Testing

@testable import PostgresLog

@Suite("PostgresLocation: a log's URL, as libpq writes it")
struct PostgresLocationTests {
    @Test("host, port, user and database are read; the database defaults to the user's name, as libpq's")
    func parts() throws {
        let location = try PostgresLocation(url: "postgresql://ana@db.example:6543/playhead?sslmode=disable")
        #expect(location.connection.host == "db.example")
        #expect(location.connection.port == 6543)
        #expect(location.connection.username == "ana")
        #expect(location.connection.database == "playhead")
        let defaults = try PostgresLocation(url: "postgres://ana@db.example")
        #expect(defaults.connection.port == 5432)
        #expect(defaults.connection.database == "ana")
    }

    @Test("an IPv6 host is written in brackets and connected to without them")
    func ipv6() throws {
        let location = try PostgresLocation(url: "postgres://postgres@[::1]:5433/playhead?sslmode=disable")
        #expect(location.connection.host == "::1")
        #expect(location.configuration.host == "::1")
        #expect(location.connection.port == 5433)
        #expect(location.description == "postgres://postgres@[::1]:5433/playhead?sslmode=disable")
    }

    @Test("a password is used but never shown; a bad scheme, port, sslmode or missing host is refused")
    func refusals() throws {
        let location = try PostgresLocation(url: "postgres://u:s%40cret@h:5/db")
        #expect(location.connection.password == "s@cret")
        #expect(location.description == "postgres://u:***@h:5/db")
        for url in ["mysql://h/db", "postgres://u@h:70000/db", "postgres://u@h/db?sslmode=sometimes", "postgres:///db", "not a url"] {
            #expect(throws: EventLogError.self, "\(url)") { try PostgresLocation(url: url) }
        }
    }
}
