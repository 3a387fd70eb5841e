import XDPPacket

// What the in-kernel fast path needs from a router (Sources/XDPDatapath/FastPath/
// Datapath+FastPathRoutes.swift): the router's answer for a packet worked out from its
// header fields alone, changing nothing, and crediting the router with the packets the
// kernel forwarded in its place.
//
// `fastPathForward` follows `receive` step by step for a packet that is forwarded: sanity
// (addressed to the interface's MAC, unicast source), NAT (a translated connection the
// tracker holds: `ConnectionTracker.fastPathTranslated`; with NAT on, a packet of no
// translated connection is not answered — whether it would open one is the slow path's
// to find), the route (forward, unicast destination), TTL > 1, the output interface's MTU
// and a resolved next hop. Everything else `receive` does (ARP, local delivery, ICMP
// errors, waiting for a neighbour, fragments, a bad checksum) leaves the packet to the
// slow path: the fast path never carries it.
//
// Staying true: routes and floating IPs change only by control operations (the transport
// re-checks its entries around every one); a neighbour's MAC changes by ARP on the data
// path, which `neighbourChanges` counts.
extension DatapathRouter {
    /// The router's answer for a forwarded packet: where it leaves and how it looks then.
    struct FastPathForward: Equatable {
        /// The interface it leaves by.
        var outInterface: Int
        /// Its MACs as it leaves (the interface's, the next hop's).
        var source: UInt64
        var destination: UInt64
        /// The next hop the destination MAC is the neighbour entry of.
        var nextHop: UInt32
        /// Its addresses and ports as it leaves (translated or not).
        var tuple: ConntrackKey
        /// The translated connection (entry, direction, original tuple), if any.
        var translation: FastPathDependencies.Connection?
        /// When the translation expires (`.max` without one).
        var expiration: UInt64
        /// The longest IPv4 packet (total length) the output interface takes.
        var mtu: Int
    }

    /// What the router would do, at `now`, with a packet received on `interface` to MAC
    /// `dlDst` with these fields (`tuple`: addresses, protocol and ports, zone 0) and
    /// `ttl`, when it forwards it; nil for anything else (see the top). Changes nothing.
    func fastPathForward(interface: Int, dlDst: UInt64, tuple: ConntrackKey, ttl: UInt8, now: UInt64) -> FastPathForward? {
        guard interface >= 0, interface < interfaceCount, dlDst == fast[interface].mac,
              tuple.family == 4, PathMTU.isUnicastHost(UInt32(truncatingIfNeeded: tuple.srcLo)), ttl > 1 else { return nil }
        var leaving = tuple
        var translation: FastPathDependencies.Connection?
        var expiration = UInt64.max
        let n = natPath.pointee
        if n.enabled, let tracker = n.tracker?.takeUnretainedValue() {
            var key = tuple
            key.zone = Self.natZone
            guard let found = tracker.fastPathTranslated(key, now: now) else { return nil }
            leaving = found.translated
            leaving.zone = 0
            translation = .init(entry: found.entry, original: found.reply ? tracker.entries[found.entry].original : key,
                                reply: found.reply, tuple: key, mark: 0)
            expiration = found.expiration
        }
        let destination = UInt32(truncatingIfNeeded: leaving.dstLo)
        guard let route = routeEntry(for: destination), route.kind == RouterRoute.kindForward,
              PathMTU.isUnicastHost(destination) else { return nil }
        let nextHop = route.nextHop != 0 ? route.nextHop : destination
        guard let mac = neighbours.lookup(nextHop) else { return nil }
        return FastPathForward(outInterface: route.interface, source: fast[route.interface].mac, destination: mac, nextHop: nextHop,
                               tuple: leaving, translation: translation, expiration: expiration, mtu: fast[route.interface].mtu)
    }

    /// Counts `packets` packets of `bytes` bytes (as the router received them, untagged)
    /// that the kernel forwarded from `inInterface` to `outInterface` as the router would
    /// have, and refreshes their translated connection's timer from `lastUsed`.
    func creditFastPath(inInterface: Int, outInterface: Int, translation: FastPathDependencies.Connection?,
                        packets: UInt64, bytes: UInt64, lastUsed: UInt64) {
        guard inInterface >= 0, inInterface < interfaceCount, outInterface >= 0, outInterface < interfaceCount else { return }
        fast[inInterface].counters[0] &+= packets
        fast[inInterface].counters[1] &+= bytes
        fast[outInterface].counters[2] &+= packets
        fast[outInterface].counters[3] &+= bytes
        counters[RouterEvent.forwarded.rawValue] &+= packets
        guard let translation, let tracker = natPath.pointee.tracker?.takeUnretainedValue() else { return }
        counters[RouterEvent.natTranslated.rawValue] &+= packets
        tracker.creditFastPath(entry: translation.entry, original: translation.original, lastUsed: lastUsed)
    }

    /// From now on the TCP connection of `translation` is tracked liberally
    /// (Conntrack+FastPath.swift).
    func trackLiberally(_ translation: FastPathDependencies.Connection) {
        guard translation.tuple.proto == 6, let tracker = natPath.pointee.tracker?.takeUnretainedValue(),
              tracker.fastPathHolds(entry: translation.entry, original: translation.original) else { return }
        tracker.trackLiberally(entry: translation.entry)
    }

    /// How many times a known neighbour's MAC changed (ARP): the fast path's routed
    /// entries must be re-checked when it moved.
    public var neighbourChanges: UInt64 { neighbours.changes.pointee }
}
