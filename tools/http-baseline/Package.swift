// swift-tools-version:6.1
import PackageDescription

// http-baseline: bare Hummingbird routes with the shapes of Playhead's hot endpoints, and no
// auth, storage or middleware behind them. tools/bench-http runs the same wrk load against
// this and against `playhead serve`, so the ratio shows what Playhead adds over the framework.
let package = Package(
    name: "http-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0")
    ],
    targets: [
        // liblmdb, for --durable (the same module map as Playhead's Sources/CLMDB).
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB"),
        .executableTarget(
            name: "http-baseline",
            dependencies: ["CLMDB", .product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
