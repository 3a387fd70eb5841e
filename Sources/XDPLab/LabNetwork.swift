#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import CXDPShim
import Synchronization

/// Network namespaces and veth pairs for tests and `xdpswitch bench`: every name carries
/// a unique prefix, and everything created is removed by `tearDown()` (call it from a
/// `defer`; it is idempotent and also runs at deinit). Not for production use.
///
/// The switch side of each veth stays in the caller's namespace; the host side goes into
/// a namespace of its own, with TX checksum offload and VLAN offloads turned off (see
/// docs/afxdp.md: AF_XDP copy mode hands the switch frames with CHECKSUM_PARTIAL
/// skbs' checksums not filled in, and VLAN offload would strip tags into metadata that
/// AF_XDP does not carry).
///
/// Checked `Sendable`: `prefix` is a constant and what was created (the lists `tearDown`
/// removes) is behind a mutex, so any thread may add to it or tear it down.
public final class LabNetwork: Sendable {
    /// Prefix of every name, `x<tag><pid % 1000, three digits><n>` (`xt0421`): the pid part
    /// has a fixed width so two processes' prefixes never read alike (`xt28`+`21` was
    /// `xt282`+`1`). 7 bytes up to n = 99, so names fit IFNAMSIZ.
    public let prefix: String
    private let created = Mutex<(namespaces: [String], switchInterfaces: [String], tornDown: Bool)>(([], [], false))
    /// The namespaces created so far (full names).
    public var namespaces: [String] { created.withLock { $0.namespaces } }
    /// The switch-side veths created in the caller's namespace.
    public var switchInterfaces: [String] { created.withLock { $0.switchInterfaces } }

    private static let counter = Atomic<Int>(0)

    /// `tag` distinguishes the users of one process (e.g. "t" tests, "b" bench).
    public init(tag: String = "t") {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        prefix = "x\(tag.prefix(1))\(Self.pidPart(getpid()))\(n)"
    }

    /// `pid % 1000` in three digits, as in the prefix.
    public static func pidPart(_ pid: Int32) -> String {
        let digits = String(pid % 1000)
        return String(repeating: "0", count: 3 - digits.count) + digits
    }

    deinit { tearDown() }

    /// Creates namespace `<prefix><name>` with loopback up; returns its full name.
    public func addNamespace(_ name: String) throws(Shell.Failure) -> String {
        let full = prefix + name
        try Shell.check(["ip", "netns", "add", full])
        created.withLock { $0.namespaces.append(full) }
        try Shell.check(["ip", "-n", full, "link", "set", "lo", "up"])
        return full
    }

    /// A veth pair: `<prefix><switchSide>` in the caller's namespace, or in `switchNamespace`
    /// when given (up, no address), `hostSide` inside `namespace` (up, with `address`/`mac` if
    /// given). `queues` > 1 makes a multi-queue veth. Returns the switch-side interface name.
    @discardableResult
    public func addHost(namespace: String, switchSide: String, hostSide: String = "eth0", mac: String? = nil,
                        address: String? = nil, queues: Int = 1, mtu: Int? = nil,
                        switchNamespace: String? = nil) throws(Shell.Failure) -> String {
        let sw = prefix + switchSide
        let inSwitch: ([String]) -> [String] = { command in
            switchNamespace.map { ["ip", "netns", "exec", $0] + command } ?? command
        }
        var command = ["ip", "link", "add", sw]
        if let switchNamespace { command += ["netns", switchNamespace] }
        if queues > 1 { command += ["numtxqueues", "\(queues)", "numrxqueues", "\(queues)"] }
        command += ["type", "veth", "peer", "name", hostSide, "netns", namespace]
        if queues > 1 { command += ["numtxqueues", "\(queues)", "numrxqueues", "\(queues)"] }
        try Shell.check(command)
        if switchNamespace == nil { created.withLock { $0.switchInterfaces.append(sw) } }  // otherwise it goes with its namespace
        if let mac { try Shell.check(["ip", "-n", namespace, "link", "set", hostSide, "address", mac]) }
        if let mtu {
            try Shell.check(inSwitch(["ip", "link", "set", sw, "mtu", "\(mtu)"]))
            try Shell.check(["ip", "-n", namespace, "link", "set", hostSide, "mtu", "\(mtu)"])
        }
        if let address { try Shell.check(["ip", "-n", namespace, "addr", "add", address, "dev", hostSide]) }
        Self.disableOffloads(sw, namespace: switchNamespace)
        Self.disableOffloads(hostSide, namespace: namespace)
        // No IPv6 autoconfiguration chatter on the test links.
        Shell.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.\(hostSide).disable_ipv6=1"])
        Shell.run(inSwitch(["sysctl", "-qw", "net.ipv6.conf.\(sw).disable_ipv6=1"]))
        try Shell.check(["ip", "-n", namespace, "link", "set", hostSide, "up"])
        try Shell.check(inSwitch(["ip", "link", "set", sw, "up"]))
        return sw
    }

    /// `ethtool -K DEV tx off rxvlan off txvlan off` (see the type's comment).
    public static func disableOffloads(_ interface: String, namespace: String?) {
        let ethtool = ["ethtool", "-K", interface, "tx", "off", "rxvlan", "off", "txvlan", "off"]
        Shell.run(namespace.map { ["ip", "netns", "exec", $0] + ethtool } ?? ethtool)
    }

    /// Runs `command` inside `namespace`.
    @discardableResult
    public func run(in namespace: String, _ command: [String]) -> Shell.Result {
        Shell.run(["ip", "netns", "exec", namespace] + command)
    }

    /// Deletes every namespace and switch-side veth created (idempotent).
    public func tearDown() {
        let (interfaces, namespaces) = created.withLock { created -> ([String], [String]) in
            guard !created.tornDown else { return ([], []) }
            created.tornDown = true
            return (created.switchInterfaces, created.namespaces)
        }
        for interface in interfaces { Shell.run(["ip", "link", "del", interface]) }
        for namespace in namespaces { Shell.run(["ip", "netns", "del", namespace]) }
    }

    /// Runs `body` on a new thread that has entered network namespace `namespace` (the
    /// calling thread's namespace is untouched) and returns its result.
    public static func inNamespace<T>(_ namespace: String, _ body: @escaping () throws -> T) throws -> T {
        var result: Result<T, any Error>?
        let box = NamespaceThread(path: "/run/netns/\(namespace)") { result = Result { try body() } }
        let context = Unmanaged.passRetained(box).toOpaque()
        var thread = pthread_t()
        let err = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<NamespaceThread>.fromOpaque(argument!).takeRetainedValue()
            box.entered = cxdp_enter_netns(box.path)
            if box.entered == 0 { box.body() }
            return nil
        }, context)
        guard err == 0 else {
            Unmanaged<NamespaceThread>.fromOpaque(context).release()
            throw AFXDPError(call: "pthread_create", errno: err)
        }
        pthread_join(thread, nil)
        guard box.entered == 0 else { throw AFXDPError(call: "setns", errno: box.entered, detail: namespace) }
        return try result!.get()
    }
}

/// The hand-over between `inNamespace`'s caller and the thread it starts.
///
/// Why `@unchecked Sendable` holds: `path` and `body` are set in init and never change;
/// `entered` is written only by the started thread, and read by the caller only after
/// `pthread_join`, which orders the two. Only these two threads ever reach the box (it
/// goes to the new thread through `pthread_create`'s argument), and the caller is blocked
/// in `pthread_join` while `body` runs, so `body` and what it captures (`result`) are
/// touched by one thread at a time.
private final class NamespaceThread: @unchecked Sendable {
    let path: String
    let body: () -> Void
    var entered: Int32 = 0
    init(path: String, body: @escaping () -> Void) { self.path = path; self.body = body }
}
