#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Foundation
import XDPLab
import Testing
import XDPDatapath

/// Why the AF_XDP integration tests cannot run here, nil when they can: they need root
/// (namespaces, XDP, AF_XDP sockets) and a kernel with AF_XDP.
let afxdpUnavailableReason: String? = {
    if geteuid() != 0 { return "AF_XDP integration tests need root (euid \(geteuid()))" }
    let fd = socket(44 /* AF_XDP */, Int32(SOCK_RAW.rawValue), 0)
    if fd < 0 { return "AF_XDP sockets unavailable: \(String(cString: strerror(errno)))" }
    close(fd)
    if !Shell.run(["ip", "netns", "list"]).succeeded { return "ip netns unavailable" }
    return nil
}()

/// Evaluated by the suite's `.enabled(if:)`; prints the reason once when skipping.
let afxdpAvailable: Bool = {
    if let reason = afxdpUnavailableReason {
        print("AFXDPTests skipped: \(reason)")
        return false
    }
    return true
}()

/// A test topology: hosts in their own namespaces, each with a veth whose switch side is
/// in the test process's namespace. Removed by `tearDown()` (use `defer`), including on
/// failure; names are unique per process and test (`xt<pid % 1000, 3 digits><n>...`, LabNetwork).
final class Topology {
    let lab = LabNetwork(tag: "t")
    /// Host name → (namespace, switch-side interface, IPv4 address).
    private(set) var hosts: [String: (namespace: String, port: String, ip: String)] = [:]

    /// A host `name` in its own namespace. `acceptsRedirects`: its end takes the fast
    /// path's redirects (GRO on) — by default when the suites run with the fast path
    /// (XDPSWITCH_FAST_PATH=on).
    func addHost(_ name: String, ip: String, mac: String, queues: Int = 1,
                 acceptsRedirects: Bool = EngineConfiguration.fastPathByDefault) throws {
        let ns = try lab.addNamespace(name)
        let port = try lab.addHost(namespace: ns, switchSide: name, mac: mac, address: "\(ip)/24", queues: queues)
        hosts[name] = (ns, port, ip)
        if acceptsRedirects { try acceptRedirects([name]) }
    }

    /// GRO on the hosts' ends: a veth takes XDP redirects (the in-kernel fast path's) only
    /// when its peer has NAPI, an XDP program or GRO (AFXDPEngine+FastPath.swift), as a VM's tap
    /// or a NIC always does.
    func acceptRedirects(_ hosts: [String]) throws {
        for host in hosts {
            try Shell.check(["ip", "netns", "exec", namespace(host), "ethtool", "-K", "eth0", "gro", "on"])
        }
    }

    func port(_ host: String) -> String { hosts[host]!.port }
    func namespace(_ host: String) -> String { hosts[host]!.namespace }

    /// `ping -c count` from `from` to `to`'s address; true when every reply came back.
    @discardableResult
    func ping(_ from: String, _ to: String, count: Int = 3, size: Int? = nil, dontFragment: Bool = false,
              timeout: Int = 2) -> Shell.Result {
        var command = ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "\(timeout)"]
        if let size { command += ["-s", "\(size)"] }
        if dontFragment { command += ["-M", "do"] }
        return lab.run(in: namespace(from), command + [hosts[to]!.ip])
    }

    func tearDown() { lab.tearDown() }

    /// Sends 12 MiB of random bytes from `from` to `to` with `nc` over TCP port 5201 and
    /// returns what would make it wrong: the transfer's failure, different checksums or a
    /// short file; empty when the bytes arrived intact.
    func transferTwelveMegabytes(_ from: String, _ to: String) throws -> [String] {
        let dir = "/tmp/\(lab.prefix)-tcp"
        try Shell.check(["mkdir", "-p", dir])
        defer { Shell.run(["rm", "-rf", dir]) }
        try Shell.check(["dd", "if=/dev/urandom", "of=\(dir)/in", "bs=1M", "count=12", "status=none"])
        let address = hosts[to]!.ip
        let script = """
            ip netns exec \(namespace(to)) timeout 60 nc -l -N \(address) 5201 > \(dir)/out 2>/dev/null &
            sleep 0.5
            ip netns exec \(namespace(from)) timeout 60 nc -N \(address) 5201 < \(dir)/in
            wait
            """
        var problems: [String] = []
        let transfer = Shell.run(["sh", "-c", script])
        if !transfer.succeeded { problems.append("transfer: \(transfer.output)") }
        let sums = Shell.run(["sh", "-c", "sha256sum \(dir)/in \(dir)/out | cut -d' ' -f1"]).output.split(separator: "\n")
        if sums.count != 2 || sums[0] != sums[1] { problems.append("checksums differ: \(sums)") }
        let size = Shell.run(["stat", "-c", "%s", "\(dir)/out"]).output.trimmingCharacters(in: "\n")
        if size != "12582912" { problems.append("received \(size) bytes") }
        return problems
    }
}

/// A bridge of access ports on `tag` (or per-port tags) over the topology's switch-side ports.
func bridge(_ ports: [(String, UInt16)]) -> DatapathConfiguration {
    DatapathConfiguration(bridges: [
        BridgeConfiguration(name: "br-int", ports: ports.map { PortConfiguration(name: $0.0, tag: $0.1) }),
    ])
}

/// Whether any XDP program is attached to `interface` according to `ip -d link`.
func xdpAttached(_ interface: String) -> Bool {
    let output = Shell.run(["ip", "-d", "link", "show", "dev", interface]).output
    return output.contains("prog/xdp") || output.contains(" xdp")
}
