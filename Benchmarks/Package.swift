// swift-tools-version:6.1
// Microbenchmarks of the datapath (package-benchmark). Kept apart from the main package
// so `swift build` / `swift test` there stay fast. Run: `make bench` or
//   cd Benchmarks && swift package --disable-sandbox benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repo was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "XDPSwitchBenchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "DatapathBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "XDPDatapath", package: root),
                .product(name: "XDPPacket", package: root),
                .product(name: "XDPScenarios", package: root),
            ],
            path: "Benchmarks/Datapath",
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
