// swift-tools-version:6.0
import PackageDescription

// One target per layer (docs/architecture.md): lower layers never import higher ones.
//   CXDP / CXDPShim / CPcap   C libraries and the few shims Swift cannot import directly
//   XDPPacket                 header views, checksums, builders, flow keys (no C library)
//   XDPPcap                   pcap/pcapng files through libpcap
//   XDPDatapath               bridges, ports, MAC learning, VLANs, batches, frame pool
//   AFXDP                     UMEM, rings, sockets, eBPF steering, engine threads
//   XDPModel                  configuration (YAML) compiled into datapath objects; EmbeddedDatapath
//   XDPControl                the control socket and its command registry
//   XDPSwitch                 the library product: re-exports what an embedding program needs
//   XDPScenarios              the benchmark scenarios (topologies, flows, frames), shared with Benchmarks/
//   XDPLab                    namespaces, load generator, counting sink, raw forwarder (in no product)
//   XDPBench                  the veth bench and bench-micro behind `xdpswitch bench` (in no product)
//   XDPAgent                  the node agent's compiler: a host's view of the Neutron model → the node's YAML
//   NeutronModel, NeutronAPI  the control plane: the Neutron model and its store, the Networking API server
//   XDPNodeAgent              the running node agent: the server's feed → compiled views → the engine
//   XDPMetadata               the metadata service: the proxy at 169.254.169.254 and its namespaces (control plane)
//   xdpswitch                 the command
//
// Linux only: AF_XDP, eBPF and network namespaces are Linux kernel features (Debian 12, or
// any distribution with libxdp/libbpf); no other platform builds.
#if !os(Linux)
#error("XDPSwitch builds on Linux only (AF_XDP, eBPF, network namespaces)")
#endif

// The control plane (NeutronModel, NeutronAPI, `xdpswitch server`) brings Hummingbird, GRDB
// and postgres-nio, most of a clean build. XDPSWITCH_CONTROL_PLANE=0 leaves it out of the
// package, for builds that need only the datapath: the sanitizer runs and the bench's release
// build (scripts/). The datapath targets never import it either way.
let controlPlane = Context.environment["XDPSWITCH_CONTROL_PLANE"] != "0"
let package = Package(
    name: "XDPSwitch",
    products: [
        .library(name: "XDPSwitch", targets: ["XDPSwitch"]),
        // The pure layers alone (no C library, no root): for embedders with their own I/O and for Benchmarks/.
        .library(name: "XDPPacket", targets: ["XDPPacket"]),
        .library(name: "XDPPcap", targets: ["XDPPcap"]),
        .library(name: "XDPDatapath", targets: ["XDPDatapath"]),
        // The bench scenarios over the pure layers, for Benchmarks/ (no libxdp, no root).
        .library(name: "XDPScenarios", targets: ["XDPScenarios"]),
        // YAML configuration and the embedded datapath, without libxdp.
        .library(name: "XDPModel", targets: ["XDPModel"]),
        .library(name: "XDPControl", targets: ["XDPControl"]),
        // The agent's host view and node compiler (no control-plane packages), for Fuzz/'s fuzz-api.
        .library(name: "XDPAgent", targets: ["XDPAgent"]),
        .executable(name: "xdpswitch", targets: ["xdpswitch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The command's logs and metrics (`--log-level`, `--metrics`); never the datapath targets.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CXDP", path: "Sources/CXDP", pkgConfig: "libxdp",
                       providers: [.apt(["libxdp-dev", "libbpf-dev"])]),
        .systemLibrary(name: "CPcap", path: "Sources/CPcap", pkgConfig: "libpcap",
                       providers: [.apt(["libpcap-dev"])]),
        .target(name: "CXDPShim", dependencies: ["CXDP"], path: "Sources/CXDPShim"),
        .target(name: "XDPPacket", path: "Sources/XDPPacket"),
        // pcap and pcapng files through libpcap, apart from the header views so XDPPacket needs no C library.
        .target(name: "XDPPcap", dependencies: ["CPcap"], path: "Sources/XDPPcap"),
        .target(name: "XDPDatapath", dependencies: ["XDPPacket"], path: "Sources/XDPDatapath"),
        .target(name: "AFXDP", dependencies: ["CXDP", "CXDPShim", "XDPPacket", "XDPDatapath"],
                path: "Sources/AFXDP", plugins: ["BPFObjects"]),
        // Compiles a target's bpf/<folder>/*.c with clang -target bpf and embeds the objects in it
        // (Plugins/BPFObjects): bpf/datapath in AFXDP, bpf/lab in XDPLab.
        .plugin(name: "BPFObjects", capability: .buildTool(), dependencies: ["bpf-embed"], path: "Plugins/BPFObjects"),
        .executableTarget(name: "bpf-embed", path: "Plugins/BPFEmbed"),
        .target(name: "XDPModel", dependencies: ["XDPDatapath", "XDPPacket", .product(name: "Yams", package: "Yams")],
                path: "Sources/XDPModel"),
        // The control socket and its command registry, above the datapath (no libxdp).
        .target(name: "XDPControl", dependencies: ["XDPDatapath", "XDPPacket", "XDPModel"], path: "Sources/XDPControl"),
        .target(name: "XDPSwitch", dependencies: ["XDPPacket", "XDPPcap", "XDPDatapath", "AFXDP", "XDPModel", "XDPControl"],
                path: "Sources/XDPSwitch"),
        .target(name: "XDPScenarios", dependencies: ["XDPPacket", "XDPDatapath"], path: "Sources/XDPScenarios"),
        .target(name: "XDPLab", dependencies: ["AFXDP", "CXDP", "CXDPShim", "XDPDatapath"],
                path: "Sources/XDPLab", plugins: ["BPFObjects"]),
        .target(name: "XDPBench", dependencies: ["AFXDP", "XDPLab", "XDPScenarios", "XDPDatapath", "XDPPacket"],
                path: "Sources/XDPBench"),
        .target(name: "XDPAgent", dependencies: ["XDPModel", "XDPDatapath", "XDPPacket"], path: "Sources/XDPAgent"),
        .executableTarget(name: "xdpswitch",
                          dependencies: ["XDPSwitch", "XDPBench", "XDPAgent",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "Metrics", package: "swift-metrics"),
                                         .product(name: "Prometheus", package: "swift-prometheus")],
                          path: "Sources/xdpswitch"),
        // Examples/: small programs written from the docs; XDPSwitchTests' ExamplesTests runs them.
        .executableTarget(name: "example-in-memory-flows", dependencies: ["XDPDatapath", "XDPModel", "XDPPacket"], path: "Examples/InMemoryFlows"),
        .executableTarget(name: "example-router-nat", dependencies: ["XDPDatapath", "XDPModel", "XDPPacket"], path: "Examples/RouterNAT"),
        .executableTarget(name: "example-engine-veth", dependencies: ["XDPSwitch"], path: "Examples/EngineOnVeth"),
        .testTarget(name: "XDPPacketTests", dependencies: ["XDPPacket", "XDPPcap"], path: "Tests/XDPPacketTests",
                    resources: [.copy("Fixtures")]),
        // The scapy scripts the tests run by path, not sources of the target.
        .testTarget(name: "XDPDatapathTests", dependencies: ["XDPDatapath", "XDPPacket"], path: "Tests/XDPDatapathTests",
                    exclude: ["Scripts", "DHCP/Scripts", "Router/Scripts"]),
        // What more than one test target builds its inputs from (the network node's YAML); no product.
        .target(name: "TestFixtures", path: "Tests/TestFixtures"),
        .testTarget(name: "XDPModelTests", dependencies: ["XDPModel", "XDPDatapath", "XDPPacket", "TestFixtures"],
                    path: "Tests/XDPModelTests"),
        .testTarget(name: "AFXDPTests", dependencies: ["AFXDP", "XDPSwitch", "XDPLab", "XDPScenarios"],
                    path: "Tests/AFXDPTests"),
        .testTarget(name: "XDPAgentTests", dependencies: ["XDPAgent", "XDPModel", "XDPDatapath", "XDPPacket"],
                    path: "Tests/XDPAgentTests"),
        .testTarget(name: "XDPSwitchTests", dependencies: ["XDPSwitch", "TestFixtures"], path: "Tests/XDPSwitchTests",
                    resources: [.copy("Fixtures")]),
    ]
)

// `make docs` (scripts/docs.sh) builds the DocC catalogues (Sources/*/*.docc) with
// swift-docc-plugin; other builds do not resolve it.
if Context.environment["XDPSWITCH_DOCS"] == "1" {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}

if controlPlane {
    // The model alone, for Fuzz/'s fuzz-api.
    package.products += [.library(name: "NeutronModel", targets: ["NeutronModel"])]
    package.dependencies += [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ]
    package.targets += [
        // The Neutron model, IPAM and store (SQLite | PostgreSQL), and its HTTP API.
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
        .testTarget(name: "NeutronAPITests", dependencies: ["NeutronModel", "NeutronAPI", "XDPAgent", "XDPMetadata"],
                    path: "Tests/NeutronAPITests"),
        // `make demo` as a test: the whole cloud, server and agents, driven by the openstack client.
        .testTarget(name: "CloudTests", dependencies: ["XDPLab"], path: "Tests/CloudTests"),
        // The metadata service of a network node: the proxy (HTTP, Hummingbird) and its namespaces.
        .target(name: "XDPMetadata", dependencies: ["XDPAgent", "CXDPShim", .product(name: "Hummingbird", package: "hummingbird"),
                                                    .product(name: "NIOCore", package: "swift-nio")],
                path: "Sources/XDPMetadata"),
        // `xdpswitch agent run`: registers with the server, follows the host's view, runs the engine.
        .target(name: "XDPNodeAgent", dependencies: ["XDPAgent", "XDPSwitch", "XDPMetadata", .product(name: "Yams", package: "Yams"),
                                                     .product(name: "Logging", package: "swift-log"),
                                                     .product(name: "Metrics", package: "swift-metrics")],
                path: "Sources/XDPNodeAgent"),
        .testTarget(name: "XDPNodeAgentTests", dependencies: ["XDPNodeAgent", "XDPAgent", "NeutronModel", "XDPLab",
                                                             .product(name: "Logging", package: "swift-log")],
                    path: "Tests/XDPNodeAgentTests"),
    ]
    package.targets.first { $0.name == "xdpswitch" }?.dependencies += ["NeutronAPI", "XDPNodeAgent", "XDPMetadata"]
}
