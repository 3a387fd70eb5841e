#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing

extension AFXDPIntegrationTests {
/// `xdpswitch run --metrics`: the Prometheus endpoint scraped over HTTP while traffic
/// crosses the switch, checked against `xdpswitch stats`; refused addresses and a port in
/// use fail in one line.
@Suite("xdpswitch run --metrics on veth pairs")
struct MetricsEndpointTests {
    @Test func scrapedCountersMoveAndMatchStats() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.91.0.1", mac: "02:00:00:91:00:01")
        try topo.addHost("b", ip: "10.91.0.2", mac: "02:00:00:91:00:02")
        let files = "/tmp/\(topo.lab.prefix)-metrics"
        let config = files + ".yaml", log = files + ".log", control = files + ".ctl"
        defer { Shell.run(["rm", "-f", config, log, control]) }
        let (a, b) = (topo.port("a"), topo.port("b"))
        try Shell.check(["sh", "-c", "cat > \(config) <<'EOF'\nbridges:\n  - name: br-int\n    ports:\n"
                         + "      - {name: \(a), tag: 1}\n      - {name: \(b), tag: 1}\n"
                         + "    flows:\n      - priority=10,icmp,actions=NORMAL\n      - priority=0,actions=NORMAL\nEOF"])

        let pid = try Shell.spawn([binary, "run", "--config", config, "--control", control, "--metrics", "127.0.0.1:0"], logPath: log)
        var stopped = false
        defer { if !stopped { kill(pid, SIGKILL); _ = Shell.wait(pid) } }
        // The start line names the endpoint's URL (port 0: the port the kernel chose).
        var port: Int?
        for _ in 0..<200 where port == nil {
            usleep(50_000)
            let text = Shell.run(["cat", log]).output
            if let range = text.range(of: "metrics http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix(while: \.isNumber))
            }
        }
        let metricsPort = try #require(port, "no metrics URL in the start line: \(Shell.run(["cat", log]).output)")
        #expect(Shell.run(["cat", log]).output.contains(" notice xdpswitch: forwarding on \(a)"), "one log line per event, with its level")

        let before = try #require(scrape(metricsPort))
        #expect(before.status == 200)
        #expect(before.body.contains("# TYPE xdpswitch_port_rx_packets_total counter"), "\(before.body)")
        #expect(value(before.body, "xdpswitch_umem_accounting_balanced") == 1, "UMEM accounting balanced")
        #expect(value(before.body, "xdpswitch_port_up", #"port="\#(a)",bridge="br-int""#) == 1)
        let ping = topo.ping("a", "b", count: 5)
        #expect(ping.succeeded, "\(ping.output)")

        // stats, scrape, stats: each port's counters in the scrape lie between the two tables
        // (a frame the kernel sends on its own may arrive in between).
        let first = stats(binary, control)
        let scraped = try #require(scrape(metricsPort))
        let second = stats(binary, control)
        #expect(scraped.status == 200)
        for port in [a, b] {
            let labels = #"port="\#(port)",bridge="br-int""#
            let s1 = try #require(first[port], "\(port) in stats: \(first)"), s2 = try #require(second[port])
            let rx = try #require(value(scraped.body, "xdpswitch_port_rx_packets_total", labels), "\(scraped.body)")
            let tx = try #require(value(scraped.body, "xdpswitch_port_tx_packets_total", labels))
            let rxBytes = try #require(value(scraped.body, "xdpswitch_port_rx_bytes_total", labels))
            #expect(UInt64(rx) >= s1.rxPackets && UInt64(rx) <= s2.rxPackets, "\(port) rx \(rx) vs stats \(s1.rxPackets)…\(s2.rxPackets)")
            #expect(UInt64(tx) >= s1.txPackets && UInt64(tx) <= s2.txPackets, "\(port) tx \(tx) vs stats \(s1.txPackets)…\(s2.txPackets)")
            #expect(UInt64(rxBytes) >= s1.rxBytes && UInt64(rxBytes) <= s2.rxBytes)
            // Five echo requests in on a and out on b, five replies the other way.
            #expect(rx >= 5 && tx >= 5, "\(port): rx \(rx) tx \(tx)")
            let before = value(before.body, "xdpswitch_port_rx_packets_total", labels) ?? 0
            #expect(rx >= before + 5, "\(port): the counter moved with the traffic (\(before) → \(rx))")
            let interfaceRx = try #require(value(scraped.body, "xdpswitch_interface_rx_packets_total", #"interface="\#(port)""#))
            let fastPathRx = try #require(value(scraped.body, "xdpswitch_interface_fast_path_rx_packets_total", #"interface="\#(port)""#))
            #expect(interfaceRx + fastPathRx >= rx, "every frame the datapath saw came off the interface's rings or by the kernel")
        }
        // The bridge's flows matched the traffic (ICMP its own flow); the exact-match cache was asked.
        let hits = try #require(value(scraped.body, "xdpswitch_bridge_flow_hits_total", #"bridge="br-int",table="0""#), "\(scraped.body)")
        #expect(hits >= 10, "ten echo requests and replies")
        let cacheLines = scraped.body.split(separator: "\n").filter { $0.hasPrefix("xdpswitch_bridge_cache_") }
        var lookups = 0.0
        for cache in ["exact_match", "flow_segment"] {
            let labels = #"bridge="br-int",cache="\#(cache)""#
            lookups += (value(scraped.body, "xdpswitch_bridge_cache_hits_total", labels) ?? 0)
                + (value(scraped.body, "xdpswitch_bridge_cache_misses_total", labels) ?? 0)
        }
        #expect(lookups >= 10, "every frame looked up in a cache: \(cacheLines)")
        #expect(value(scraped.body, "xdpswitch_umem_frames_capacity") ?? 0 > 0)

        // Anything but GET /metrics is answered, not served.
        #expect(scrape(metricsPort, path: "/nope")?.status == 404)
        #expect(scrape(metricsPort, method: "POST")?.status == 405)
        #expect(scrape(metricsPort, request: "garbage\r\n\r\n")?.status == 400)
        #expect(scrape(metricsPort)?.status == 200, "still serving after bad requests")

        kill(pid, SIGTERM)
        #expect(Shell.wait(pid) == 0)
        stopped = true
        #expect(Shell.run(["cat", log]).output.contains("SIGTERM: detached from 2 interface(s)"))
    }

    @Test func refusedAddressAndPortInUseFailInOneLine() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.91.1.1", mac: "02:00:00:91:01:01")
        let config = "/tmp/\(topo.lab.prefix)-metrics-bad.yaml", control = "/tmp/\(topo.lab.prefix)-metrics-bad.ctl"
        defer { Shell.run(["rm", "-f", config, control]) }
        try Shell.check(["sh", "-c", "printf 'bridges:\\n  - name: br0\\n    ports:\\n      - {name: \(topo.port("a"))}\\n' > \(config)"])

        // Not loopback: refused before anything is set up.
        for (address, cause) in [("0.0.0.0:9477", "not a loopback address"), ("10.91.1.1:9477", "not a loopback address"),
                                 ("[::]:9477", "not a loopback address"), ("127.0.0.1", "expected HOST:PORT"),
                                 ("127.0.0.1:99999", "expected HOST:PORT"), ("example:9477", "example is not an IPv4 or IPv6 address")] {
            let result = Shell.run([binary, "run", "--config", config, "--control", control, "--metrics", address])
            #expect(result.status != 0)
            #expect(result.output.split(separator: "\n").count == 1, "\(address): \(result.output)")
            #expect(result.output.contains("--metrics \(address): \(cause)"), "\(result.output)")
            #expect(!xdpAttached(topo.port("a")))
        }

        // A port in use: one line naming the address and the cause; nothing stays attached.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(holder, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) } }
        let busy = "127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let result = Shell.run([binary, "run", "--config", config, "--control", control, "--metrics", busy])
        #expect(result.status != 0)
        #expect(result.output.split(separator: "\n").count == 1, "\(result.output)")
        #expect(result.output.contains("--metrics \(busy): bind: Address already in use"), "\(result.output)")
        #expect(!xdpAttached(topo.port("a")))

        // --metrics-allow-remote lets a non-loopback address through (the wildcard, port 0 here).
        let log = "/tmp/\(topo.lab.prefix)-metrics-remote.log"
        defer { Shell.run(["rm", "-f", log]) }
        let pid = try Shell.spawn([binary, "run", "--config", config, "--control", control, "--metrics", "0.0.0.0:0",
                                   "--metrics-allow-remote"], logPath: log)
        for _ in 0..<100 where !Shell.run(["cat", log]).output.contains("metrics http://0.0.0.0:") { usleep(50_000) }
        kill(pid, SIGTERM)
        #expect(Shell.wait(pid) == 0)
        #expect(Shell.run(["cat", log]).output.contains("metrics http://0.0.0.0:"), Comment(rawValue: Shell.run(["cat", log]).output))
    }

    // MARK: - Helpers

    /// One port's row of `xdpswitch stats`.
    struct PortRow { var rxPackets: UInt64, rxBytes: UInt64, txPackets: UInt64, txBytes: UInt64 }

    func stats(_ binary: String, _ control: String) -> [String: PortRow] {
        var rows: [String: PortRow] = [:]
        for line in Shell.run([binary, "stats", "--control", control]).output.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count >= 6, let rx = UInt64(f[1]), let rxb = UInt64(f[2]), let tx = UInt64(f[3]), let txb = UInt64(f[4]) else { continue }
            rows[String(f[0])] = PortRow(rxPackets: rx, rxBytes: rxb, txPackets: tx, txBytes: txb)
        }
        return rows
    }

    /// The value of `name{labels}` (or `name` alone) in a Prometheus text exposition.
    func value(_ text: String, _ name: String, _ labels: String? = nil) -> Double? {
        let prefix = labels.map { "\(name){\($0)} " } ?? "\(name) "
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            return Double(line.dropFirst(prefix.count))
        }
        return nil
    }

    /// One HTTP request to 127.0.0.1:`port`; the status and the body (nil: no answer).
    func scrape(_ port: Int, path: String = "/metrics", method: String = "GET", request: String? = nil) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let text = Array((request ?? "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").utf8)
        guard text.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == text.count else { return nil }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += chunk[..<n]
        }
        let response = String(decoding: answer, as: UTF8.self)
        guard let status = response.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) }),
              let split = response.range(of: "\r\n\r\n") else { return nil }
        return (status, String(response[split.upperBound...]))
    }
}
}
