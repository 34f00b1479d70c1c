import ArgumentParser
import EventLog
import Foundation
import Logging
import PlayheadServer
import Projections
import WatchDomain

/// Where the HS256 secret comes from: `--jwt-secret`, else `PLAYHEAD_JWT_SECRET`, else the
/// store's own `jwt-secret` file (made with 32 random bytes the first time, mode 0600), so
/// that `serve` and `token` agree on a fresh machine without any set-up.
struct SecretOptions: ParsableArguments {
    @Option(name: .customLong("jwt-secret"), help: "The HS256 secret (default: $PLAYHEAD_JWT_SECRET, else <data-dir>/jwt-secret).")
    var jwtSecret: String?

    func resolve(_ store: StoreOptions) throws -> String {
        if let jwtSecret { return try checked(jwtSecret, "--jwt-secret") }
        if let secret = ProcessInfo.processInfo.environment["PLAYHEAD_JWT_SECRET"] { return try checked(secret, "PLAYHEAD_JWT_SECRET") }
        let path = store.resolvedDataDirectory + "/jwt-secret"
        if let data = FileManager.default.contents(atPath: path), let secret = String(data: data, encoding: .utf8) {
            return try checked(secret.trimmingCharacters(in: .whitespacesAndNewlines), path)
        }
        try FileManager.default.createDirectory(atPath: store.resolvedDataDirectory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(path)")
        }
        printError("playhead: made a new JWT secret in \(path)")
        return secret
    }

    private func checked(_ secret: String, _ source: String) throws -> String {
        guard secret.utf8.count >= TokenAuthority.minimumSecretBytes else {
            throw ValidationError("the JWT secret from \(source) must be at least \(TokenAuthority.minimumSecretBytes) bytes")
        }
        return secret
    }
}

/// Parses a whole number of `us`, `ms`, `s` (the default), `m`, `h` or `d`: `90`, `500us`,
/// `2ms`, `90s`, `15m`, `1h`, `2d`.
func parseDuration(_ text: String, option: String, allowZero: Bool = false) throws -> Duration {
    let units: [(suffix: String, microseconds: Int64)] = [
        ("us", 1), ("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000),
    ]
    var digits = Substring(text)
    var unit: Int64 = 1_000_000
    if let match = units.first(where: { text.hasSuffix($0.suffix) && Int64(text.dropLast($0.suffix.count)) != nil }) {
        unit = match.microseconds
        digits = digits.dropLast(match.suffix.count)
    }
    guard let value = Int64(digits), value > 0 || (allowZero && value == 0), value <= Int64.max / unit else {
        throw ValidationError("\(option) must be a \(allowZero ? "" : "positive ")duration like 500us, 2ms, 90s, 15m, 1h or 2d")
    }
    return .microseconds(value * unit)
}

/// `playhead serve`: the HTTP server on the embedded store.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the REST API on the embedded store.",
        discussion: "Stops cleanly on SIGINT or SIGTERM; every acknowledged request is durable before its answer."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var secret: SecretOptions

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port).")
    var port = 8080

    @Option(help: "How long a user session may be silent before it expires (e.g. 1h, 30m).")
    var sessionTimeout = "1h"

    @Option(
        help: """
            After a commit that answered several requests, how long the writer may wait for as \
            many to arrive before it commits again (e.g. 1ms, 0 to never wait). Larger batches \
            mean fewer fsyncs per request under load; a quiet server never waits.
            """
    )
    var groupCommitWindow = "1ms"

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (default: $PLAYHEAD_LOG_LEVEL, else info).")
    var logLevel: String?

    func run() async throws {
        let levelName = logLevel ?? ProcessInfo.processInfo.environment["PLAYHEAD_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown --log-level \(levelName)") }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
        var configuration = ServerConfiguration(jwtSecret: try secret.resolve(store))
        configuration.host = host
        configuration.port = port
        configuration.sessionTimeout = try parseDuration(sessionTimeout, option: "--session-timeout")
        let logger = configuration.logger
        let window = try parseDuration(groupCommitWindow, option: "--group-commit-window", allowZero: true)
        try checkLog(logger)
        let opened: PlayheadStore
        do {
            opened = try PlayheadStore(directory: store.resolvedDataDirectory) {
                $0.commitObserver = PlayheadHTTPServer.commitObserver
                $0.groupCommitWindow = window
                $0.logger = logger
            }
        } catch let error as EventLogError {
            throw ValidationError(error.message)
        }
        let host = configuration.host
        do {
            try await PlayheadHTTPServer.run(store: opened, configuration: configuration) { port in
                logger.notice("playhead serving", metadata: ["address": "http://\(host):\(port)", "store": "\(opened.directory)"])
            }
        } catch {
            await opened.close()
            throw error
        }
        await opened.close()
    }

    /// Verifies the log (structure, every record's checksum, the stream index) before the
    /// server opens it, in a child process (`verify --in-process`), and refuses to start on
    /// damage: a damaged record would otherwise be folded into the views, or skipped, and
    /// the server would append after it. Costs a read of the whole log: about a second per
    /// million events (Docs/operations.md).
    private func checkLog(_ logger: Logger) throws {
        let directory = store.logDirectory
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else { return }
        guard !LMDBEventLog.hasWriter(directory: directory) else {
            throw ValidationError("another process has the log at \(directory) open for writing")
        }
        let started = ContinuousClock.now
        let outcome = try IsolatedCheck.run(["verify", "--in-process", "--data-dir", store.resolvedDataDirectory], captureOutput: true)
        guard outcome.failure == nil, outcome.status == 0 else {
            FileHandle.standardError.write(Data(outcome.stderr.utf8))
            if let failure = outcome.failure { printError("verify: FAILED: \(failure)") }
            printError(
                "serve: the log at \(directory) failed its check (above), so the server does not start: it would "
                    + "serve and append to a log it cannot trust. Docs/operations.md, \"A damaged log\", says what to do."
            )
            throw ExitCode(1)
        }
        logger.notice(
            "log verified",
            metadata: [
                "result": "\(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))",
                "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))",
            ]
        )
    }
}

/// `playhead token`: mints a bearer token for local use.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a bearer token (HS256 JWT) for a user, signed with the server's secret."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var secret: SecretOptions

    @Option(help: "The user id (the token's sub).")
    var user: String

    @Flag(help: "Mark the user as an administrator (role: admin).")
    var admin = false

    @Option(help: "How long the token is valid (e.g. 1h, 30m, 7d).")
    var ttl = "1h"

    func validate() throws {
        guard (1...UserSessionEvents.maxUserIdBytes).contains(user.utf8.count) else {
            throw ValidationError("--user must be 1 to \(UserSessionEvents.maxUserIdBytes) bytes")
        }
    }

    func run() async throws {
        let authority = try await TokenAuthority(secret: try secret.resolve(store))
        print(try await authority.token(userId: user, admin: admin, lifetime: try parseDuration(ttl, option: "--ttl")))
    }
}
