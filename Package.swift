// swift-tools-version:6.0
import PackageDescription

// One target per layer (docs/architecture.md): lower layers never import higher ones.
//   CXDP / CXDPShim / CPcap   C libraries and the few shims Swift cannot import directly
//   XDPPacket                 header views, checksums, builders, flow keys, pcap I/O
//   XDPDatapath               bridges, ports, MAC learning, VLANs, batches, frame pool
//   AFXDP                     UMEM, rings, sockets, eBPF steering, engine threads
//   XDPModel                  configuration (YAML) compiled into datapath objects
//   XDPSwitch                 the library product: re-exports what an embedding program needs
//   xdpswitch                 the command
let package = Package(
    name: "XDPSwitch",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "XDPSwitch", targets: ["XDPSwitch"]),
        // The pure layers alone (no libxdp, no root): for embedders with their own I/O and for Benchmarks/.
        .library(name: "XDPPacket", targets: ["XDPPacket"]),
        .library(name: "XDPDatapath", targets: ["XDPDatapath"]),
        .executable(name: "xdpswitch", targets: ["xdpswitch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The control plane only (NeutronModel, NeutronAPI): the datapath targets never import these.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CXDP", path: "Sources/CXDP", pkgConfig: "libxdp",
                       providers: [.apt(["libxdp-dev", "libbpf-dev"])]),
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", pkgConfig: "libpcap",
                       providers: [.apt(["libpcap-dev"])]),
        .target(name: "CXDPShim", dependencies: ["CXDP"], path: "Sources/CXDPShim"),
        .target(name: "XDPPacket", dependencies: ["CPcap"], path: "Sources/XDPPacket"),
        .target(name: "XDPDatapath", dependencies: ["XDPPacket"], path: "Sources/XDPDatapath"),
        .target(name: "AFXDP", dependencies: ["CXDP", "CXDPShim", "XDPPacket", "XDPDatapath"],
                path: "Sources/AFXDP", plugins: ["BPFObjects"]),
        // Compiles bpf/*.c with clang -target bpf and embeds the objects in AFXDP (Plugins/BPFObjects).
        .plugin(name: "BPFObjects", capability: .buildTool(), dependencies: ["bpf-embed"], path: "Plugins/BPFObjects"),
        .executableTarget(name: "bpf-embed", path: "Plugins/BPFEmbed"),
        .target(name: "XDPModel", dependencies: ["XDPDatapath", "XDPPacket", .product(name: "Yams", package: "Yams")],
                path: "Sources/XDPModel"),
        .target(name: "XDPSwitch", dependencies: ["XDPPacket", "XDPDatapath", "AFXDP", "XDPModel"],
                path: "Sources/XDPSwitch"),
        // Control plane: the Neutron model, IPAM and store (SQLite | PostgreSQL), and its HTTP API.
        .target(name: "NeutronModel", dependencies: [.product(name: "GRDB", package: "GRDB.swift"),
                                                     .product(name: "PostgresNIO", package: "postgres-nio"),
                                                     .product(name: "NIOCore", package: "swift-nio"),
                                                     .product(name: "NIOPosix", package: "swift-nio"),
                                                     .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                                                     .product(name: "Logging", package: "swift-log")],
                path: "Sources/NeutronModel"),
        .target(name: "NeutronAPI", dependencies: ["NeutronModel", .product(name: "Hummingbird", package: "hummingbird"),
                                                   .product(name: "NIOCore", package: "swift-nio")],
                path: "Sources/NeutronAPI"),
        .executableTarget(name: "xdpswitch",
                          dependencies: ["XDPSwitch", "NeutronAPI",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/xdpswitch"),
        .testTarget(name: "XDPPacketTests", dependencies: ["XDPPacket"], path: "Tests/XDPPacketTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "XDPDatapathTests", dependencies: ["XDPDatapath", "XDPPacket"], path: "Tests/XDPDatapathTests"),
        // What more than one test target builds its inputs from (the network node's YAML); no product.
        .target(name: "TestFixtures", path: "Tests/TestFixtures"),
        .testTarget(name: "XDPModelTests", dependencies: ["XDPModel", "XDPDatapath", "XDPPacket", "TestFixtures"],
                    path: "Tests/XDPModelTests"),
        .testTarget(name: "AFXDPTests", dependencies: ["AFXDP", "XDPSwitch"], path: "Tests/AFXDPTests"),
        .testTarget(name: "NeutronAPITests", dependencies: ["NeutronModel", "NeutronAPI"], path: "Tests/NeutronAPITests"),
        .testTarget(name: "XDPSwitchTests", dependencies: ["XDPSwitch", "TestFixtures"], path: "Tests/XDPSwitchTests",
                    resources: [.copy("Fixtures")]),
    ]
)
