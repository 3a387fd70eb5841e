import Testing
import XDPDatapath
import XDPPacket

/// The reference design's `qdhcp-` namespace as a server: dnsmasq's port at 10.1.0.3 on 10.1.0.0/24,
/// gateway 10.1.0.1, the VM fa:16:3e:aa:00:05 with the static lease 10.1.0.5. Frames are
/// copied into a pool, handed to the server, and read back from its queue.
final class DHCPHarness {
    static let serverMAC = MACAddress("fa:16:3e:00:00:03")!
    static let vmMAC = MACAddress("fa:16:3e:aa:00:05")!
    static let strangerMAC = MACAddress("fa:16:3e:bb:00:09")!
    static let serverIP = IPv4Address(10, 1, 0, 3)
    static let vmIP = IPv4Address(10, 1, 0, 5)
    static let gatewayIP = IPv4Address(10, 1, 0, 1)
    static let xid: UInt32 = 0x5EED_0001

    static func reference(tweak: (inout DHCPConfiguration) -> Void = { _ in }) -> DHCPConfiguration {
        var c = DHCPConfiguration(network: "net1", mac: serverMAC, subnets: [
            .init(name: "subnet1", cidr: IPv4Prefix("10.1.0.0/24")!, serverAddress: serverIP, gateway: gatewayIP,
                  dnsServers: [IPv4Address(8, 8, 8, 8), IPv4Address(8, 8, 4, 4)],
                  hostRoutes: [.init(destination: IPv4Prefix("169.254.169.254/32")!, nextHop: IPv4Address(10, 1, 0, 2)),
                               .init(destination: IPv4Prefix("10.2.0.0/16")!, nextHop: gatewayIP)]),
        ], hosts: [.init(mac: vmMAC, address: vmIP)], mtu: 1450)
        tweak(&c)
        return c
    }

    let pool: FramePool
    let server: DHCPResponder
    let batch = PacketBatch()

    init(_ configuration: DHCPConfiguration = DHCPHarness.reference(), pool: FramePool? = nil, txQueueCapacity: Int = 256) throws {
        self.pool = pool ?? FramePool(frameCount: 256)
        server = try DHCPResponder(configuration: configuration, pool: self.pool, txQueueCapacity: txQueueCapacity)
    }

    /// Hands `frames` to the server as received on its port.
    func send(_ frames: [UInt8]...) {
        for bytes in frames {
            let start = pool.allocate()!
            let address = start + UInt64(pool.headroom)
            bytes.withUnsafeBytes { pool.pointer(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            batch.append(address: address, length: UInt32(bytes.count))
        }
        server.process(batch)
    }

    /// What the server transmitted since the last call (frames freed).
    func sent() -> [[UInt8]] {
        let queue = server.txQueue
        var out: [[UInt8]] = []
        for i in 0..<queue.count {
            out.append(Array(UnsafeRawBufferPointer(start: pool.pointer(queue.addresses[i]), count: Int(queue.lengths[i]))))
            pool.free(queue.addresses[i])
        }
        queue.removeAll()
        return out
    }

    /// Sends one frame and returns the one reply, nil when there is none (more fail the test).
    func exchange(_ frame: [UInt8]) -> [UInt8]? {
        send(frame)
        let out = sent()
        #expect(out.count <= 1)
        return out.first
    }

    func drops(_ reason: DHCPDropReason) -> UInt64 { server.stats.drops[reason] ?? 0 }

    /// Every frame is free or queued.
    var accountingHolds: Bool { pool.freeCount + server.txQueue.count == pool.frameCount }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }
}

/// A DHCP client message built field by field, wrapped in Ethernet/IPv4/UDP by `FrameBuilder`.
struct DHCPClientMessage {
    var type: DHCPMessageType? = .discover
    var mac = DHCPHarness.vmMAC
    var xid = DHCPHarness.xid
    var flags: UInt16 = 0
    var ciaddr = IPv4Address.any
    var giaddr = IPv4Address.any
    var op: UInt8 = 1
    var htype: UInt8 = 1
    var hlen: UInt8 = 6
    var cookie: UInt32 = 0x6382_5363
    var requested: IPv4Address?
    var serverID: IPv4Address?
    var clientID: [UInt8]? = nil
    /// Raw option bytes appended after the ones above (before the end option).
    var extraOptions: [UInt8] = []
    var end = true
    // Envelope.
    var source = IPv4Address.any
    var destination = IPv4Address(255, 255, 255, 255)
    var ethernetDestination = MACAddress.broadcast
    var sourcePort: UInt16 = 68
    var destinationPort: UInt16 = 67

    /// The BOOTP/DHCP payload.
    var payload: [UInt8] {
        var m = [UInt8](repeating: 0, count: 240)
        m[0] = op; m[1] = htype; m[2] = hlen
        func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { m[at + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * i)) } }
        put32(xid, 4)
        m[10] = UInt8(flags >> 8); m[11] = UInt8(flags & 0xFF)
        put32(ciaddr.rawValue, 12)
        put32(giaddr.rawValue, 24)
        for i in 0..<6 { m[28 + i] = UInt8(truncatingIfNeeded: mac.rawValue >> (40 - 8 * i)) }
        put32(cookie, 236)
        if let type { m += [53, 1, type.rawValue] }
        if let clientID { m += [61, UInt8(clientID.count)] + clientID }
        func address(_ a: IPv4Address) -> [UInt8] { let o = a.octets; return [o.0, o.1, o.2, o.3] }
        if let requested { m += [50, 4] + address(requested) }
        if let serverID { m += [54, 4] + address(serverID) }
        m += extraOptions
        if end { m.append(255) }
        return m
    }

    var frame: [UInt8] {
        FrameBuilder().ethernet(source: mac, destination: ethernetDestination)
            .ipv4(source: source, destination: destination)
            .udp(sourcePort: sourcePort, destinationPort: destinationPort)
            .payload(payload).build()
    }
}

/// A reply taken apart with plain byte reads, independently of the server's code.
struct DHCPReply {
    let frame: [UInt8]
    var ethernetDestination: MACAddress { MACAddress(rawValue: be(0, 6)) }
    var ethernetSource: MACAddress { MACAddress(rawValue: be(6, 6)) }
    var ipSource: IPv4Address { IPv4Address(rawValue: UInt32(be(26, 4))) }
    var ipDestination: IPv4Address { IPv4Address(rawValue: UInt32(be(30, 4))) }
    var op: UInt8 { frame[42] }
    var xid: UInt32 { UInt32(be(46, 4)) }
    var flags: UInt16 { UInt16(be(52, 2)) }
    var ciaddr: IPv4Address { IPv4Address(rawValue: UInt32(be(54, 4))) }
    var yiaddr: IPv4Address { IPv4Address(rawValue: UInt32(be(58, 4))) }
    var siaddr: IPv4Address { IPv4Address(rawValue: UInt32(be(62, 4))) }
    var giaddr: IPv4Address { IPv4Address(rawValue: UInt32(be(66, 4))) }
    var chaddr: [UInt8] { Array(frame[70..<86]) }

    func be(_ at: Int, _ n: Int) -> UInt64 { frame[at..<at + n].reduce(0) { $0 << 8 | UInt64($1) } }

    /// Options in order, code → data; fails the test on a malformed list.
    var options: [(UInt8, [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        var i = 42 + 240
        let end = 42 + Int(be(38, 2)) - 8
        while i < end {
            let code = frame[i]
            if code == 0 { i += 1; continue }
            if code == 255 { return out }
            let n = Int(frame[i + 1])
            out.append((code, Array(frame[i + 2..<i + 2 + n])))
            i += 2 + n
        }
        Issue.record("options without an end option")
        return out
    }

    func option(_ code: UInt8) -> [UInt8]? { options.first { $0.0 == code }?.1 }
    var messageType: UInt8? { option(53)?.first }

    /// Both checksums verified from scratch over the bytes as sent.
    var checksumsHold: Bool {
        frame.withUnsafeBytes { raw in
            let ip = raw.baseAddress! + 14
            let udpLength = Int(be(38, 2))
            let pseudo = Checksum.pseudoHeaderSum(source: ipSource, destination: ipDestination, protocol: .udp, length: udpLength)
            return Checksum.verifyIPv4Header(ip, headerLength: 20)
                && Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: ip + 20, length: udpLength)
                && Int(be(16, 2)) == frame.count - 14 && udpLength == frame.count - 34
        }
    }
}
