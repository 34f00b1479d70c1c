import ArgumentParser
import EventLog
import Foundation
import LMDBLog
import Logging
import PlayheadCore
import PlayheadServer
import PostgresLog
import Projections
import Synchronization
import Views
import WatchDomain

/// Where the HS256 secret comes from: `--jwt-secret`, else `PLAYHEAD_JWT_SECRET`, else the
/// store's own `jwt-secret` file (made with 32 random bytes the first time, mode 0600), so
/// that `serve` and `token` agree on a fresh machine without any set-up.
struct SecretOptions: ParsableArguments {
    @Option(name: .customLong("jwt-secret"), help: "The HS256 secret (default: $PLAYHEAD_JWT_SECRET, else <data-dir>/jwt-secret).")
    var jwtSecret: String?

    /// A secret, and the file it must be saved to when it was made just now.
    struct Resolved {
        /// The secret.
        var secret: String
        /// The store's `jwt-secret` file, when the secret is new and not written yet.
        var unsavedFile: String?

        /// Writes a new secret to its file (mode 0600), once; does nothing for a given one.
        ///
        /// - Throws: ``RuntimeError`` naming the file.
        func save() throws {
            guard let unsavedFile else { return }
            let directory = (unsavedFile as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw RuntimeError("cannot create \(directory): \(error.localizedDescription)")
            }
            guard
                FileManager.default.createFile(
                    atPath: unsavedFile,
                    contents: Data((secret + "\n").utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else {
                throw RuntimeError("cannot write \(unsavedFile); give a secret with --jwt-secret or PLAYHEAD_JWT_SECRET instead")
            }
            printError("playhead: made a new JWT secret in \(unsavedFile)")
        }
    }

    /// The secret, from the first of `--jwt-secret`, `PLAYHEAD_JWT_SECRET` and the store's
    /// file that is there; a new random one (not yet saved) when none is.
    ///
    /// - Throws: ``RuntimeError`` when the secret found is shorter than
    ///   ``TokenAuthority/minimumSecretBytes`` bytes.
    func resolve(_ store: StoreOptions) throws -> Resolved {
        if let jwtSecret { return Resolved(secret: try checked(jwtSecret, "--jwt-secret")) }
        if let secret = ProcessInfo.processInfo.environment["PLAYHEAD_JWT_SECRET"] {
            return Resolved(secret: try checked(secret, "PLAYHEAD_JWT_SECRET"))
        }
        let path = store.resolvedDataDirectory + "/jwt-secret"
        if let data = FileManager.default.contents(atPath: path) {
            return Resolved(secret: try checked(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), path))
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        return Resolved(secret: secret, unsavedFile: path)
    }

    private func checked(_ secret: String, _ source: String) throws -> String {
        let minimum = TokenAuthority.minimumSecretBytes
        guard secret.utf8.count >= minimum else {
            throw RuntimeError(
                "the JWT secret from \(source) is \(secret.utf8.count) bytes, and it must be at least \(minimum); "
                    + "give a longer one (e.g. the output of `openssl rand -hex 32`)"
            )
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
        discussion: """
            Stops cleanly on SIGINT or SIGTERM; every acknowledged request is durable before its answer. \
            If it can't start (the port is in use, the store is in use), it changes nothing in the data directory.
            """
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

    @Flag(
        inversion: .prefixedNo,
        help: """
            Fold the asynchronous projections (the video and party analytics) behind the writer. \
            --no-async-projections leaves them where they are (the analytics answer what was \
            folded before; /ready reports the lag): for measuring what folding costs the write path.
            """
    )
    var asyncProjections = true

    /// With a PostgreSQL log, the server is one of several nodes: the data directory holds
    /// only its views, and every node needs the same JWT secret.
    @OptionGroup var postgres: PostgresLogOption

    private var level: Logger.Level? {
        Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["PLAYHEAD_LOG_LEVEL"] ?? "info")
    }

    func validate() throws {
        guard level != nil else {
            throw ValidationError("unknown log level \(logLevel ?? ProcessInfo.processInfo.environment["PLAYHEAD_LOG_LEVEL"] ?? "")")
        }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        _ = try parseDuration(sessionTimeout, option: "--session-timeout")
        _ = try parseDuration(groupCommitWindow, option: "--group-commit-window", allowZero: true)
    }

    func run() async throws {
        let level = self.level ?? .info
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
        // Nothing is written before the server listens: a new secret is saved once it does,
        // and the port is tried before the store is opened (or made).
        let resolved = try secret.resolve(store)
        if port != 0 { try ListenProbe.check(host: host, port: port) }
        var configuration = ServerConfiguration(jwtSecret: resolved.secret)
        configuration.host = host
        configuration.port = port
        configuration.sessionTimeout = try parseDuration(sessionTimeout, option: "--session-timeout")
        configuration.foldsAsyncProjections = asyncProjections
        let logger = configuration.logger
        let window = try parseDuration(groupCommitWindow, option: "--group-commit-window", allowZero: true)
        if let url = postgres.resolved {
            try await serveNode(url, configuration: configuration, secret: resolved)
            return
        }
        try checkLog(logger)
        let footprint = StartupFootprint(store: store)
        let opened: PlayheadStore
        do {
            opened = try PlayheadStore(directory: store.resolvedDataDirectory) {
                $0.commitObserver = PlayheadHTTPServer.commitObserver
                $0.groupCommitWindow = window
                $0.logger = logger
            }
        } catch {
            footprint.undo()
            if let error = error as? EventLogError { throw store.explain(error) }
            throw RuntimeError("cannot open the store at \(store.resolvedDataDirectory): \(error)")
        }
        let listening = StartedFlag()
        do {
            try await PlayheadHTTPServer.run(store: opened, configuration: configuration) { port in
                listening.value.store(true, ordering: .sequentiallyConsistent)
                do {
                    try resolved.save()
                } catch {
                    logger.error("could not save the new JWT secret; tokens made by `playhead token` will not match", metadata: ["error": "\(error)"])
                }
            }
        } catch {
            await opened.close()
            guard listening.value.load(ordering: .sequentiallyConsistent) else {
                // It never served: leave the data directory as it was.
                footprint.undo()
                if port != 0 { try ListenProbe.check(host: self.host, port: port) }
                throw RuntimeError("the server could not start on \(self.host):\(port): \(error)")
            }
            throw error
        }
        await opened.close()
    }

    /// Serves a node over the PostgreSQL log at `url`, with its views in the data directory.
    private func serveNode(_ url: String, configuration: ServerConfiguration, secret: SecretOptions.Resolved) async throws {
        let logger = configuration.logger
        // A secret made up here would be this node's alone: tokens of one node would be
        // refused by the others.
        if secret.unsavedFile != nil {
            throw RuntimeError(
                "a node needs the JWT secret every node shares: give --jwt-secret or PLAYHEAD_JWT_SECRET (e.g. the output of `openssl rand -hex 32`)"
            )
        }
        let location = try postgres.location(url)
        var logConfiguration = PostgresEventLog.Configuration()
        logConfiguration.logger = logger
        let node: PlayheadNode
        do {
            node = try await PlayheadNode.open(directory: store.resolvedDataDirectory, log: location, configuration: logConfiguration)
        } catch let error as EventLogError {
            throw RuntimeError("cannot open the node: \(error.message)")
        }
        do {
            try await PlayheadHTTPServer.run(served: .node(node), configuration: configuration)
        } catch {
            await node.close()
            throw RuntimeError("the node could not serve on \(host):\(port): \(error)")
        }
        await node.close()
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
            throw RuntimeError("another process has the log at \(directory) open for writing (is the server already running?)")
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

/// Set once the server listens.
private final class StartedFlag: Sendable {
    let value = Atomic(false)
}

/// Tries whether the server could listen on an address, before anything is written.
enum ListenProbe {
    /// Binds a socket to `host`:`port` (as the server will, with `SO_REUSEADDR`) and closes it.
    ///
    /// - Throws: ``RuntimeError``: the port is in use, the address is not this machine's,
    ///   the port needs privileges, the host does not resolve.
    static func check(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &found)
        guard resolved == 0, let first = found else {
            throw RuntimeError("cannot listen on \(host): \(String(cString: gai_strerror(resolved))); choose another address with --host")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return }  // no socket to try with: the server will say what is wrong
        defer { close(descriptor) }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return }
        switch errno {
        case EADDRINUSE:
            throw RuntimeError("port \(port) is in use; choose another with --port")
        case EACCES:
            throw RuntimeError("this user may not listen on port \(port) (ports below 1024 need privileges); choose another with --port")
        case EADDRNOTAVAIL:
            throw RuntimeError("\(host) is not an address of this machine; choose another with --host")
        case let code:
            throw RuntimeError("cannot listen on \(host):\(port): \(String(cString: strerror(code))); choose another --host or --port")
        }
    }
}

/// What `serve` may create in the data directory before it listens, so that a start that
/// fails can remove it again: the directory itself, its log, its live views.
struct StartupFootprint {
    private let created: [String]

    /// Notes which of the store's parts do not exist yet.
    init(store: StoreOptions) {
        let directory = store.resolvedDataDirectory
        let files = FileManager.default
        if !files.fileExists(atPath: directory) {
            created = [directory]
            return
        }
        created = [store.logDirectory, ViewsLocation(store: directory).current()].filter { !files.fileExists(atPath: $0) }
    }

    /// Removes what did not exist when this was made.
    func undo() {
        for path in created { try? FileManager.default.removeItem(atPath: path) }
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
        _ = try parseDuration(ttl, option: "--ttl")
    }

    func run() async throws {
        let resolved = try secret.resolve(store)
        let authority = try await TokenAuthority(secret: resolved.secret)
        let token = try await authority.token(userId: user, admin: admin, lifetime: try parseDuration(ttl, option: "--ttl"))
        try resolved.save()
        print(token)
    }
}
