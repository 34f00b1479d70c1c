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
        .library(name: "Projections", targets: ["Projections"]),
        .executable(name: "playhead", targets: ["playhead"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
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
        // The append-only event log. Knows nothing about video.
        .target(
            name: "EventLog",
            dependencies: [
                "CLMDB",
                "CCRC32C",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Projectors and the views environment they fold the log into.
        .target(
            name: "Projections",
            dependencies: ["EventLog", "CLMDB"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "playhead",
            dependencies: [
                "EventLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventLogTests",
            dependencies: ["EventLog", "CCRC32C", "CLMDB"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "EventLog"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "playheadTests",
            dependencies: ["playhead", "EventLog"],
            swiftSettings: swiftSettings
        ),
    ]
)
