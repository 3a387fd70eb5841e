import Testing
import XDPDatapath
import XDPPacket

/// The reference design's network node router (`qrouter-…`): qr 10.1.0.1/24 on the tenant network,
/// qg 172.24.4.227/28 on the external one, default via 172.24.4.225. Frames are copied
/// into a pool, handed to the router, and read back from the interfaces' queues.
final class RouterHarness {
    static let qrMAC = MACAddress("fa:16:3e:00:00:01")!
    static let qgMAC = MACAddress("fa:16:3e:00:00:02")!
    static let vmMAC = MACAddress("fa:16:3e:aa:00:05")!
    static let gatewayMAC = MACAddress("02:42:ac:18:04:e1")!
    static let qrIP = IPv4Address(10, 1, 0, 1)
    static let qgIP = IPv4Address(172, 24, 4, 227)
    static let vmIP = IPv4Address(10, 1, 0, 5)
    static let gatewayIP = IPv4Address(172, 24, 4, 225)
    static let outside = IPv4Address(8, 8, 8, 8)

    static func reference(name: String = "router1", qrMAC: MACAddress = qrMAC, gateway: IPv4Address? = gatewayIP,
                     routes: [RouterConfiguration.Route] = [], qgMTU: Int = 1500,
                     tweak: (inout RouterConfiguration) -> Void = { _ in }) -> RouterConfiguration {
        var c = RouterConfiguration(name: name, interfaces: [
            .init(name: "qr-6a1b2c3d-4e", mac: qrMAC, address: qrIP, prefixLength: 24),
            .init(name: "qg-7f8e9d0c-1b", mac: qgMAC, address: qgIP, prefixLength: 28, mtu: qgMTU),
        ], routes: routes, defaultGateway: gateway)
        tweak(&c)
        return c
    }

    let pool: FramePool
    let router: DatapathRouter
    let batch = PacketBatch()
    var now: UInt64 = 5_000_000_000

    init(_ configuration: RouterConfiguration = RouterHarness.reference(), pool: FramePool? = nil) throws {
        self.pool = pool ?? FramePool(frameCount: 256)
        router = try DatapathRouter(configuration: configuration, pool: self.pool)
    }

    static let qr = 0
    static let qg = 1

    /// Hands `frames` to the router as received on interface `interface`.
    func send(_ frames: [UInt8]..., on interface: Int = RouterHarness.qr) {
        for bytes in frames {
            let start = pool.allocate()!
            let address = start + UInt64(pool.headroom)
            bytes.withUnsafeBytes { pool.pointer(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            batch.append(address: address, length: UInt32(bytes.count))
        }
        router.process(batch, on: interface, now: DatapathInstant(nanoseconds: now))
    }

    /// What interface `interface` transmitted since the last call (frames freed).
    func sent(_ interface: Int) -> [[UInt8]] {
        let queue = router.interfaces[interface].txQueue
        var out: [[UInt8]] = []
        for i in 0..<queue.count {
            out.append(Array(UnsafeRawBufferPointer(start: pool.pointer(queue.addresses[i]), count: Int(queue.lengths[i]))))
            pool.free(queue.addresses[i])
        }
        queue.removeAll()
        return out
    }

    func drops(_ reason: RouterDropReason) -> UInt64 { router.stats.drops[reason] ?? 0 }

    /// Every frame is free, queued on an interface, or waiting for ARP.
    var accountingHolds: Bool {
        pool.freeCount + router.interfaces.reduce(0) { $0 + $1.txQueue.count } + router.pendingCount == pool.frameCount
    }

    /// Teaches the router the VM's MAC (the VM asks for its gateway, as it would) and the
    /// external gateway's (it asks for 172.24.4.227); discards the replies.
    func learnNeighbours() {
        send(FrameBuilder.arpRequest(senderMAC: Self.vmMAC, senderIP: Self.vmIP, targetIP: Self.qrIP), on: Self.qr)
        send(FrameBuilder.arpRequest(senderMAC: Self.gatewayMAC, senderIP: Self.gatewayIP, targetIP: Self.qgIP), on: Self.qg)
        _ = sent(Self.qr)
        _ = sent(Self.qg)
    }

    /// A UDP datagram from the VM to `destination`, addressed to the router's qr MAC.
    static func vmUDP(to destination: IPv4Address = outside, ttl: UInt8 = 64, id: UInt16 = 7, tos: UInt8 = 0,
                      dontFragment: Bool = false, payload: Int = 18) -> [UInt8] {
        FrameBuilder().ethernet(source: vmMAC, destination: qrMAC)
            .ipv4(source: vmIP, destination: destination, ttl: ttl, identification: id, tos: tos, dontFragment: dontFragment)
            .udp(sourcePort: 40000, destinationPort: 53).payload(count: payload).build()
    }

    /// An ICMP echo request from the VM to `destination`.
    static func vmPing(to destination: IPv4Address, id: UInt16 = 0x1234, sequence: UInt16 = 1, ipID: UInt16 = 99) -> [UInt8] {
        FrameBuilder().ethernet(source: vmMAC, destination: qrMAC)
            .ipv4(source: vmIP, destination: destination, ttl: 64, identification: ipID)
            .icmpEcho(identifier: id, sequence: sequence).payload(count: 56).build()
    }
}

extension Array where Element == UInt8 {
    /// The IPv4 packet of an untagged Ethernet frame (padding cut).
    var routerIPPacket: [UInt8] {
        let total = Int(self[16]) << 8 | Int(self[17])
        return Array(self[14..<(14 + total)])
    }

    func routerBE16(_ offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }

    /// True when the frame's IPv4 header checksum and (for ICMP) ICMP checksum verify.
    var routerChecksumsVerify: Bool {
        var bytes = self
        return bytes.withUnsafeMutableBytes { raw in
            let ip = raw.baseAddress! + 14
            let headerLength = Int(ip.load(as: UInt8.self) & 0x0F) * 4
            guard Checksum.verifyIPv4Header(ip, headerLength: headerLength) else { return false }
            let total = Int(self.routerBE16(16))
            if ip.load(fromByteOffset: 9, as: UInt8.self) == 1 {
                return Checksum.verify(ip + headerLength, length: total - headerLength)
            }
            return true
        }
    }
}
