// swift-tools-version:6.1
import PackageDescription

// http-baseline: bare Hummingbird routes with the shapes of Playhead's hot endpoints, and no
// auth, storage or middleware behind them. tools/bench-http runs the same wrk load against
// this and against `playhead serve`, so the ratio shows what Playhead adds over the framework.
let package = Package(
    name: "http-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
    ],
    targets: [
        .executableTarget(
            name: "http-baseline",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
