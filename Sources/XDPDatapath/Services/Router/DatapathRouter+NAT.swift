import XDPPacket

// Router NAT: the reference design's qrouter namespace's iptables nat table, on the connection tracker
// =====================================================================================
//
// The L3 agent programs, per router (neutron/agent/l3/router_info.py):
//
//   PREROUTING   -d FIP -j DNAT --to-destination FIXED                      (floating IPs)
//                -d 169.254.169.254/32 -i qr-+ -p tcp --dport 80 -j REDIRECT --to-ports 9697
//   POSTROUTING  ! -o qg-… -m conntrack ! --ctstate DNAT -j ACCEPT           (east-west: no SNAT)
//   float-snat   -s FIXED -j SNAT --to-source FIP                           (before the default)
//   snat         -o qg-… -j SNAT --to-source GW_IP                          (enable_snat)
//                -m mark ! --mark 0x2 -m conntrack --ctstate DNAT -j SNAT --to-source GW_IP
//                                                        (hairpin: DNATed, not entered by qg-)
//
// Here the router owns a `ConnectionTracker` (one per router, so the zone is a constant:
// tenants' address spaces may overlap, their trackers never meet) and does, per IPv4
// packet, after the sanity checks and before the route lookup:
//
// 1. Look the packet up with NAT `.existing`, without committing. A packet of a
//    translated connection, in either direction, comes back rewritten in place (ICMP
//    errors about one too, quoted headers included); it is routed on its new
//    destination. An invalid packet of a translated connection (TCP out of window) is
//    dropped (`nat-invalid`) rather than leak untranslated.
// 2. A packet that may open a connection gets the translation the rules above give:
//    DNAT first (metadata: TCP to 169.254.169.254:80 entering by an internal interface →
//    the configured endpoint; a floating IP → its fixed address), then one route lookup
//    on the (new) destination decides SNAT: leaving by the gateway interface from an
//    internal subnet, or DNATed to a floating IP and not entered by the gateway (the
//    hairpin), the source becomes the source's floating IP if it has one (port kept) or,
//    with SNAT enabled, the gateway address with a port from the SNAT range. The
//    metadata redirect is never source-NATed: the proxy identifies the VM by its
//    address. The connection is committed with both translations at once; a full port
//    range drops the packet (`nat-exhausted`), a full table too (`nat-table-full`).
// 3. Everything else (east-west traffic, traffic to the router itself, answers with no
//    connection) is routed untranslated and leaves nothing in the tracker: only
//    translated connections are committed. A packet for a floating IP that could not be
//    translated is dropped (`nat-untranslated`): the floating IP is no host.
//
// The router answers ARP for its floating IPs on the gateway interface (DatapathRouter+ARP.swift).
// `updateFloatingIPs` changes the floating IPs at run time; connections translated to or
// from a removed (or re-pointed) floating IP are flushed from the tracker, so a
// disassociated floating IP cuts its connections at once, as the L3 agent's conntrack
// deletion does.
//
// ICMP errors the router itself sends about a packet it has translated (no route, TTL,
// fragmentation needed: path MTU discovery through NAT) are about the packet as it was
// sent: the frame is translated back first (`natRestore`), so the error goes to the real
// sender and quotes what it sent. Time exceeded is answered before translation.
//
// Not done: fragments entering or leaving by the gateway interface are dropped
// (`nat-fragment`; east-west fragments are routed); ALGs (FTP, TFTP); IPv6 (the router
// is IPv4 only).
//
// Cost: per packet one tracker lookup (two for a packet that opens a translated
// connection), no allocation, no reference counting (the tracker is reached through an
// unretained reference), floating IPs found by binary search in plain arrays.

/// What the per-packet NAT step reads, as plain values in memory allocated once (the
/// floating-IP tables are swapped whole by `updateFloatingIPs`).
@usableFromInline
struct RouterNATPath {
    @usableFromInline var enabled = false
    @usableFromInline var tracker: Unmanaged<ConnectionTracker>?
    /// The gateway (external) interface's index and address.
    @usableFromInline var gateway = -1
    @usableFromInline var gatewayAddress: UInt32 = 0
    @usableFromInline var snat = false
    @usableFromInline var portMin: UInt16 = 0
    @usableFromInline var portMax: UInt16 = 0
    /// `floating << 32 | fixed`, sorted; and `fixed << 32 | floating`, sorted.
    @usableFromInline var byFloating: UnsafeMutablePointer<UInt64>?
    @usableFromInline var byFixed: UnsafeMutablePointer<UInt64>?
    @usableFromInline var floatingCount = 0
    @usableFromInline var metadata = false
    @usableFromInline var metadataAddress: UInt32 = 0
    @usableFromInline var metadataPort: UInt16 = 0
    @usableFromInline var endpoint: UInt32 = 0
    @usableFromInline var endpointPort: UInt16 = 0

    @usableFromInline init() {}

    func deallocateTables() {
        byFloating?.deallocate()
        byFixed?.deallocate()
    }

    /// The low 32 bits of the entry whose high 32 bits are `key`, or nil (binary search).
    @inlinable @inline(__always)
    static func find(_ key: UInt32, in table: UnsafeMutablePointer<UInt64>?, count: Int) -> UInt32? {
        guard let table else { return nil }
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            let k = UInt32(truncatingIfNeeded: table[mid] >> 32)
            if k == key { return UInt32(truncatingIfNeeded: table[mid]) }
            if k < key { lo = mid &+ 1 } else { hi = mid }
        }
        return nil
    }

    /// The fixed address behind floating IP `address`.
    @inlinable @inline(__always)
    func fixed(forFloating address: UInt32) -> UInt32? { Self.find(address, in: byFloating, count: floatingCount) }

    /// The floating IP of fixed address `address`.
    @inlinable @inline(__always)
    func floating(forFixed address: UInt32) -> UInt32? { Self.find(address, in: byFixed, count: floatingCount) }
}

extension DatapathRouter {
    /// The zone every NAT connection of a router is tracked in (a router has its own tracker).
    public static let natZone: UInt16 = 0

    /// Sets up NAT from `configuration` (validated): the tracker on first use, the
    /// gateway, SNAT, the floating-IP tables, the metadata redirect.
    func configureNAT(_ configuration: RouterConfiguration) {
        let p = natPath
        guard configuration.usesNAT, let gateway = configuration.gatewayInterfaceIndex else {
            p.pointee.enabled = false
            return
        }
        if natTracker == nil {
            var c = ConntrackConfiguration()
            c.capacity = configuration.natConnections
            c.tcpLoose = true  // Linux's nf_conntrack_tcp_loose: pick up connections mid-stream
            c.fragmentContexts = 1  // the router does not reassemble
            c.maxDatagramSize = 8
            c.fragmentMemory = 0
            c.hashSeed = configuration.natHashSeed
            c.stateFile = configuration.natStateFile
            let tracker = ConnectionTracker(configuration: c)
            natTracker = tracker
            p.pointee.tracker = Unmanaged.passUnretained(tracker)
        }
        p.pointee.gateway = gateway
        p.pointee.gatewayAddress = configuration.interfaces[gateway].address.rawValue
        p.pointee.snat = configuration.snat.enabled
        p.pointee.portMin = configuration.snat.portMin
        p.pointee.portMax = configuration.snat.portMax
        setFloatingTables(configuration.floatingIPs)
        if let m = configuration.metadata {
            p.pointee.metadata = true
            p.pointee.metadataAddress = m.address.rawValue
            p.pointee.metadataPort = m.port
            p.pointee.endpoint = m.endpoint.rawValue
            p.pointee.endpointPort = m.endpointPort
        } else {
            p.pointee.metadata = false
        }
        p.pointee.enabled = true
    }

    func setFloatingTables(_ list: [RouterConfiguration.FloatingIP]) {
        let p = natPath
        let byFloating = list.map { UInt64($0.floating.rawValue) << 32 | UInt64($0.fixed.rawValue) }.sorted()
        let byFixed = list.map { UInt64($0.fixed.rawValue) << 32 | UInt64($0.floating.rawValue) }.sorted()
        let old = p.pointee
        let a = UnsafeMutablePointer<UInt64>.allocate(capacity: max(1, list.count))
        a.initialize(from: byFloating, count: list.count)
        let b = UnsafeMutablePointer<UInt64>.allocate(capacity: max(1, list.count))
        b.initialize(from: byFixed, count: list.count)
        p.pointee.byFloating = a
        p.pointee.byFixed = b
        p.pointee.floatingCount = list.count
        old.deallocateTables()
    }

    /// The router's NAT connection tracker (nil until NAT is configured), for dumps:
    /// `router.conntrack?.sortedConnections()` lists `orig=(…),reply=(…)` with translated replies.
    /// Control path, on the thread that owns the router.
    public var conntrack: ConnectionTracker? { natTracker }

    /// Frees every NAT connection whose expiration passed by `now` (all of them, however
    /// long since the last call). The datapath's `tick` calls it between batches; a
    /// router used on its own may call it from an idle loop.
    @inlinable
    public func expireConnections(now: DatapathInstant) {
        guard let tracker = natPath.pointee.tracker else { return }
        tracker._withUnsafeGuaranteedRef { _ = $0.expire(now: now) }
    }

    /// Replaces the floating IPs at run time (`floatingip-associate`/`-disassociate`),
    /// between batches on the router's thread. Connections translated to or from a
    /// floating IP that is removed or now points elsewhere are flushed (their next packet
    /// finds nothing). Returns how many. On a refusal nothing changes.
    @discardableResult
    public func updateFloatingIPs(_ floatingIPs: [RouterConfiguration.FloatingIP]) throws(DatapathConfigurationError) -> Int {
        var candidate = configuration
        candidate.floatingIPs = floatingIPs
        try candidate.validate()
        let kept = Set(floatingIPs)
        let gone = configuration.floatingIPs.filter { !kept.contains($0) }
        configuration = candidate
        configureNAT(candidate)
        guard !gone.isEmpty, let tracker = natTracker else { return 0 }
        let addresses = Set(gone.map { UInt64($0.floating.rawValue) })
        // DNAT to the fixed address: original destination is the floating IP; SNAT to
        // it: the reply goes to the floating IP.
        let n = tracker.flush { c in addresses.contains(c.original.dstLo) || addresses.contains(c.reply.dstLo) }
        counters[RouterEvent.natConnectionsFlushed.rawValue] &+= UInt64(n)
        return n
    }

    /// Whether the router answers ARP for `target` on `interface` besides the
    /// interface's own address: floating IPs on the gateway interface's subnet.
    @usableFromInline
    func answersARP(for target: UInt32, on interface: Int) -> Bool {
        let n = natPath.pointee
        guard n.enabled, interface == n.gateway, n.fixed(forFloating: target) != nil else { return false }
        return target & fast[interface].mask == fast[interface].network
    }

    /// True when `address` is on the subnet of an interface other than the gateway.
    @inlinable @inline(__always)
    func isInternal(_ address: UInt32, gateway: Int) -> Bool {
        var i = 0
        while i < interfaceCount {
            if i != gateway && address & fast[i].mask == fast[i].network { return true }
            i &+= 1
        }
        return false
    }

    /// The NAT step of `receive` (see the essay). Returns false when the frame was
    /// consumed (dropped); else the frame may have been rewritten and `meta`'s addresses
    /// follow it.
    @usableFromInline
    func natStep(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: inout PacketMetadata,
                 on interface: Int, now: UInt64, result: inout TrackResult) -> Bool {
        let n = natPath.pointee
        guard let cell = n.tracker else { return true }
        let dst = meta.nwDst
        if meta.flags.contains(.fragment) {
            // No reassembly here: fragments that NAT would have to see are refused.
            let out = routeEntry(for: dst)
            if interface == n.gateway || out?.interface == n.gateway || n.fixed(forFloating: dst) != nil {
                drop(address, .natFragment)
                return false
            }
            return true
        }
        if meta.nwTTL <= 1 {
            // Expiring here: answer about the packet as it was sent, before any translation.
            let route = routeEntry(for: dst)
            if n.fixed(forFloating: dst) != nil || route?.kind == RouterRoute.kindForward {
                sendError(about: frame, meta: meta, type: 11, code: ICMPType.Code.ttlExceededInTransit, now: now)
                drop(address, .ttlExceeded)
                return false
            }
        }
        let l3 = Int(meta.l3Offset)
        let ip = frame + l3
        // `_withUnsafeGuaranteedRef`: the router owns the tracker, so no retain per packet.
        var r = cell._withUnsafeGuaranteedRef {
            $0.track(frame: frame, length: Int(length), meta: meta, zone: Self.natZone, commit: false, now: now, nat: .existing)
        }
        if r.connection != 0 {
            guard !r.state.contains(.invalid) else { drop(address, .natInvalid); return false }
            if r.state.contains(.snat) || r.state.contains(.dnat) {
                meta.nwSrc = ip.loadBE32(at: 12)
                meta.nwDst = ip.loadBE32(at: 16)
                count(.natTranslated)
                result = r
            }
            return true
        }
        let fixed = n.fixed(forFloating: dst)
        guard !r.state.contains(.invalid) else {
            // No connection: routed as it is, unless it is for a floating IP.
            if fixed != nil { drop(address, .natUntranslated); return false }
            return true
        }
        // May open a connection: which translation?
        var nat = ConntrackNAT.existing
        var newDestination = dst
        var metadata = false
        if n.metadata && dst == n.metadataAddress && interface != n.gateway && meta.flags.contains(.tcp)
            && meta.tpDst == n.metadataPort {
            nat.setDestination(IPv4Address(rawValue: n.endpoint), ports: n.endpointPort...n.endpointPort)
            newDestination = n.endpoint
            metadata = true
        } else if let fixed {
            nat.setDestination(IPv4Address(rawValue: fixed))
            newDestination = fixed
        }
        if !metadata {
            let src = meta.nwSrc
            let out = routeEntry(for: newDestination)
            let leaving = out.map { $0.kind == RouterRoute.kindForward && $0.interface == n.gateway } ?? false
            let hairpin = fixed != nil && interface != n.gateway
            if (leaving || hairpin) && interface != n.gateway && isInternal(src, gateway: n.gateway) {
                if let floating = n.floating(forFixed: src) {
                    nat.setSource(IPv4Address(rawValue: floating))
                } else if n.snat {
                    nat.setSource(IPv4Address(rawValue: n.gatewayAddress), ports: n.portMin...n.portMax)
                }
            }
        }
        guard nat.flags & (ConntrackNAT.source | ConntrackNAT.destination) != 0 else { return true }
        r = cell._withUnsafeGuaranteedRef {
            $0.track(frame: frame, length: Int(length), meta: meta, zone: Self.natZone, commit: true, now: now, nat: nat)
        }
        guard r.disposition == .forward else {
            drop(address, r.reason == .natExhausted ? .natExhausted : .natTableFull)
            return false
        }
        guard r.connection != 0, !r.state.contains(.invalid) else { drop(address, .natInvalid); return false }
        count(.natConnectionsCreated)
        if r.state.contains(.snat) || r.state.contains(.dnat) {
            meta.nwSrc = ip.loadBE32(at: 12)
            meta.nwDst = ip.loadBE32(at: 16)
            count(.natTranslated)
            result = r
        }
        return true
    }

    /// Gives a translated packet back the addresses and ports it arrived with, before an
    /// ICMP error about it (no route, TTL, fragmentation needed): the error must go to
    /// the real sender and quote what it sent, as Linux's NAT of locally generated errors
    /// achieves. The frame is dropped right after. Cold.
    @inline(never)
    @usableFromInline
    func natRestore(frame: UnsafeMutableRawPointer, length: UInt32, meta: inout PacketMetadata, result: TrackResult) {
        guard let tracker = natTracker else { return }
        tracker.translateBack(frame: frame, length: Int(length), meta: meta, result: result)
        let ip = frame + Int(meta.l3Offset)
        meta.nwSrc = ip.loadBE32(at: 12)
        meta.nwDst = ip.loadBE32(at: 16)
    }
}
