import XDPPacket

// An IPv4 router as a datapath element: the reference design's `qrouter-<id>` namespace without NAT.
//
// What it does, per frame received on one of its interfaces (`receive`, or `process`
// for a batch that still needs parsing):
//
// 1. Sanity: the caller's `PacketMetadata` must show a well-formed frame (else the parse
//    error is the drop reason), untagged (a bridge pops the access VLAN before a router
//    port sees the frame), addressed to the interface's MAC (ARP: or broadcast).
// 2. ARP (`DatapathRouter+ARP.swift`, cold): requests for the receiving interface's address are
//    answered in place; senders talking to us are learned (RFC 826 merge for known ones);
//    a learned neighbour releases the frames that waited for it.
// 3. IPv4: header checksum verified (RFC 1812 §5.2.2), martian sources dropped, then one
//    longest-prefix lookup in the router's own `RouteTable`, which also holds the router's
//    addresses (/32, "local") and its subnets' broadcast addresses (/32, "broadcast") — as
//    Linux keeps a local table beside the main one, but in one lookup.
//    - local: ICMP echo is answered (`DatapathRouter+ICMP.swift`); UDP gets port unreachable,
//      other non-TCP protocols protocol unreachable; the rest is counted and dropped.
//    - no route: ICMP destination unreachable / net unreachable (type 3 code 0).
//    - TTL ≤ 1: ICMP time exceeded (type 11 code 0) quoting the packet as received.
//    - larger than the output interface's MTU: fragmentation needed when DF is set (the
//      router never fragments).
//    - otherwise the TTL is decremented with an RFC 1624 incremental checksum update
//      (`IPv4Header.decrementTTL`), the source MAC becomes the output interface's and the
//      destination MAC the next hop's (the gateway, or the destination on a connected
//      subnet), and the frame is appended to the output interface's `txQueue`.
// 4. Unknown next hop: the frame waits (at most `pendingLimit` per next hop and
//    `pendingTotalLimit` in all) and an ARP request goes out; it is repeated every
//    `arpRetransmitInterval`, and after `arpMaximumRequests` unanswered ones the waiting
//    frames are dropped with ICMP host unreachable, as Linux's neighbour layer does.
//    The clock is the `now` the caller passes; the router never reads one. Retransmission
//    and give-up run when a call's `now` passes the next deadline (or from `service(now:)`).
//
// ICMP errors follow RFC 1812 §4.3.2.7 (never about an ICMP error, a non-first fragment,
// or a packet from a non-unicast source), quote as much of the packet as keeps the error
// within 576 bytes, come from the address of the interface they leave by, are routed like
// any packet the router originates, and are rate limited by a token bucket.
//
// Frames: the router takes every frame it is given. Each ends in exactly one place: an
// interface's `txQueue` (the caller drains it), the waiting queue of a next hop
// (`pendingCount`), or back in the pool (a drop, counted by reason, or an ARP reply that
// was consumed). The frames it builds (ARP requests, ICMP errors) come from the same pool;
// `pool.freeCount + queued + pendingCount` stays constant across calls.
//
// Isolation: a router owns its route table, neighbours and waiting queues; nothing is
// shared between routers but the frame pool, so tenants' address spaces may overlap.
//
// Threads: one worker owns a router (and its pool); no locks. Per-packet paths do not
// allocate or throw; ARP, local delivery and ICMP errors are cold (`@inline(never)`),
// and only the ARP waiting queues allocate.
//
// Hooks for bridges: a router interface is meant to be a port of a bridge (`qr-` on
// br-int, `qg-` on br-ex); see docs/routers.md for the proposed integration.

/// One interface of a router: its addresses and the queue of frames it sends.
public final class RouterInterface {
    /// Position in `DatapathRouter.interfaces` (what `receive(…on:)` takes).
    public let index: Int
    /// The device name (`qr-…`, `qg-…`).
    public let name: String
    /// The MAC the router answers ARP with and sends from on this interface.
    public let mac: MACAddress
    /// The interface's address (the subnet's gateway for a `qr-`).
    public let address: IPv4Address
    /// The connected subnet's prefix length.
    public let prefixLength: Int
    /// Largest IPv4 packet sent out of this interface.
    public let mtu: Int
    /// Frames the router wants sent out of this interface. Whoever serves the interface
    /// owns them once a router call returns and must empty the queue (`removeAll`) after
    /// taking them.
    public let txQueue: PacketBatch

    init(index: Int, configuration: RouterConfiguration.Interface, txQueueCapacity: Int) {
        self.index = index
        name = configuration.name
        mac = configuration.mac
        address = configuration.address
        prefixLength = configuration.prefixLength
        mtu = configuration.mtu
        txQueue = PacketBatch(capacity: txQueueCapacity)
    }

    /// The connected subnet.
    public var subnet: IPv4Prefix { IPv4Prefix(address, length: prefixLength)! }
}

/// What the per-packet path reads of an interface, as a plain value in memory allocated once.
@frozen
@usableFromInline
struct RouterInterfaceFastPath {
    @usableFromInline let mac: UInt64
    @usableFromInline let address: UInt32
    @usableFromInline let mask: UInt32
    @usableFromInline let mtu: Int
    @usableFromInline let tx: BatchStorage
    /// rxPackets, rxBytes, txPackets, txBytes.
    @usableFromInline let counters: UnsafeMutablePointer<UInt64>

    @inlinable var network: UInt32 { address & mask }
}

/// What the per-packet path reads of a route-table entry.
@frozen
@usableFromInline
struct RouterRoute {
    /// `kindForward`, `kindLocal` or `kindBroadcast`.
    @usableFromInline let kind: UInt8
    @usableFromInline let interface: Int
    /// Host order; 0 for a connected route (the destination is the next hop).
    @usableFromInline let nextHop: UInt32

    @usableFromInline static let kindForward: UInt8 = 0
    @usableFromInline static let kindLocal: UInt8 = 1
    @usableFromInline static let kindBroadcast: UInt8 = 2
}

/// The routing table as the per-packet path reads it: swapped whole by `updateRoutes`.
@frozen
@usableFromInline
struct RouterLookup {
    @usableFromInline var view: RouteTableView
    /// What each table entry means, by the index the lookup returns.
    @usableFromInline var info: UnsafeMutablePointer<RouterRoute>
}

/// Mutable scalars of a router, kept in memory allocated once (no exclusivity checks).
@usableFromInline
struct RouterState {
    /// When `service` must run next (ARP retransmission or give-up); `UInt64.max`: never.
    @usableFromInline var nextServiceTime: UInt64 = .max
    /// Frames waiting for ARP answers, all next hops together.
    @usableFromInline var pendingTotal = 0
    /// ICMP error bucket, in billionths of a token.
    @usableFromInline var tokens: UInt64 = 0
    @usableFromInline var lastRefill: UInt64 = 0
    @usableFromInline var refillStarted = false
}

/// Frames waiting for one next hop's ARP answer.
@usableFromInline
struct PendingHop {
    @usableFromInline var interface: Int
    @usableFromInline var frames: [(address: UInt64, length: UInt32)] = []
    @usableFromInline var requests = 0
    @usableFromInline var lastRequest: UInt64 = 0
}

/// An IPv4 router without NAT: interfaces, a longest-prefix-match routing table, ARP, TTL
/// and ICMP. See the essay at the top of `DatapathRouter.swift`.
///
/// ```swift
/// let router = try DatapathRouter(configuration: config, pool: pool)
/// router.process(batch, on: 0, now: clock)           // frames received on interface 0
/// for out in router.interfaces { send(out.txQueue); out.txQueue.removeAll() }
/// ```
public final class DatapathRouter {
    /// What the router was built from (with the routes of the last `updateRoutes`).
    public internal(set) var configuration: RouterConfiguration
    /// The router's name.
    public let name: String
    /// The pool every frame given to (or built by) the router belongs to.
    public let pool: FramePool
    /// Interfaces in configuration order.
    public let interfaces: [RouterInterface]
    /// The routing table's contents: connected, static and default routes.
    public private(set) var routes: [RouterConfiguration.ResolvedRoute]

    /// Kept alive for `lookup`, which the per-packet path reads.
    var table: RouteTable
    /// The table's view and entries, in memory allocated once (no exclusivity checks).
    @usableFromInline let lookup: UnsafeMutablePointer<RouterLookup>
    @usableFromInline let fast: UnsafeMutablePointer<RouterInterfaceFastPath>
    @usableFromInline let interfaceCount: Int
    @usableFromInline let neighbours: NeighbourTable
    /// `RouterEvent` slots, then one per `RouterDropReason`.
    @usableFromInline let counters: UnsafeMutablePointer<UInt64>
    @usableFromInline let state: UnsafeMutablePointer<RouterState>
    @usableFromInline var pending: [UInt32: PendingHop] = [:]
    // Limits, copied out of the configuration for the cold paths.
    @usableFromInline let pendingLimit: Int
    @usableFromInline let pendingTotalLimit: Int
    @usableFromInline let arpInterval: UInt64
    @usableFromInline let arpMaximumRequests: Int
    @usableFromInline let icmpRate: UInt64
    @usableFromInline let icmpBurst: UInt64
    /// NAT settings the per-packet path reads (DatapathRouter+NAT.swift); `enabled` false: none.
    @usableFromInline let natPath: UnsafeMutablePointer<RouterNATPath>
    /// The NAT connection tracker, once NAT is configured (owned here; `natPath` holds
    /// an unretained reference for the per-packet path).
    var natTracker: ConnectionTracker?

    @usableFromInline static let eventSlots = RouterEvent.allCases.count
    @usableFromInline static let interfaceSlots = 4

    /// A router from a validated `configuration`, taking frames from `pool`. Each interface
    /// gets a transmit queue of `txQueueCapacity` frames.
    public init(configuration: RouterConfiguration, pool: FramePool, txQueueCapacity: Int = 256) throws(DatapathConfigurationError) {
        let resolved = try configuration.resolvedRoutes()
        self.configuration = configuration
        name = configuration.name
        self.pool = pool
        routes = resolved
        let interfaces = configuration.interfaces.enumerated().map {
            RouterInterface(index: $0.offset, configuration: $0.element, txQueueCapacity: txQueueCapacity)
        }
        self.interfaces = interfaces
        interfaceCount = interfaces.count
        fast = .allocate(capacity: interfaces.count)
        for (i, interface) in interfaces.enumerated() {
            let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.interfaceSlots)
            slots.initialize(repeating: 0, count: Self.interfaceSlots)
            (fast + i).initialize(to: RouterInterfaceFastPath(
                mac: interface.mac.rawValue, address: interface.address.rawValue,
                mask: IPv4Prefix.mask(length: interface.prefixLength), mtu: interface.mtu,
                tx: interface.txQueue.storage, counters: slots))
        }
        let (table, info) = Self.buildTable(resolved, interfaces: interfaces)
        self.table = table
        lookup = .allocate(capacity: 1)
        lookup.initialize(to: RouterLookup(view: table.view, info: info))
        neighbours = NeighbourTable(capacity: configuration.neighbourCapacity)
        let counterCount = Self.eventSlots + RouterDropReason.allCases.count
        counters = .allocate(capacity: counterCount)
        counters.initialize(repeating: 0, count: counterCount)
        state = .allocate(capacity: 1)
        state.initialize(to: RouterState())
        pendingLimit = configuration.pendingLimit
        pendingTotalLimit = configuration.pendingTotalLimit
        arpInterval = UInt64(max(1, configuration.arpRetransmitInterval.nanosecondsClamped))
        arpMaximumRequests = configuration.arpMaximumRequests
        icmpRate = UInt64(configuration.icmpErrorsPerSecond)
        icmpBurst = UInt64(configuration.icmpErrorBurst)
        state.pointee.tokens = icmpBurst &* 1_000_000_000
        natPath = .allocate(capacity: 1)
        natPath.initialize(to: RouterNATPath())
        configureNAT(configuration)
    }

    /// The table: the routes, then each interface's address (local) and its subnet's
    /// broadcast and network addresses (up to /30; /31 and /32 have none, RFC 3021).
    static func buildTable(_ resolved: [RouterConfiguration.ResolvedRoute],
                           interfaces: [RouterInterface]) -> (RouteTable, UnsafeMutablePointer<RouterRoute>) {
        var prefixes = resolved.map(\.prefix)
        var info = resolved.map { RouterRoute(kind: RouterRoute.kindForward, interface: $0.interface, nextHop: $0.nextHop?.rawValue ?? 0) }
        for interface in interfaces {
            prefixes.append(IPv4Prefix(interface.address, length: 32)!)
            info.append(RouterRoute(kind: RouterRoute.kindLocal, interface: interface.index, nextHop: 0))
            if interface.prefixLength <= 30 {
                // The old BSD broadcast (network address) too: never forwarded, never ARPed for.
                for address in [interface.subnet.broadcast, interface.subnet.address] {
                    prefixes.append(IPv4Prefix(address, length: 32)!)
                    info.append(RouterRoute(kind: RouterRoute.kindBroadcast, interface: interface.index, nextHop: 0))
                }
            }
        }
        let entries = UnsafeMutablePointer<RouterRoute>.allocate(capacity: max(info.count, 1))
        entries.initialize(from: info, count: info.count)
        return (RouteTable(prefixes), entries)
    }

    /// Replaces the static routes and the default gateway (Neutron's `router-update
    /// --routes`, `router-gateway-set`), keeping interfaces, neighbours and waiting frames.
    /// Call it between batches, on the thread that owns the router. On a refusal nothing
    /// changes.
    public func updateRoutes(_ routes: [RouterConfiguration.Route], defaultGateway: IPv4Address?) throws(DatapathConfigurationError) {
        var candidate = configuration
        candidate.routes = routes
        candidate.defaultGateway = defaultGateway
        let resolved = try candidate.resolvedRoutes()
        let (table, info) = Self.buildTable(resolved, interfaces: interfaces)
        let old = lookup.pointee.info
        lookup.pointee = RouterLookup(view: table.view, info: info)
        old.deallocate()
        self.table = table  // the old table's memory goes with it: nothing reads its view now
        self.routes = resolved
        configuration = candidate
    }

    deinit {
        // Frames still waiting go back to the pool: the router is their only owner.
        for hop in pending.values { for frame in hop.frames { pool.free(frame.address) } }
        for i in 0..<interfaceCount { fast[i].counters.deallocate() }
        fast.deinitialize(count: interfaceCount)
        fast.deallocate()
        lookup.pointee.info.deallocate()
        lookup.deallocate()
        neighbours.deallocate()
        counters.deallocate()
        state.deallocate()
        natPath.pointee.deallocateTables()
        natPath.deallocate()
    }

    // MARK: Entry points

    /// Routes every frame of `batch`, received on interface `interface`, and empties the
    /// batch. Parses each frame once; use `receive` when the metadata is already known.
    @inlinable
    public func process(_ batch: PacketBatch, on interface: Int, now: DatapathInstant) {
        let storage = batch.storage
        let n = storage.countPointer.pointee
        var meta = PacketMetadata()
        var i = 0
        while i < n {
            let address = storage.addresses[i]
            let length = storage.lengths[i]
            PacketParser.parse(pool.pointer(address), length: Int(length), into: &meta)
            receive(address: address, length: length, meta: meta, on: interface, now: now)
            i &+= 1  // < n
        }
        storage.countPointer.pointee = 0
    }

    /// Routes one frame received on interface `interface` (an index in `interfaces`):
    /// `address` and `length` name the frame's data in `pool`, `meta` is what
    /// `PacketParser.parse` found in it. The router owns the frame from here on.
    /// `now` is the time on the caller's clock (any epoch, never going backwards).
    @inlinable
    public func receive(address: UInt64, length: UInt32, meta: PacketMetadata, on interface: Int, now instant: DatapathInstant) {
        let now = instant.nanoseconds
        if now >= state.pointee.nextServiceTime { service(now: instant) }
        guard interface >= 0, interface < interfaceCount else { drop(address, .unknownInterface); return }
        let input = fast[interface]
        input.counters[0] &+= 1
        input.counters[1] &+= UInt64(length)
        guard meta.error == .none else { drop(address, RouterDropReason(meta.error) ?? .truncatedEthernet); return }
        guard meta.vlanCount == 0 else { drop(address, .vlanTagged); return }
        let frame = pool.pointer(address)
        if meta.flags.contains(.arp) {
            receiveARP(address: address, length: length, frame: frame, meta: meta, on: interface, now: now)
            return
        }
        guard meta.dlDst == input.mac else { drop(address, .notForRouterMAC); return }
        guard meta.flags.contains(.ipv4) else { drop(address, .unsupportedEtherType); return }
        let l3 = Int(meta.l3Offset)
        let ip = frame + l3
        let headerLength = Int(ip.loadBE8(at: 0) & 0x0F) &* 4  // the parser checked 20...60 within the frame
        guard Checksum.verifyIPv4Header(ip, headerLength: headerLength) else { drop(address, .badIPv4Checksum); return }
        guard PathMTU.isUnicastHost(meta.nwSrc) else { drop(address, .martianSource); return }
        var meta = meta
        var nat = TrackResult(state: [], zone: 0)
        if natPath.pointee.enabled {
            // Translates in place before routing (the destination may change the route).
            guard natStep(address: address, length: length, frame: frame, meta: &meta, on: interface, now: now,
                          result: &nat) else { return }
        }
        guard let route = routeEntry(for: meta.nwDst) else {
            if PathMTU.isUnicastHost(meta.nwDst) {
                if nat.connection != 0 { natRestore(frame: frame, length: length, meta: &meta, result: nat) }
                sendError(about: frame, meta: meta, type: 3, code: ICMPType.Code.netUnreachable, now: now)
                drop(address, .noRoute)
            } else {
                drop(address, .martianDestination)
            }
            return
        }
        guard route.kind == RouterRoute.kindForward else {
            if route.kind == RouterRoute.kindLocal {
                deliverLocally(address: address, length: length, frame: frame, meta: meta, on: interface, now: now)
            } else {
                drop(address, .martianDestination)
            }
            return
        }
        guard PathMTU.isUnicastHost(meta.nwDst) else { drop(address, .martianDestination); return }
        guard meta.nwTTL > 1 else {
            if nat.connection != 0 { natRestore(frame: frame, length: length, meta: &meta, result: nat) }
            sendError(about: frame, meta: meta, type: 11, code: ICMPType.Code.ttlExceededInTransit, now: now)
            drop(address, .ttlExceeded)
            return
        }
        let out = fast[route.interface]
        guard Int(ip.loadBE16(at: 2)) <= out.mtu else {
            if ip.loadBE16(at: 6) & 0x4000 != 0 {
                // About the packet as it was sent (a translated one is translated back).
                if nat.connection != 0 { natRestore(frame: frame, length: length, meta: &meta, result: nat) }
                sendError(about: frame, meta: meta, type: 3, code: ICMPType.Code.fragmentationNeeded,
                          rest: UInt32(out.mtu), now: now)
            }
            drop(address, .mtuExceeded)
            return
        }
        _ = IPv4Header(ip).decrementTTL()  // TTL > 1 checked above
        counters[RouterEvent.forwarded.rawValue] &+= 1
        transmit(address: address, length: length, frame: frame, out: route.interface,
                 nextHop: route.nextHop != 0 ? route.nextHop : meta.nwDst, now: now)
    }

    // MARK: Output

    /// Sends a frame whose IPv4 header is final out of interface `out` toward `nextHop`:
    /// writes the interface's MAC as source and the next hop's as destination, or parks
    /// the frame until ARP finds it.
    @inlinable
    func transmit(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, out: Int, nextHop: UInt32, now: UInt64) {
        frame.storeBE48(fast[out].mac, at: 6)
        guard let mac = neighbours.lookup(nextHop) else {
            waitForNeighbour(nextHop, address: address, length: length, out: out, now: now)
            return
        }
        frame.storeBE48(mac, at: 0)
        enqueue(address: address, length: length, out: out)
    }

    /// Appends a finished frame to interface `out`'s transmit queue.
    @inlinable
    func enqueue(address: UInt64, length: UInt32, out: Int) {
        let o = fast[out]
        guard o.tx.append(address: address, length: length) else { drop(address, .txQueueFull); return }
        o.counters[2] &+= 1
        o.counters[3] &+= UInt64(length)
    }

    /// Routes a packet the router originates (echo reply, ICMP error) whose IPv4 header is
    /// final: destination from the header, source MAC and next hop from the table.
    @usableFromInline
    func originate(address: UInt64, length: UInt32, now: UInt64) {
        let frame = pool.pointer(address)
        let destination = frame.loadBE32(at: 14 &+ 16)
        guard let route = routeEntry(for: destination), route.kind == RouterRoute.kindForward else {
            drop(address, .noRoute)
            return
        }
        transmit(address: address, length: length, frame: frame, out: route.interface,
                 nextHop: route.nextHop != 0 ? route.nextHop : destination, now: now)
    }

    /// The table entry for `destination` (host order), nil when nothing matches.
    @inlinable @inline(__always)
    func routeEntry(for destination: UInt32) -> RouterRoute? {
        let l = lookup.pointee
        let r = l.view.lookup(raw: destination)
        return r < 0 ? nil : l.info[Int(r)]
    }

    /// Counts `reason` and returns the frame to the pool.
    @inlinable
    func drop(_ address: UInt64, _ reason: RouterDropReason) {
        counters[Self.eventSlots &+ reason.rawValue] &+= 1
        pool.free(address)
    }

    @inlinable
    func count(_ event: RouterEvent) { counters[event.rawValue] &+= 1 }

    // MARK: Inspection

    /// Counters at this moment.
    public var stats: RouterStats {
        var drops: [RouterDropReason: UInt64] = [:]
        for reason in RouterDropReason.allCases where counters[Self.eventSlots + reason.rawValue] != 0 {
            drops[reason] = counters[Self.eventSlots + reason.rawValue]
        }
        func event(_ e: RouterEvent) -> UInt64 { counters[e.rawValue] }
        let perInterface = interfaces.map { interface in
            let c = fast[interface.index].counters
            return RouterInterfaceStats(name: interface.name, rxPackets: c[0], rxBytes: c[1], txPackets: c[2], txBytes: c[3])
        }
        var stats = RouterStats(forwarded: event(.forwarded), arpRequestsSent: event(.arpRequestsSent),
                                arpRepliesSent: event(.arpRepliesSent), arpRepliesReceived: event(.arpRepliesReceived),
                                neighboursLearned: event(.neighboursLearned), neighbourTableFull: event(.neighbourTableFull),
                                echoReplies: event(.echoReplies), icmpErrorsSent: event(.icmpErrorsSent),
                                icmpErrorsRateLimited: event(.icmpErrorsRateLimited), drops: drops, interfaces: perInterface)
        stats.natTranslated = event(.natTranslated)
        stats.natConnectionsCreated = event(.natConnectionsCreated)
        stats.natConnectionsFlushed = event(.natConnectionsFlushed)
        stats.natConnections = natTracker?.connectionCount ?? 0
        return stats
    }

    /// The neighbours the router knows now, by address (`ip neigh` in the namespace).
    public var neighbourTable: [IPv4Address: MACAddress] {
        Dictionary(uniqueKeysWithValues: neighbours.entries.map { (IPv4Address(rawValue: $0.0), MACAddress(rawValue: $0.1)) })
    }

    /// Frames waiting for ARP answers.
    public var pendingCount: Int { state.pointee.pendingTotal }

    /// The index of the interface named `name`.
    public func interfaceIndex(named name: String) -> Int? { interfaces.firstIndex { $0.name == name } }

    /// The route `destination` takes, nil when none (`ip route get`). Local and broadcast
    /// addresses of the router have no route here.
    public func route(to destination: IPv4Address) -> RouterConfiguration.ResolvedRoute? {
        guard let i = table.lookup(destination), i < routes.count else { return nil }
        return routes[i]
    }
}
