import XDPPacket

/// The `gre` and `vxlan` ports as the per-packet code sees them: plain values, and each tunnel's outer
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
    /// `DatapathPort.id` of the underlay interface; -1 when the datapath has no underlay (then
    /// there are no tunnels and the pointers are nil).
    @usableFromInline let underlayPortID: Int
    /// Our address on the underlay.
    @usableFromInline let address: UInt32
    /// The underlay MTU.
    @usableFromInline let mtu: Int
    /// Number of tunnels (`gre` and `vxlan` ports), in `DatapathPort.id` order.
    @usableFromInline let count: Int
    @usableFromInline let endpoints: UnsafeMutablePointer<TunnelEndpoint>?
    /// Index into `endpoints` by `DatapathPort.id` (-1 for a port that is not a tunnel).
    @usableFromInline let slots: UnsafeMutablePointer<Int32>?
    /// Our MAC on the underlay (`Underlay.mac`, kept by `refreshTunnels`): GRE is
    /// decapsulated only from frames unicast to it.
    @usableFromInline let localMAC: UnsafeMutablePointer<UInt64>?
    /// The UDP destination port of the first `vxlan` port (0x10000 without one): the one
    /// the receive fast path recognises; others take the general path (`isVXLANPort`).
    @usableFromInline let vxlanPort: UInt32

    /// No underlay, no tunnels.
    init() {
        underlayPortID = -1
        address = 0
        mtu = 0
        count = 0
        vxlanPort = 0x10000
        endpoints = nil
        slots = nil
        localMAC = nil
    }

    /// Allocates the table for the `gre` and `vxlan` ports among `ports` (owned by `Underlay`, which
    /// calls `deallocate`). The prebuilt headers' MACs are left zero: `Underlay` fills them.
    init(ports: [DatapathPort], underlay configuration: UnderlayConfiguration, underlayPortID: PortID,
         nextHop: (UInt32) -> UInt32?) {
        self.underlayPortID = underlayPortID.index
        address = configuration.address.rawValue
        mtu = configuration.mtu
        let slots = UnsafeMutablePointer<Int32>.allocate(capacity: max(ports.count, 1))
        slots.initialize(repeating: -1, count: max(ports.count, 1))
        var tunnels: [TunnelEndpoint] = []
        var vxlanPort: UInt32 = 0x10000
        for port in ports where port.egressKind == .tunnel {
            let local = configuration.address.rawValue
            switch port.type {
            case .gre(let options):
                tunnels.append(TunnelEndpoint(portID: port.id.index, options: options, localIP: options.localIP?.rawValue ?? local,
                                              nextHop: nextHop(options.remoteIP.rawValue)))
            case .vxlan(let options):
                tunnels.append(TunnelEndpoint(portID: port.id.index, options: options, localIP: options.localIP?.rawValue ?? local,
                                              nextHop: nextHop(options.remoteIP.rawValue)))
                if vxlanPort > 0xFFFF { vxlanPort = UInt32(options.destinationPort) }
            default: continue
            }
            slots[port.id.index] = Int32(tunnels.count - 1)
        }
        self.vxlanPort = vxlanPort
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

    /// The `DatapathPort.id` of the tunnel port accepting packets from `remote` with `key`
    /// (nil: a GRE packet without a key; a VXLAN packet's key is its VNI), or -1.
    /// `selector` is the kind of tunnel and for VXLAN its UDP port
    /// (`TunnelEndpoint.greSelector`, `vxlanSelector(port:)`). As Open vSwitch's `tnl_find`
    /// (ofproto/tunnel.c): a packet without a key has `tun_id` 0, a port without a key
    /// expects `tun_id` 0, ports with an exact key (none, or N) are tried before `key=flow`
    /// ports, and a `key=flow` port takes any packet from its remote, keyed or not. Within
    /// each kind, the first in port order.
    @inlinable
    func port(remote: UInt32, key: UInt32?, selector: UInt32 = TunnelEndpoint.greSelector) -> Int {
        guard let endpoints else { return -1 }
        let tunID = key ?? 0
        var flowPort = -1
        for i in 0..<count {
            let t = endpoints + i
            guard t.pointee.remoteIP == remote, t.pointee.selector == selector else { continue }
            switch t.pointee.keyMode {
            case TunnelEndpoint.noKey: if tunID == 0 { return t.pointee.portID }
            case TunnelEndpoint.fixedKey: if tunID == t.pointee.fixedKey { return t.pointee.portID }
            default: if flowPort < 0 { flowPort = t.pointee.portID }
            }
        }
        return flowPort
    }

    /// The outer headers' length (`GREEncapsulation.plainOuterLength`), where the IPv4
    /// packet ends and the GRE key (nil without one), when the underlay frame at `frame` is
    /// a plain GRE packet for us: to our MAC and our address, not a fragment, its IPv4
    /// length within the frame and leaving an inner Ethernet header. The header checksum is
    /// not verified. Only for a table with an underlay.
    @inlinable @inline(__always)
    func plainGREForUs(_ frame: UnsafeMutableRawPointer, length: UInt32) -> (outer: Int, end: Int, key: UInt32?)? {
        let outer = GREEncapsulation.plainOuterLength(frame, length: length)
        guard outer > 0, frame.loadBE48(at: 0) == localMAC.unsafelyUnwrapped.pointee, frame.loadBE16(at: 20) & 0x3FFF == 0,
              frame.loadBE32(at: 30) == address else { return nil }
        let end = 14 &+ Int(frame.loadBE16(at: 16))
        guard end <= Int(length), end &- outer >= 14 else { return nil }
        return (outer, end, outer == GREEncapsulation.overheadWithKey ? frame.loadBE32(at: 38) : nil)
    }

    /// Whether some `vxlan` port receives on UDP port `port` (the general receive path).
    @inlinable
    func isVXLANPort(_ port: UInt16) -> Bool {
        guard let endpoints else { return false }
        let selector = TunnelEndpoint.vxlanSelector(port: port)
        for i in 0..<count where endpoints[i].selector == selector { return true }
        return false
    }
}

/// One `gre` or `vxlan` port: its options as plain values, its next hop, and its outer
/// headers.
@frozen
@usableFromInline
struct TunnelEndpoint {
    /// `keyMode` values: `GREOptions.Key.none`, `.fixed`, `.flow`.
    @usableFromInline static var noKey: UInt8 { 0 }
    @usableFromInline static var fixedKey: UInt8 { 1 }
    @usableFromInline static var flowKey: UInt8 { 2 }

    /// `selector` of a `gre` port.
    @usableFromInline static var greSelector: UInt32 { 0 }
    /// `selector` of a `vxlan` port on UDP port `port`.
    @inlinable static func vxlanSelector(port: UInt16) -> UInt32 { 0x1_0000 | UInt32(port) }

    /// `DatapathPort.id` of the tunnel port.
    @usableFromInline let portID: Int
    /// What received packets must be to reach this port besides its remote and key:
    /// `greSelector`, or `vxlanSelector(port:)` of its UDP port.
    @usableFromInline let selector: UInt32
    /// Whether this is a `vxlan` port (else `gre`).
    @usableFromInline let isVXLAN: Bool
    @usableFromInline let remoteIP: UInt32
    @usableFromInline let localIP: UInt32
    @usableFromInline let keyMode: UInt8
    /// The key of `keyMode` `fixedKey`.
    @usableFromInline let fixedKey: UInt32
    /// Bytes prepended: `GREEncapsulation.overheadWithKey` or `overheadWithoutKey`, or
    /// `VXLANEncapsulation.overhead`.
    @usableFromInline let overhead: Int
    /// The next hop toward `remoteIP` (itself on the underlay subnet, else the gateway);
    /// meaningful when `hasRoute`.
    @usableFromInline let nextHop: UInt32
    @usableFromInline let hasRoute: Bool
    /// Whether the next hop's MAC is known (and in `header`); else encapsulated frames wait
    /// for an ARP answer. Kept by `Underlay.refreshTunnels()`.
    @usableFromInline var nextHopKnown: Bool
    /// GRE: the first 38 bytes of the outer headers as `GREEncapsulation.encapsulate` writes
    /// them (Ethernet, IPv4, GRE flags and protocol), with the IPv4 total length and
    /// checksum zero: per packet only those and the key are written (a keyed template
    /// holds a zero key at 38). VXLAN: the 50 bytes `VXLANEncapsulation.encapsulate`
    /// writes, IPv4 total length and checksum, UDP source port and length and the VNI
    /// zero. 64 bytes allocated.
    @usableFromInline let header: UnsafeMutableRawPointer
    /// The one's-complement sum (RFC 1071, folded) of the IPv4 header in `header`: adding
    /// the total length gives the header checksum.
    @usableFromInline let headerSum: UInt16

    init(portID: Int, options: GREOptions, localIP: UInt32, nextHop: UInt32?) {
        self.init(portID: portID, selector: Self.greSelector, remote: options.remoteIP, localIP: localIP, key: options.key,
                  nextHop: nextHop) { keyMode in
            keyMode == Self.noKey ? GREEncapsulation.overheadWithoutKey : GREEncapsulation.overheadWithKey
        } template: { header, overhead, keyMode, endpoint in
            // The same bytes `GREEncapsulation.encapsulate` writes; the key, when there is
            // one, is per packet.
            _ = GREEncapsulation.encapsulate(inner: header + overhead, innerLength: 0, key: keyMode == Self.noKey ? nil : 0,
                                             endpoint: endpoint)
        }
    }

    init(portID: Int, options: VXLANOptions, localIP: UInt32, nextHop: UInt32?) {
        self.init(portID: portID, selector: Self.vxlanSelector(port: options.destinationPort), remote: options.remoteIP,
                  localIP: localIP, key: options.key, nextHop: nextHop) { _ in VXLANEncapsulation.overhead } template: { header, overhead, _, endpoint in
            // The same bytes `VXLANEncapsulation.encapsulate` writes; the source port, UDP
            // length and VNI are per packet.
            _ = VXLANEncapsulation.encapsulate(inner: header + overhead, innerLength: 0, vni: 0, sourcePort: 0,
                                               destinationPort: options.destinationPort, endpoint: endpoint)
            header.storeBE16(0, at: 38)
        }
    }

    /// The endpoint of a tunnel port: `overhead` says how many bytes its key mode prepends,
    /// `template` writes its outer headers (MACs zero for now, `Underlay` fills them) into
    /// the 64 allocated bytes; the IPv4 total length and checksum are then zeroed.
    private init(portID: Int, selector: UInt32, remote: IPv4Address, localIP: UInt32, key: GREOptions.Key, nextHop: UInt32?,
                 overhead: (UInt8) -> Int,
                 template: (UnsafeMutableRawPointer, Int, UInt8, GREEncapsulation.Endpoint) -> Void) {
        self.portID = portID
        self.selector = selector
        isVXLAN = selector != Self.greSelector
        remoteIP = remote.rawValue
        self.localIP = localIP
        switch key {
        case .none: keyMode = Self.noKey; fixedKey = 0
        case .fixed(let k): keyMode = Self.fixedKey; fixedKey = isVXLAN ? k & VXLANHeader.maximumVNI : k
        case .flow: keyMode = Self.flowKey; fixedKey = 0
        }
        self.overhead = overhead(keyMode)
        self.nextHop = nextHop ?? 0
        hasRoute = nextHop != nil
        nextHopKnown = false
        header = .allocate(byteCount: 64, alignment: 8)
        header.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        template(header, self.overhead, keyMode,
                 .init(localMAC: MACAddress(rawValue: 0), nextHopMAC: MACAddress(rawValue: 0),
                       localIP: IPv4Address(rawValue: localIP), remoteIP: remote))
        header.storeBE16(0, at: 16)
        header.storeBE16(0, at: 24)
        headerSum = Checksum.sum(header + 14, count: 20)
    }

    /// Writes the GRE outer headers for an `innerLength`-byte frame at `start` (`overhead`
    /// bytes before the inner frame; the caller checked the headroom): the prebuilt 38
    /// bytes, the IPv4 total length and checksum, and the key when keyed. The same bytes
    /// as `GREEncapsulation.encapsulate`.
    @inlinable @inline(__always)
    func write(to start: UnsafeMutableRawPointer, innerLength: Int, key: UInt32) {
        writeTemplate(to: start, innerLength: innerLength, lastMove: 30)  // 38 bytes
        if keyMode != Self.noKey { start.storeBE32(key, at: 38) }
    }

    /// Writes the VXLAN outer headers for an `innerLength`-byte frame at `start` (`overhead`
    /// bytes before the inner frame; the caller checked the headroom): the prebuilt bytes,
    /// the IPv4 total length and checksum, the UDP source port and length, and the VNI
    /// (`vni`'s low 24 bits). The same bytes as `VXLANEncapsulation.encapsulate`.
    @inlinable @inline(__always)
    func writeVXLAN(to start: UnsafeMutableRawPointer, innerLength: Int, vni: UInt32, sourcePort: UInt16) {
        writeTemplate(to: start, innerLength: innerLength, lastMove: 38)  // 46 bytes; the VNI word below
        start.storeBE16(sourcePort, at: 34)
        start.storeBE16(UInt16(truncatingIfNeeded: 16 &+ innerLength), at: 38)
        start.storeBE32((vni & VXLANHeader.maximumVNI) << 8, at: 46)
    }

    /// Copies the template's first `lastMove + 8` bytes in 8-byte moves (the last one
    /// overlapping the one before) and writes the IPv4 total length and checksum.
    @inlinable @inline(__always)
    func writeTemplate(to start: UnsafeMutableRawPointer, innerLength: Int, lastMove: Int) {
        let h = UnsafeRawPointer(header)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 0, as: UInt64.self), toByteOffset: 0, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 16, as: UInt64.self), toByteOffset: 16, as: UInt64.self)
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: 24, as: UInt64.self), toByteOffset: 24, as: UInt64.self)
        if lastMove > 32 {
            start.storeBytes(of: h.loadUnaligned(fromByteOffset: 32, as: UInt64.self), toByteOffset: 32, as: UInt64.self)
        }
        start.storeBytes(of: h.loadUnaligned(fromByteOffset: lastMove, as: UInt64.self), toByteOffset: lastMove, as: UInt64.self)
        let total = UInt16(truncatingIfNeeded: overhead &- 14 &+ innerLength)
        var sum = UInt32(headerSum) &+ UInt32(total)
        sum = (sum & 0xFFFF) &+ (sum >> 16)  // one fold: ≤ 0x1FFFE before it
        start.storeBE16(total, at: 16)
        start.storeBE16(~UInt16(truncatingIfNeeded: sum), at: 24)
    }
}
