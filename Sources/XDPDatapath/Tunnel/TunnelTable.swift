import XDPPacket

/// The `gre` ports as the per-packet code sees them: plain values, and each tunnel's outer
/// headers built in advance, in memory the `Underlay` allocates once (and owns).
///
/// The datapath keeps a copy of this value (its pointers, not the memory), so sending or
/// receiving a GRE packet reads no class field: no retain/release and no exclusivity
/// check. Everything that changes a prebuilt header — the underlay's MAC, a neighbour's
/// MAC learned or updated by ARP — goes through `Underlay.refreshTunnels()`, on the control
/// path.
@frozen
@usableFromInline
struct TunnelTable {
    /// `Port.id` of the underlay interface; -1 when the datapath has no underlay (then
    /// there are no tunnels and the pointers are nil).
    @usableFromInline let underlayPortID: Int
    /// Our address on the underlay.
    @usableFromInline let address: UInt32
    /// The underlay MTU.
    @usableFromInline let mtu: Int
    /// Number of tunnels (`gre` ports), in `Port.id` order.
    @usableFromInline let count: Int
    @usableFromInline let endpoints: UnsafeMutablePointer<TunnelEndpoint>?
    /// Index into `endpoints` by `Port.id` (-1 for a port that is not a `gre` port).
    @usableFromInline let slots: UnsafeMutablePointer<Int32>?
    /// Our MAC on the underlay (`Underlay.mac`, kept by `refreshTunnels`): GRE is
    /// decapsulated only from frames unicast to it.
    @usableFromInline let localMAC: UnsafeMutablePointer<UInt64>?

    /// No underlay, no tunnels.
    init() {
        underlayPortID = -1
        address = 0
        mtu = 0
        count = 0
        endpoints = nil
        slots = nil
        localMAC = nil
    }

    /// Allocates the table for the `gre` ports among `ports` (owned by `Underlay`, which
    /// calls `deallocate`). The prebuilt headers' MACs are left zero: `Underlay` fills them.
    init(ports: [Port], underlay configuration: UnderlayConfiguration, underlayPortID: Int,
         nextHop: (UInt32) -> UInt32?) {
        self.underlayPortID = underlayPortID
        address = configuration.address.rawValue
        mtu = configuration.mtu
        let slots = UnsafeMutablePointer<Int32>.allocate(capacity: max(ports.count, 1))
        slots.initialize(repeating: -1, count: max(ports.count, 1))
        var tunnels: [TunnelEndpoint] = []
        for port in ports where port.egressKind == .tunnel {
            guard case .gre(let options) = port.type else { continue }
            slots[port.id] = Int32(tunnels.count)
            tunnels.append(TunnelEndpoint(portID: port.id, options: options,
                                          localIP: options.localIP?.rawValue ?? configuration.address.rawValue,
                                          nextHop: nextHop(options.remoteIP.rawValue)))
        }
        count = tunnels.count
        let endpoints = UnsafeMutablePointer<TunnelEndpoint>.allocate(capacity: max(tunnels.count, 1))
        endpoints.initialize(from: tunnels, count: tunnels.count)
        self.endpoints = endpoints
        self.slots = slots
        let localMAC = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        localMAC.initialize(to: 0)
        self.localMAC = localMAC
    }

    func deallocate() {
        guard let endpoints, let slots else { return }
        for i in 0..<count { endpoints[i].header.deallocate() }
        endpoints.deinitialize(count: count)
        endpoints.deallocate()
        slots.deallocate()
        localMAC?.deallocate()
    }

    /// The `Port.id` of the `gre` port accepting packets from `remote` with `key`
    /// (nil: a packet without a key), or -1. As Open vSwitch's `tnl_find`
    /// (ofproto/tunnel.c): a packet without a key has `tun_id` 0, a port without a key
    /// expects `tun_id` 0, ports with an exact key (none, or N) are tried before `key=flow`
    /// ports, and a `key=flow` port takes any packet from its remote, keyed or not. Within
    /// each kind, the first in port order.
    @inlinable
    func port(remote: UInt32, key: UInt32?) -> Int {
        guard let endpoints else { return -1 }
        let tunID = key ?? 0
        var flowPort = -1
        for i in 0..<count {
            let t = endpoints + i
            guard t.pointee.remoteIP == remote else { continue }
            switch t.pointee.keyMode {
            case TunnelEndpoint.noKey: if tunID == 0 { return t.pointee.portID }
            case TunnelEndpoint.fixedKey: if tunID == t.pointee.fixedKey { return t.pointee.portID }
            default: if flowPort < 0 { flowPort = t.pointee.portID }
            }
        }
        return flowPort
    }
}

/// One `gre` port: its options as plain values, its next hop, and its outer headers.
@frozen
@usableFromInline
struct TunnelEndpoint {
    /// `keyMode` values: `GREOptions.Key.none`, `.fixed`, `.flow`.
    @usableFromInline static var noKey: UInt8 { 0 }
    @usableFromInline static var fixedKey: UInt8 { 1 }
    @usableFromInline static var flowKey: UInt8 { 2 }

    /// `Port.id` of the `gre` port.
    @usableFromInline let portID: Int
    @usableFromInline let remoteIP: UInt32
    @usableFromInline let localIP: UInt32
    @usableFromInline let keyMode: UInt8
    /// The key of `keyMode` `fixedKey`.
    @usableFromInline let fixedKey: UInt32
    /// Bytes prepended: `GREEncapsulation.overheadWithKey` or `overheadWithoutKey`.
    @usableFromInline let overhead: Int
    /// The next hop toward `remoteIP` (itself on the underlay subnet, else the gateway);
    /// meaningful when `hasRoute`.
    @usableFromInline let nextHop: UInt32
    @usableFromInline let hasRoute: Bool
    /// Whether the next hop's MAC is known (and in `header`); else encapsulated frames wait
    /// for an ARP answer. Kept by `Underlay.refreshTunnels()`.
    @usableFromInline var nextHopKnown: Bool
    /// The first 38 bytes of the outer headers as `GREEncapsulation.encapsulate` writes
    /// them (Ethernet, IPv4, GRE flags and protocol), with the IPv4 total length and
    /// checksum zero: per packet only those and the key are written. 48 bytes allocated
    /// (a keyed template holds a zero key at 38).
    @usableFromInline let header: UnsafeMutableRawPointer
    /// The one's-complement sum (RFC 1071, folded) of the IPv4 header in `header`: adding
    /// the total length gives the header checksum.
    @usableFromInline let headerSum: UInt16

    init(portID: Int, options: GREOptions, localIP: UInt32, nextHop: UInt32?) {
        self.portID = portID
        remoteIP = options.remoteIP.rawValue
        self.localIP = localIP
        switch options.key {
        case .none: keyMode = Self.noKey; fixedKey = 0
        case .fixed(let k): keyMode = Self.fixedKey; fixedKey = k
        case .flow: keyMode = Self.flowKey; fixedKey = 0
        }
        overhead = keyMode == Self.noKey ? GREEncapsulation.overheadWithoutKey : GREEncapsulation.overheadWithKey
        self.nextHop = nextHop ?? 0
        hasRoute = nextHop != nil
        nextHopKnown = false
        header = .allocate(byteCount: 48, alignment: 8)
        header.initializeMemory(as: UInt8.self, repeating: 0, count: 48)
        // The same bytes `GREEncapsulation.encapsulate` writes (MACs zero for now; the
        // total length and checksum zero); the key, when there is one, is per packet.
        let inner = header + overhead
        _ = GREEncapsulation.encapsulate(inner: inner, innerLength: 0, key: keyMode == Self.noKey ? nil : 0,
                                         endpoint: .init(localMAC: MACAddress(rawValue: 0), nextHopMAC: MACAddress(rawValue: 0),
                                                         localIP: IPv4Address(rawValue: localIP),
                                                         remoteIP: options.remoteIP))
        header.storeBE16(0, at: 16)
        header.storeBE16(0, at: 24)
        headerSum = Checksum.sum(header + 14, count: 20)
    }

    /// Writes the outer headers for an `innerLength`-byte frame at `start` (`overhead`
    /// bytes before the inner frame; the caller checked the headroom): the prebuilt 38
    /// bytes, the IPv4 total length and checksum, and the key when keyed. The same bytes
    /// as `GREEncapsulation.encapsulate`.
    @inlinable @inline(__always)
    func write(to start: UnsafeMutableRawPointer, innerLength: Int, key: UInt32) {
        let h = UnsafeRawPointer(header)
        // 38 bytes in five 8-byte moves (the last overlaps the fourth).
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 0, as: UInt64.self), toByteOffset: 0, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 16, as: UInt64.self), toByteOffset: 16, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 24, as: UInt64.self), toByteOffset: 24, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 30, as: UInt64.self), toByteOffset: 30, as: UInt64.self)
        let total = UInt16(truncatingIfNeeded: overhead &- 14 &+ innerLength)
        var sum = UInt32(headerSum) &+ UInt32(total)
        sum = (sum & 0xFFFF) &+ (sum >> 16)  // one fold: ≤ 0x1FFFE before it
        start.storeBE16(total, at: 16)
        start.storeBE16(~UInt16(truncatingIfNeeded: sum), at: 24)
        if keyMode != Self.noKey { start.storeBE32(key, at: 38) }
    }
}
