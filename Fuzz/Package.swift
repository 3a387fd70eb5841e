// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets over the main package (../), built only by `make fuzz` / `make fuzz-ci`
// (scripts/fuzz.sh) with `-sanitize=fuzzer,address`: the main package's `swift build` and
// `swift test` never see them. Each target is one `LLVMFuzzerTestOneInput` (libFuzzer
// supplies `main`); docs/SECURITY.md has what each one checks and the executions run.
//   fuzz-packet       PacketParser + FlowKey on any bytes
//   fuzz-datapath     the network node (routers, NAT, DHCP, security groups, GRE): frames in
//                     on every port, invariants after each frame
//   fuzz-flow-syntax  the ovs-ofctl flow parser (and printer round trip)
//   fuzz-yaml         the configuration loader
//   fuzz-control      the control socket's requests against the network node
//   fuzz-api          the Networking API's requests against its model, and the agents' views
//                     of what it accepted (only with the control plane: XDPSWITCH_CONTROL_PLANE)
let controlPlane = Context.environment["XDPSWITCH_CONTROL_PLANE"] != "0"
let package = Package(
    name: "XDPSwitchFuzz",
    dependencies: [.package(name: "XDPSwitch", path: "..")],
    targets: [
        // The network node's YAML pieces the tests use (a link to Tests/TestFixtures).
        .target(name: "TestFixtures", path: "Sources/TestFixtures"),
        // Hands a target's LLVMFuzzerTestOneInput to libFuzzer's driver (see FuzzDriver.swift).
        .target(name: "FuzzDriver", path: "Sources/FuzzDriver"),
        .target(name: "FuzzSupport", dependencies: [.product(name: "XDPSwitch", package: "XDPSwitch"), "TestFixtures"],
                path: "Sources/FuzzSupport"),
        .executableTarget(name: "fuzz-packet", dependencies: ["FuzzDriver", .product(name: "XDPDatapath", package: "XDPSwitch")],
                          path: "Sources/fuzz-packet"),
        .executableTarget(name: "fuzz-datapath", dependencies: ["FuzzDriver", "FuzzSupport"], path: "Sources/fuzz-datapath"),
        .executableTarget(name: "fuzz-flow-syntax", dependencies: ["FuzzDriver", .product(name: "XDPDatapath", package: "XDPSwitch")],
                          path: "Sources/fuzz-flow-syntax"),
        .executableTarget(name: "fuzz-yaml", dependencies: ["FuzzDriver", "FuzzSupport"], path: "Sources/fuzz-yaml"),
        .executableTarget(name: "fuzz-control", dependencies: ["FuzzDriver", "FuzzSupport"], path: "Sources/fuzz-control"),
    ]
)

if controlPlane {
    package.targets.append(.executableTarget(name: "fuzz-api", dependencies: [
        "FuzzDriver", .product(name: "NeutronModel", package: "XDPSwitch"), .product(name: "XDPAgent", package: "XDPSwitch"),
        .product(name: "XDPModel", package: "XDPSwitch"),
    ], path: "Sources/fuzz-api"))
}
