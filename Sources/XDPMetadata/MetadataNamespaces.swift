// The metadata namespaces of a network node: for each network whose DHCP the node serves,
// what Neutron's DHCP agent builds for isolated metadata, made with `ip`:
//
//   br-int ── md<11 of net id> ═══ veth ═══ ns-<11 of net id> ── namespace xdsmeta-<11 of net id>
//                (access port,                 169.254.169.254/32
//                 local VLAN; the compiler)    one on-link route per subnet (`CIDR dev ns-…`)
//                                              the proxy: xdpswitch agent metadata-proxy, :80
//
// One namespace per network: two tenants with the same CIDR get two namespaces, each with its
// own route to 10.0.0.0/24 and its own proxy, which knows its network. The VM reaches
// 169.254.169.254 on-link (the DHCP host route, next hop 0.0.0.0) and ARPs for it; the
// namespace answers as its own address, and reaches the VM back by the subnet's on-link route.
//
// `reconcile` makes the node's namespaces equal to a list of networks and is idempotent: what
// exists with the right names is adopted (a running proxy whose command line is the expected
// one is kept, found by its pid file), what is missing is made, what is wrong is redone,
// and namespaces with the prefix whose network is not in the list are removed with their
// proxy. So an agent restarted (or killed) calls `reconcile` again and nothing that was right
// blinks. Call it before the datapath attaches to the `md` interfaces: they must exist.
//
// The proxy runs as `ip netns exec NS <binary> agent metadata-proxy --server URL --network-id
// ID --server-netns /proc/<agent pid>/ns/net`: it listens inside the namespace and reaches the
// server from the agent's namespace (MetadataUpstream), the way the agent does.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XDPAgent
import CXDPShim

/// The metadata namespaces of a node (see the essay above).
public struct MetadataNamespaces: Sendable {
    /// A network served: its id and its IPv4 subnets (CIDRs).
    public struct Network: Sendable, Equatable {
        public var id: String
        public var subnets: [String]

        public init(id: String, subnets: [String]) {
            self.id = id
            self.subnets = subnets
        }
    }

    /// Namespace names are this prefix + the first 11 characters of the network id.
    public var prefix: String
    /// The `xdpswitch` binary the proxies run.
    public var binary: String
    /// The API server the proxies ask.
    public var serverURL: String
    /// Where proxies' pid files and logs live.
    public var runDirectory: String

    /// The default namespace prefix (Neutron's are `qdhcp-` and `qrouter-`).
    public static let defaultPrefix = "xdsmeta-"

    /// This process's own executable (`/proc/self/exe`): the agent runs its proxies with itself.
    public static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public init(prefix: String = MetadataNamespaces.defaultPrefix, binary: String = MetadataNamespaces.ownExecutable, serverURL: String,
                runDirectory: String = "/run/xdpswitch/metadata") {
        self.prefix = prefix
        self.binary = binary
        self.serverURL = serverURL
        self.runDirectory = runDirectory
    }

    /// The namespace of `networkID`.
    public func namespace(_ networkID: String) -> String { prefix + networkID.prefix(11) }

    /// The namespace end of the veth pair.
    public static func innerInterface(_ networkID: String) -> String { "ns-" + networkID.prefix(11) }

    // MARK: Reconcile

    /// Makes the namespaces equal to `networks` (see the essay above). Throws on the first
    /// failure, naming the network and the command; what was already done for other networks stays.
    public func reconcile(networks: [Network]) throws(MetadataError) {
        var wanted = Set<String>()
        for network in networks {
            guard Self.isValidID(network.id) else {
                throw MetadataError("network id '\(network.id)': expected 1 or more of A-Z a-z 0-9 - _ .")
            }
            let name = namespace(network.id)
            guard wanted.insert(name).inserted else {
                throw MetadataError("networks \(network.id) and another share their first 11 characters (namespace \(name))")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        } catch {
            throw MetadataError("\(runDirectory): \(error)")
        }
        for name in existingNamespaces() where !wanted.contains(name) { try remove(namespace: name) }
        for network in networks { try ensure(network) }
    }

    /// A network id as the host view allows them (`A-Z a-z 0-9 - _ .`): safe in interface and
    /// namespace names and on the proxy's command line.
    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "-_.".utf8.contains(byte)
        }
    }

    /// Removes every namespace with the prefix, its interfaces and its proxy.
    public func removeAll() throws(MetadataError) {
        for name in existingNamespaces() { try remove(namespace: name) }
    }

    /// The namespaces named with the prefix.
    public func existingNamespaces() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    private func ensure(_ network: Network) throws(MetadataError) {
        let ns = namespace(network.id)
        let outer = MetadataPort.interfaceName(networkID: network.id)
        let inner = Self.innerInterface(network.id)
        if !FileManager.default.fileExists(atPath: "/run/netns/\(ns)") {
            try Self.ip(["netns", "add", ns])
            try Self.ip(["-n", ns, "link", "set", "lo", "up"])
        }
        // The pair is right when both ends exist where they belong; half a pair is redone.
        let outerExists = FileManager.default.fileExists(atPath: "/sys/class/net/\(outer)")
        let innerExists = (try? Self.ip(["-n", ns, "link", "show", inner])) != nil
        if outerExists != innerExists || !outerExists {
            if outerExists { try Self.ip(["link", "del", outer]) }
            if innerExists { try Self.ip(["-n", ns, "link", "del", inner]) }
            try Self.ip(["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns])
            // AF_XDP copy mode gets CHECKSUM_PARTIAL skbs with the checksum not filled in, and
            // VLAN offload would hide tags (docs/afxdp.md): off on both ends.
            Self.run(["ethtool", "-K", outer, "tx", "off", "rxvlan", "off", "txvlan", "off"])
            Self.run(["ip", "netns", "exec", ns, "ethtool", "-K", inner, "tx", "off", "rxvlan", "off", "txvlan", "off"])
            Self.run(["sysctl", "-qw", "net.ipv6.conf.\(outer).disable_ipv6=1"])
            Self.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.\(inner).disable_ipv6=1"])
        }
        try Self.ip(["link", "set", outer, "up"])
        try Self.ip(["-n", ns, "link", "set", inner, "up"])
        try Self.ip(["-n", ns, "addr", "replace", "\(MetadataPort.address)/32", "dev", inner])
        // Routes: one on-link route per subnet, nothing else on the interface.
        let wantedRoutes = Set(network.subnets)
        let present = try Self.ip(["-n", ns, "-4", "route", "show", "dev", inner]).split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        for route in present where !wantedRoutes.contains(route) {
            try Self.ip(["-n", ns, "route", "del", route, "dev", inner])
        }
        for cidr in network.subnets.sorted() where !present.contains(cidr) {
            try Self.ip(["-n", ns, "route", "replace", cidr, "dev", inner])
        }
        try ensureProxy(network.id, namespace: ns)
    }

    private func remove(namespace ns: String) throws(MetadataError) {
        stopProxy(namespace: ns)
        // The name holds the network id's first 11 characters, all the md interface's name needs.
        let outer = MetadataPort.interfaceName(networkID: String(ns.dropFirst(prefix.count)))
        if FileManager.default.fileExists(atPath: "/sys/class/net/\(outer)") { try Self.ip(["link", "del", outer]) }
        try Self.ip(["netns", "del", ns])
        try? FileManager.default.removeItem(atPath: logPath(ns))
    }

    // MARK: The proxy process

    func pidPath(_ ns: String) -> String { "\(runDirectory)/\(ns).pid" }
    func logPath(_ ns: String) -> String { "\(runDirectory)/\(ns).log" }

    /// The proxy's arguments after the binary, but the per-agent `--server-netns`.
    func proxyArguments(_ networkID: String) -> [String] {
        ["agent", "metadata-proxy", "--server", serverURL, "--network-id", networkID,
         "--listen", "\(MetadataPort.address):80"]
    }

    /// The pid of the namespace's proxy when it runs with the expected arguments.
    public func runningProxy(namespace ns: String, networkID: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidPath(ns), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)  // reaps it when it is our child and died
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !cmdline.isEmpty else { return nil }
        let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard arguments.count > 1, URL(fileURLWithPath: arguments[0]).lastPathComponent == URL(fileURLWithPath: binary).lastPathComponent else {
            return nil
        }
        let expected = proxyArguments(networkID)
        return Array(arguments.dropFirst().prefix(expected.count)) == expected ? pid : nil
    }

    private func ensureProxy(_ networkID: String, namespace ns: String) throws(MetadataError) {
        if runningProxy(namespace: ns, networkID: networkID) != nil { return }
        stopProxy(namespace: ns)
        let arguments = ["ip", "netns", "exec", ns, binary] + proxyArguments(networkID)
            + ["--server-netns", "/proc/\(getpid())/ns/net"]
        let pid = try Self.spawn(arguments, logPath: logPath(ns))
        do {
            try Data("\(pid)\n".utf8).write(to: URL(fileURLWithPath: pidPath(ns)))
        } catch {
            kill(pid, SIGTERM)
            throw MetadataError("\(pidPath(ns)): \(error)")
        }
    }

    /// SIGTERM to the namespace's proxy (SIGKILL after 5 s), and its pid file removed.
    private func stopProxy(namespace ns: String) {
        defer { try? FileManager.default.removeItem(atPath: pidPath(ns)) }
        guard let text = try? String(contentsOfFile: pidPath(ns), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains("metadata-proxy") else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return }
            guard let now = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !now.isEmpty else { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    // MARK: Commands

    /// Runs `ip ARGS…`; its output, or a MetadataError with the command and what it said.
    @discardableResult
    static func ip(_ arguments: [String]) throws(MetadataError) -> String {
        let (status, output) = run(["ip"] + arguments)
        guard status == 0 else {
            throw MetadataError("ip \(arguments.joined(separator: " ")) exited with \(status): \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output
    }

    /// Runs a command (looked up in PATH) with stdout and stderr together (`cxdp_run`:
    /// waited for with waitpid, an empty signal mask for the child).
    @discardableResult
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        withArgv(arguments) { argv in
            var output: UnsafeMutablePointer<CChar>?
            var length = 0
            var status: Int32 = 0
            let err = cxdp_run(argv, &output, &length, &status)
            guard err == 0, let output else { return (-1, "\(arguments[0]): \(String(cString: strerror(-err)))") }
            defer { free(output) }
            return (status, String(decoding: UnsafeRawBufferPointer(start: output, count: length), as: UTF8.self))
        }
    }

    /// Starts `arguments` in the background (stdout and stderr appended to `logPath`, its own
    /// session so a signal to the agent's group does not reach it, and an empty signal mask:
    /// the agent blocks SIGINT and SIGTERM to take them with sigwait, and the proxy would
    /// inherit that and never stop); returns its pid.
    static func spawn(_ arguments: [String], logPath: String) throws(MetadataError) -> pid_t {
        let pid = withArgv(arguments) { argv in cxdp_spawn(argv, -1, logPath, 1) }
        guard pid > 0 else { throw MetadataError("starting \(arguments.joined(separator: " ")): \(String(cString: strerror(-pid)))") }
        return pid
    }

    /// `body` with `arguments` as a NULL-terminated C argument vector.
    static func withArgv<T>(_ arguments: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        return body(argv)
    }
}
