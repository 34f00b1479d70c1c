// swift-tools-version:6.1
import PackageDescription

/// Strict settings for every Swift target (Swift 6 language mode is the default at tools 6.x).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-warnings-as-errors"], .when(configuration: .debug)),
]

let package = Package(
    name: "playhead",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "LMDBLog", targets: ["LMDBLog"]),
        .library(name: "PostgresLog", targets: ["PostgresLog"]),
        .library(name: "WatchDomain", targets: ["WatchDomain"]),
        .library(name: "Views", targets: ["Views"]),
        .library(name: "Projections", targets: ["Projections"]),
        .library(name: "PlayheadCore", targets: ["PlayheadCore"]),
        .library(name: "PlayheadServer", targets: ["PlayheadServer"]),
        .library(name: "EventText", targets: ["EventText"]),
        .library(name: "SocketIO", targets: ["SocketIO"]),
        .library(name: "Charts", targets: ["Charts"]),
        .library(name: "PlayheadDemo", targets: ["PlayheadDemo"]),
        .library(name: "PlayheadBench", targets: ["PlayheadBench"]),
        .executable(name: "playhead", targets: ["playhead"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
    ],
    targets: [
        // Debian's liblmdb (liblmdb-dev), found through pkg-config.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // CRC-32C for record checksums, on the SSE4.2 instruction where the CPU has it.
        .target(
            name: "CCRC32C",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // The log's contract: the EventStore protocol, the value types, an in-memory log.
        // Knows nothing about video and nothing about LMDB.
        .target(
            name: "EventLog",
            swiftSettings: swiftSettings
        ),
        // The one way into liblmdb: environments, transactions, cursors, typed databases.
        .target(
            name: "LMDBKit",
            dependencies: ["CLMDB"],
            swiftSettings: swiftSettings
        ),
        // The embedded log: the EventStore contract kept in LMDB, with one writer thread.
        .target(
            name: "LMDBLog",
            dependencies: [
                "EventLog",
                "LMDBKit",
                "CCRC32C",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The log on PostgreSQL, for several Playhead nodes over one database: the same
        // contract on postgres-nio, with one global order every node reads without gaps.
        .target(
            name: "PostgresLog",
            dependencies: [
                "EventLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The vocabulary: ids, domain events and their codecs, command deciders.
        .target(
            name: "WatchDomain",
            dependencies: ["EventLog"],
            swiftSettings: swiftSettings
        ),
        // The views engine: projectors, view transactions, inline and asynchronous folds,
        // catch-up, rebuild and verify. Knows no feature.
        .target(
            name: "Views",
            dependencies: [
                "EventLog",
                "LMDBKit",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The read models: each feature's projector, row layouts and queries, in a folder of its own.
        .target(
            name: "Projections",
            dependencies: ["EventLog", "WatchDomain", "Views"],
            swiftSettings: swiftSettings
        ),
        // The application: the composition root, every feature's commands, the access
        // policy and the live feed. What HTTP, the gateway and the CLI call.
        .target(
            name: "PlayheadCore",
            dependencies: [
                "EventLog",
                "LMDBLog",
                "LMDBKit",
                "PostgresLog",
                "WatchDomain",
                "Views",
                "Projections",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP server: routes per module, auth, errors, metrics.
        // Socket.IO v5 over Engine.IO v4 (long-polling, WebSocket, the upgrade), served by
        // Hummingbird: the protocol alone, knowing nothing of parties.
        .target(
            name: "SocketIO",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Charts for people: SVG documents the API serves and the CLI writes, and terminal
        // sparklines. Knows no feature.
        .target(
            name: "Charts",
            swiftSettings: swiftSettings
        ),
        // Demo data through the real command path (`playhead demo`).
        .target(
            name: "PlayheadDemo",
            dependencies: ["PlayheadCore", "WatchDomain", "EventLog"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PlayheadServer",
            dependencies: [
                "EventLog",
                "LMDBLog",
                "PostgresLog",
                "WatchDomain",
                "Views",
                "Projections",
                "PlayheadCore",
                "SocketIO",
                "Charts",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Compiled into the binary, so that a copied `playhead` still serves it.
            resources: [.embedInCode("Resources/openapi.yaml"), .embedInCode("Resources/dashboard.html")],
            swiftSettings: swiftSettings
        ),
        // The log's NDJSON text form: the line codec, and the export and import through files
        // that `playhead export`, `import` and `tail` run and `playhead bench export` times.
        .target(
            name: "EventText",
            dependencies: ["EventLog", "LMDBLog", "WatchDomain"],
            swiftSettings: swiftSettings
        ),
        // The benchmark workloads and their `playhead bench …` commands, out of the CLI's module
        // (the replay bench writes the REST replay's lines, hence the server).
        .target(
            name: "PlayheadBench",
            dependencies: [
                "EventLog",
                "LMDBLog",
                "WatchDomain",
                "Views",
                "Projections",
                "PlayheadCore",
                "EventText",
                "PlayheadServer",
                "PostgresLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command line: the user commands, with `bench` registered from PlayheadBench.
        .executableTarget(
            name: "playhead",
            dependencies: [
                "EventLog",
                "PostgresLog",
                "EventText",
                "PlayheadBench",
                "LMDBLog",
                "LMDBKit",
                "Views",
                "PlayheadCore",
                "WatchDomain",
                "Projections",
                "PlayheadServer",
                "PlayheadDemo",
                "Charts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventLogTests",
            // The contract's tests run against every implementation.
            dependencies: ["EventLog", "LMDBLog", "PostgresLog", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresLogTests",
            dependencies: [
                "PostgresLog", "EventLog", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LMDBLogTests",
            dependencies: ["LMDBLog", "EventLog", "LMDBKit", "CCRC32C"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatchDomainTests",
            dependencies: ["WatchDomain", "EventLog"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChartsTests",
            dependencies: ["Charts"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SocketIOTests",
            dependencies: [
                "SocketIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlayheadServerTests",
            dependencies: [
                "PlayheadServer",
                "PlayheadCore",
                "LMDBLog",
                "Views",
                "Projections",
                "WatchDomain",
                "EventLog",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlayheadCoreTests",
            dependencies: [
                "PlayheadCore",
                "PostgresLog",
                "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "Projections",
                "Views",
                "WatchDomain",
                "EventLog",
                "LMDBLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ViewsTests",
            dependencies: ["Views", "EventLog", "LMDBLog"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "Views", "WatchDomain", "EventLog", "LMDBLog", "PlayheadCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventTextTests",
            dependencies: ["EventText", "EventLog", "LMDBLog", "WatchDomain", "PlayheadCore", "Views"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlayheadDemoTests",
            dependencies: ["PlayheadDemo", "PlayheadCore", "Projections", "Views", "WatchDomain", "EventLog", "LMDBLog"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "playheadTests",
            dependencies: ["playhead", "EventLog", "LMDBLog", "LMDBKit", "PlayheadCore", "Views", "WatchDomain", "Projections", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // What the end-to-end test targets share: raw loopback connections, pipe readers,
        // and the test PostgreSQL server's databases.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
    ]
)
