// Example: the AF_XDP engine on veth pairs. Two network namespaces, each with one end of
// a veth pair; the other ends are the ports of a bridge the engine runs, built from YAML
// exactly as `xdpswitch run` builds it. One namespace pings the other through the switch.
// Needs root (namespaces, XDP, AF_XDP). Exits non-zero if what it shows does not happen.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XDPSwitch

let prefix = "xex\(getpid() % 10_000)"
let (portA, portB) = ("\(prefix)a", "\(prefix)b")

/// Runs a command to the end; its exit status.
@discardableResult
func run(_ arguments: String...) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Removes the namespaces and veths this program made (deleting a namespace deletes the
/// veth end inside it, and with it the pair).
func cleanUp() {
    for host in ["a", "b"] { run("ip", "netns", "del", "\(prefix)\(host)") }
}

/// Stops the program with `message` when `condition` is false, after cleaning up.
func check(_ condition: Bool, _ message: String) {
    guard condition else {
        cleanUp()
        fatalError("EngineOnVeth: \(message)")
    }
    print("ok: \(message)")
}

guard getuid() == 0 else {
    print("EngineOnVeth: skipped: needs root for network namespaces, XDP and AF_XDP")
    exit(0)
}

// Host `a` (10.77.0.1) and host `b` (10.77.0.2), each in a namespace behind a veth pair.
for (host, address) in [("a", "10.77.0.1/24"), ("b", "10.77.0.2/24")] {
    let namespace = "\(prefix)\(host)", port = "\(prefix)\(host)", inside = "\(prefix)\(host)i"
    let steps: [[String]] = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", port, "type", "veth", "peer", "name", inside],
        ["ip", "link", "set", inside, "netns", namespace],
        ["ip", "-n", namespace, "addr", "add", address, "dev", inside],
        ["ip", "-n", namespace, "link", "set", inside, "up"],
        ["ip", "-n", namespace, "link", "set", "lo", "up"],
        ["ip", "link", "set", port, "up"],
    ]
    for step in steps {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = step
        try process.run()
        process.waitUntilExit()
        check(process.terminationStatus == 0, step.joined(separator: " "))
    }
}

let configuration = try SwitchConfiguration.parse(yaml: """
    bridges:
      - name: br-int
        ports:
          - {name: \(portA), tag: 1}
          - {name: \(portB), tag: 1}
    """, file: "veth.yaml")
/// Runs the engine while `a` pings `b`, then checks what the engine saw.
func forward(_ configuration: SwitchConfiguration) async throws {
    let engine = try AFXDPEngine(configuration: configuration)
    try engine.start()
    let ping = run("ip", "netns", "exec", "\(prefix)a", "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2")
    check(ping == 0, "a pings b through the engine's bridge")
    // The datapath belongs to the worker: read it through perform, without blocking.
    let learned = await engine.perform { datapath, now in datapath.fdb(bridge: "br-int", now: now) ?? [] } ?? []
    check(Set(learned.map(\.port)).count >= 2, "br-int learned both hosts' MACs: \(learned)")
    engine.close()
    let statistics = engine.statistics()
    check(statistics.frames.isBalanced, "every UMEM frame is accounted for: \(statistics.frames)")
    check(statistics.interfaces.allSatisfy { $0.rxPackets >= 3 && $0.txPackets >= 3 }, "both ports received and sent")
}

do {
    try await forward(configuration)
} catch {
    check(false, "\(error)")
}
cleanUp()
