#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CoreMetrics
import Prometheus
import XDPSwitch

/// `--metrics HOST:PORT` and `--metrics-allow-remote`, for the verbs that run an engine
/// (`xdpswitch run`, `xdpswitch agent`). Off unless given.
///
/// The endpoint has no authentication and tells whoever reads it the node's ports, routers
/// and networks by name, so it listens on a loopback address only (127.0.0.0/8, ::1,
/// `localhost`), where a Prometheus agent on the same host scrapes it; any other address is
/// refused unless `--metrics-allow-remote` says so.
struct MetricsOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics (loopback only; port 0: any free port).",
                                            valueName: "HOST:PORT"))
    var metrics: String?

    @Flag(name: .customLong("metrics-allow-remote"), help: "Let --metrics listen on an address other than loopback (the endpoint has no authentication).")
    var metricsAllowRemote = false

    /// The endpoint asked for, checked (nil: no --metrics). Call before any set-up.
    func endpoint() throws -> MetricsEndpoint? {
        guard let metrics else { return nil }
        do {
            return try MetricsEndpoint(parsing: metrics, allowRemote: metricsAllowRemote)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Starts serving `engine()`'s counters (nil: no engine yet, only the command's own
    /// metrics) at `endpoint`; nil when no --metrics was given.
    func start(_ endpoint: MetricsEndpoint?, engine: @escaping @Sendable () -> AFXDPEngine?) throws -> MetricsHTTPServer? {
        guard let endpoint else { return nil }
        let processRegistry = CommandMetrics.bootstrap()
        do {
            return try MetricsHTTPServer(endpoint: endpoint) {
                var text = engine().map { SwitchMetrics.samples(engine: $0).exposition() } ?? ""
                text += processRegistry.emitToString()
                return text
            }
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// The registry behind swift-metrics in this process: what the command counts of its own
/// events (`Counter(label:)` in the node agent), appended to each scrape.
enum CommandMetrics {
    private static let registry = PrometheusCollectorRegistry()

    /// Bootstraps `MetricsSystem` with `registry` (once per process) and returns it.
    static func bootstrap() -> PrometheusCollectorRegistry {
        _ = bootstrapped
        return registry
    }

    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()
}

/// `--metrics HOST:PORT` parsed: an IPv4 or IPv6 address (or `localhost`) and a port.
struct MetricsEndpoint: Sendable {
    /// The text given.
    let text: String
    let host: String
    let port: UInt16
    let family: Int32
    private let address: [UInt8]

    init(parsing text: String, allowRemote: Bool) throws(MetricsEndpointError) {
        self.text = text
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw MetricsEndpointError(text, "expected HOST:PORT (127.0.0.1:9477, [::1]:9477)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        self.host = host
        self.port = port
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            family = AF_INET
            address = withUnsafeBytes(of: v4) { Array($0) }
            let loopback = withUnsafeBytes(of: v4) { $0[0] } == 127
            if !loopback && !allowRemote { throw MetricsEndpointError(text, Self.remoteRefused) }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
            address = withUnsafeBytes(of: v6) { Array($0) }
            let loopback = address == [UInt8](repeating: 0, count: 15) + [1]
            if !loopback && !allowRemote { throw MetricsEndpointError(text, Self.remoteRefused) }
        } else {
            throw MetricsEndpointError(text, "\(host) is not an IPv4 or IPv6 address")
        }
    }

    static let remoteRefused = "not a loopback address: the endpoint has no authentication (--metrics-allow-remote to listen there anyway)"

    /// Calls `body` with the address as a `sockaddr`.
    func withSocketAddress<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: address) }
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: address) }
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}

/// A `--metrics` address refused, or one the endpoint could not listen on: one line.
struct MetricsEndpointError: Error, CustomStringConvertible {
    let description: String
    init(_ endpoint: String, _ cause: String) { description = "--metrics \(endpoint): \(cause)" }
}
