import EventLog
import Logging
import PostgresNIO

/// The log's tables, created and migrated by Playhead itself.
///
/// `playhead_schema` records every migration applied, with its number. Opening a log applies
/// the missing ones in order, each in its own transaction, under a transaction-level advisory
/// lock, so that nodes starting together apply each exactly once. A database with a migration
/// newer than this binary knows is refused (`EventLogError` code `newerFormat`): an older
/// node must not write to a log whose rules it does not know.
enum Schema {
    /// The advisory lock every migration takes (an arbitrary constant: "playhead" in ASCII).
    static let migrationLock: Int64 = 0x706C_6179_6865_6164

    /// The migrations, in order; the number of the last one is the schema's version.
    static let migrations: [(version: Int32, description: String, sql: [String])] = [
        (
            1, "the events, the streams' versions, idempotency keys and the head",
            [
                """
                CREATE TABLE playhead_events (
                    position bigint PRIMARY KEY,
                    stream text NOT NULL,
                    stream_version bigint NOT NULL,
                    type text NOT NULL,
                    recorded_at bigint NOT NULL,
                    occurred_at bigint,
                    event_id uuid NOT NULL,
                    correlation_id uuid,
                    causation_id uuid,
                    actor text NOT NULL,
                    payload bytea NOT NULL,
                    UNIQUE (stream, stream_version)
                )
                """,
                "CREATE TABLE playhead_streams (stream text PRIMARY KEY, version bigint NOT NULL, last_position bigint NOT NULL)",
                "CREATE TABLE playhead_idempotency (key text PRIMARY KEY, first_position bigint NOT NULL, last_position bigint NOT NULL)",
                // One row: the last position given out and the last recorded-at. Its row lock is
                // what orders every append (see Docs/architecture.md, "The log on PostgreSQL").
                """
                CREATE TABLE playhead_head (
                    id integer PRIMARY KEY CHECK (id = 1),
                    position bigint NOT NULL,
                    recorded_at bigint NOT NULL
                )
                """,
                "INSERT INTO playhead_head (id, position, recorded_at) VALUES (1, 0, -9223372036854775808)",
            ]
        )
    ]

    /// The schema version this binary writes.
    static var version: Int32 { migrations.last?.version ?? 0 }

    /// Applies the migrations the database lacks, in one transaction under the advisory lock
    /// (DDL is transactional in PostgreSQL: a failed migration leaves nothing behind); returns
    /// the version the database is at.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int32 {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS playhead_schema (
                        version integer PRIMARY KEY,
                        description text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    logger: logger
                )
                var newest: Int32 = 0
                for try await stored in try await connection.query("SELECT coalesce(max(version), 0) FROM playhead_schema", logger: logger)
                    .decode(Int32.self)
                {
                    newest = stored
                }
                if newest > version {
                    throw EventLogError(
                        .newerFormat,
                        "the PostgreSQL log is at schema version \(newest); this playhead knows versions up to \(version)"
                    )
                }
                for migration in migrations where migration.version > newest {
                    for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await connection.query(
                        "INSERT INTO playhead_schema (version, description) VALUES (\(migration.version), \(migration.description))",
                        logger: logger
                    )
                    logger.notice("PostgreSQL log migrated", metadata: ["version": "\(migration.version)"])
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            return version
        }
    }
}
