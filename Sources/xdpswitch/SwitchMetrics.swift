// What `--metrics` exposes, and how it is read.
//
// Nothing here runs on the per-packet path. A scrape asks the engine twice: `statistics()`
// (the worker publishes a snapshot of its interfaces' counters and frame accounting between
// two iterations) and `perform` (a job the worker runs between two iterations, which reads
// the datapath's ports, bridges, trackers, routers and DHCP servers into plain values).
// The per-packet counters those read are the ones `xdpswitch stats`, `router-stats`,
// `dhcp-stats` and `conntrack-stats` print, so a scrape and a `stats` taken one after the
// other agree.
//
// Each scrape fills a new `PrometheusCollectorRegistry` from the values read, so a port or
// router that went away disappears from the next scrape, and a counter is the datapath's
// own number, never a second count kept beside it. Events of the command itself (the
// agent's revisions applied, the server becoming unreachable) are counted through
// swift-metrics (`Counter(label:)`) into the process registry that `MetricsSystem` was
// bootstrapped with; a scrape appends that registry's exposition to the snapshot's.
//
// Names follow Prometheus' conventions: `xdpswitch_` then the subsystem, a unit where one
// applies, `_total` on counters; labels name the object (`port`, `bridge`, `router`,
// `network`, `zone`, `interface`) and, for drops, the `reason` as `stats` prints it.
import Prometheus
import XDPSwitch

/// One metric family: its name, type and help line.
struct MetricFamily: Sendable {
    enum Kind: Sendable { case counter, gauge }
    let name: String
    let kind: Kind
    let help: String

    static func counter(_ name: String, _ help: String) -> MetricFamily { MetricFamily(name: name, kind: .counter, help: help) }
    static func gauge(_ name: String, _ help: String) -> MetricFamily { MetricFamily(name: name, kind: .gauge, help: help) }
}

/// One value of a family, with its labels.
struct MetricSample: Sendable {
    let family: MetricFamily
    let labels: [(String, String)]
    let value: Double
}

/// The samples of one scrape, gathered by family.
struct MetricSamples: Sendable {
    private(set) var samples: [MetricSample] = []

    mutating func add(_ family: MetricFamily, _ labels: [(String, String)] = [], _ value: UInt64) {
        samples.append(MetricSample(family: family, labels: labels, value: Double(value)))
    }

    mutating func add(_ family: MetricFamily, _ labels: [(String, String)] = [], _ value: Int) {
        samples.append(MetricSample(family: family, labels: labels, value: Double(value)))
    }

    mutating func add(_ family: MetricFamily, _ labels: [(String, String)] = [], _ value: Double) {
        samples.append(MetricSample(family: family, labels: labels, value: value))
    }

    mutating func append(_ other: MetricSamples) { samples += other.samples }

    /// The samples in Prometheus' text format (version 0.0.4), through a registry of
    /// their own.
    func exposition() -> String {
        let registry = PrometheusCollectorRegistry()
        for s in samples {
            // The whole name in `metricName`: no unit is appended.
            let descriptor = MetricNameDescriptor(metricName: s.family.name, unitName: "", helpText: s.family.help)
            switch s.family.kind {
            case .counter:
                let counter = registry.makeCounter(descriptor: descriptor, labels: s.labels)
                if s.value == s.value.rounded(), s.value < 9.2e18 {
                    counter.increment(by: Int64(s.value))
                } else {
                    counter.increment(by: s.value)
                }
            case .gauge:
                registry.makeGauge(descriptor: descriptor, labels: s.labels).set(s.value)
            }
        }
        return registry.emitToString()
    }
}

/// The families `--metrics` exposes (docs/monitoring.md lists them).
enum SwitchMetrics {
    // Datapath ports: what `xdpswitch stats` prints.
    static let portRxPackets = MetricFamily.counter("xdpswitch_port_rx_packets_total", "Frames received on a datapath port.")
    static let portRxBytes = MetricFamily.counter("xdpswitch_port_rx_bytes_total", "Bytes received on a datapath port.")
    static let portTxPackets = MetricFamily.counter("xdpswitch_port_tx_packets_total", "Frames sent on a datapath port.")
    static let portTxBytes = MetricFamily.counter("xdpswitch_port_tx_bytes_total", "Bytes sent on a datapath port.")
    static let portDrops = MetricFamily.counter("xdpswitch_port_drops_total", "Frames a datapath port dropped, by reason.")
    static let portFlooded = MetricFamily.counter("xdpswitch_port_flooded_packets_total", "Frames received on a port that were flooded.")
    static let portUp = MetricFamily.gauge("xdpswitch_port_up", "1 when the port's interface is up, 0 when it is down.")

    // Engine interfaces (AF_XDP sockets): what `xdpswitch run --stats-interval` prints.
    static let interfaceRxPackets = MetricFamily.counter("xdpswitch_interface_rx_packets_total", "Frames taken off an interface's RX rings.")
    static let interfaceRxBytes = MetricFamily.counter("xdpswitch_interface_rx_bytes_total", "Bytes taken off an interface's RX rings.")
    static let interfaceTxPackets = MetricFamily.counter("xdpswitch_interface_tx_packets_total", "Frames put on an interface's TX rings.")
    static let interfaceTxBytes = MetricFamily.counter("xdpswitch_interface_tx_bytes_total", "Bytes put on an interface's TX rings.")
    static let interfaceCompleted = MetricFamily.counter("xdpswitch_interface_tx_completed_total", "Frames the kernel reported transmitted.")
    static let interfaceDrops = MetricFamily.counter("xdpswitch_interface_drops_total", "Frames an interface's sockets dropped, by reason.")
    static let interfaceKicks = MetricFamily.counter("xdpswitch_interface_tx_kicks_total", "TX kicks (sendto) on an interface's sockets.")
    static let interfaceWakeups = MetricFamily.counter("xdpswitch_interface_rx_wakeups_total", "RX wakeups (recvfrom, poll) on an interface's sockets.")
    static let interfaceFillStarved = MetricFamily.counter("xdpswitch_interface_fill_starved_total", "Times the free list could not refill the fill ring.")
    static let interfaceTxRingFull = MetricFamily.counter("xdpswitch_interface_tx_ring_full_total", "Times the TX ring had no room for a whole batch.")
    static let interfaceFastPathRxPackets = MetricFamily.counter("xdpswitch_interface_fast_path_rx_packets_total",
                                                                 "Frames received on an interface that the in-kernel fast path forwarded.")
    static let interfaceFastPathRxBytes = MetricFamily.counter("xdpswitch_interface_fast_path_rx_bytes_total",
                                                               "Bytes received on an interface that the in-kernel fast path forwarded.")
    static let interfaceFastPathTxPackets = MetricFamily.counter("xdpswitch_interface_fast_path_tx_packets_total",
                                                                 "Frames the in-kernel fast path sent out of an interface.")
    static let interfaceFastPathTxBytes = MetricFamily.counter("xdpswitch_interface_fast_path_tx_bytes_total",
                                                               "Bytes the in-kernel fast path sent out of an interface.")

    // The engine's worker and its UMEM.
    static let umemFrames = MetricFamily.gauge("xdpswitch_umem_frames", "UMEM frames by where they are now.")
    static let umemCapacity = MetricFamily.gauge("xdpswitch_umem_frames_capacity", "UMEM frames in all.")
    static let umemLost = MetricFamily.gauge("xdpswitch_umem_frames_lost", "Frames the kernel never gave back from closed sockets.")
    static let umemBalanced = MetricFamily.gauge("xdpswitch_umem_accounting_balanced", "1 when every UMEM frame is accounted for exactly once.")
    static let engineIterations = MetricFamily.counter("xdpswitch_engine_iterations_total", "Worker loop iterations.")
    static let engineSleeps = MetricFamily.counter("xdpswitch_engine_sleeps_total", "Worker loop iterations that ended asleep in poll().")
    static let engineRxBatches = MetricFamily.counter("xdpswitch_engine_rx_batches_total", "RX batches taken off the rings.")
    static let engineCPU = MetricFamily.counter("xdpswitch_engine_worker_cpu_seconds_total", "CPU time (user and system) of the worker thread.")
    static let fastPathEntries = MetricFamily.gauge("xdpswitch_fast_path_entries", "Entries of the in-kernel fast path (dump-fastpath).")
    static let fastPathPackets = MetricFamily.counter("xdpswitch_fast_path_packets_total", "Frames the in-kernel fast path forwarded.")

    // Bridges: flows and the caches in front of the classifier.
    static let bridgeFlows = MetricFamily.gauge("xdpswitch_bridge_flows", "OpenFlow flows installed, by bridge and table.")
    static let bridgeFlowHits = MetricFamily.counter("xdpswitch_bridge_flow_hits_total", "Packets that matched a flow, by bridge and table.")
    static let bridgeFlowBytes = MetricFamily.counter("xdpswitch_bridge_flow_bytes_total", "Bytes of the packets that matched a flow, by bridge and table.")
    static let cacheHits = MetricFamily.counter("xdpswitch_bridge_cache_hits_total", "Lookups a bridge's cache answered (exact-match, flow-segment).")
    static let cacheMisses = MetricFamily.counter("xdpswitch_bridge_cache_misses_total", "Lookups a bridge's cache did not answer.")
    static let cacheHitRatio = MetricFamily.gauge("xdpswitch_bridge_cache_hit_ratio", "Hits over lookups of a bridge's cache since start (0 with no lookup).")
    static let macEntries = MetricFamily.gauge("xdpswitch_bridge_mac_entries", "MAC learning table entries.")

    // Connection tracking.
    static let conntrackConnections = MetricFamily.gauge("xdpswitch_conntrack_connections", "Tracked connections, by zone.")
    static let conntrackLimit = MetricFamily.gauge("xdpswitch_conntrack_connections_limit", "Most connections the tracker holds.")
    static let conntrackEvents = MetricFamily.counter("xdpswitch_conntrack_events_total", "Connection tracker counters, by event (conntrack-stats).")

    // Routers: forwarding, ARP, NAT.
    static let routerForwarded = MetricFamily.counter("xdpswitch_router_forwarded_packets_total", "Packets a router forwarded.")
    static let routerARPRequests = MetricFamily.counter("xdpswitch_router_arp_requests_sent_total", "ARP requests a router sent for next hops.")
    static let routerARPReplies = MetricFamily.counter("xdpswitch_router_arp_replies_sent_total", "ARP requests for a router's addresses answered.")
    static let routerARPRepliesReceived = MetricFamily.counter("xdpswitch_router_arp_replies_received_total", "ARP replies addressed to a router.")
    static let routerNeighbours = MetricFamily.gauge("xdpswitch_router_neighbours", "Entries of a router's neighbour (ARP) table.")
    static let routerNeighboursLearned = MetricFamily.counter("xdpswitch_router_neighbours_learned_total", "Neighbours a router added to its table.")
    static let routerWaiting = MetricFamily.gauge("xdpswitch_router_frames_waiting", "Frames a router holds until an ARP answer.")
    static let routerICMPErrors = MetricFamily.counter("xdpswitch_router_icmp_errors_sent_total", "ICMP errors a router sent.")
    static let routerNATConnections = MetricFamily.gauge("xdpswitch_router_nat_connections", "Translated connections a router holds.")
    static let routerNATCreated = MetricFamily.counter("xdpswitch_router_nat_connections_created_total", "Translated connections a router created.")
    static let routerNATTranslated = MetricFamily.counter("xdpswitch_router_nat_translated_packets_total", "Packets a router's NAT rewrote.")
    static let routerDrops = MetricFamily.counter("xdpswitch_router_drops_total", "Frames a router dropped, by reason.")

    // DHCP servers.
    static let dhcpLeases = MetricFamily.gauge("xdpswitch_dhcp_leases", "Static leases (hosts) of a network's DHCP server.")
    static let dhcpReceived = MetricFamily.counter("xdpswitch_dhcp_received_total", "Frames handed to a network's DHCP server.")
    static let dhcpReplies = MetricFamily.counter("xdpswitch_dhcp_replies_total", "DHCP replies sent, by type.")
    static let dhcpDrops = MetricFamily.counter("xdpswitch_dhcp_drops_total", "Frames a DHCP server dropped, by reason.")

    /// Everything the engine and its datapath count now (nothing when the engine has no datapath).
    static func samples(engine: AFXDPEngine) -> MetricSamples {
        var out = MetricSamples()
        engineSamples(engine.statistics(), into: &out)
        if let datapath = engine.perform({ datapath, now in datapathSamples(datapath, now: now) }) { out.append(datapath) }
        return out
    }

    static func engineSamples(_ stats: EngineStatistics, into out: inout MetricSamples) {
        for i in stats.interfaces {
            let l = [("interface", i.name)]
            out.add(interfaceRxPackets, l, i.rxPackets)
            out.add(interfaceRxBytes, l, i.rxBytes)
            out.add(interfaceTxPackets, l, i.txPackets)
            out.add(interfaceTxBytes, l, i.txBytes)
            out.add(interfaceCompleted, l, i.completed)
            out.add(interfaceKicks, l, i.txKicks)
            out.add(interfaceWakeups, l, i.rxWakeups)
            out.add(interfaceFillStarved, l, i.fillStarved)
            out.add(interfaceTxRingFull, l, i.txRingFullEvents)
            out.add(interfaceFastPathRxPackets, l, i.fastPathRxPackets)
            out.add(interfaceFastPathRxBytes, l, i.fastPathRxBytes)
            out.add(interfaceFastPathTxPackets, l, i.fastPathTxPackets)
            out.add(interfaceFastPathTxBytes, l, i.fastPathTxBytes)
            for (reason, n) in i.drops.sorted(by: { $0.key < $1.key }) { out.add(interfaceDrops, l + [("reason", reason)], n) }
        }
        let f = stats.frames
        for (place, n) in [("free", f.free), ("fill_ring", f.fillRing), ("kernel_rx", f.kernelRX), ("rx_ring", f.rxRing),
                           ("in_flight", f.inFlight), ("tx_ring", f.txRing), ("kernel_tx", f.kernelTX),
                           ("completion_ring", f.completionRing)] {
            out.add(umemFrames, [("place", place)], n)
        }
        out.add(umemCapacity, [], f.total)
        out.add(umemLost, [], stats.framesLost)
        out.add(umemBalanced, [], f.isBalanced ? 1 : 0)
        out.add(engineIterations, [], stats.iterations)
        out.add(engineSleeps, [], stats.sleeps)
        out.add(engineRxBatches, [], stats.rxBatches)
        out.add(engineCPU, [], stats.workerCPUTime.secondsValue)
        out.add(fastPathEntries, [], stats.fastPathEntries)
        out.add(fastPathPackets, [], stats.fastPathPackets)
    }

    /// Reads the datapath: on the engine's worker, between two iterations (`AFXDPEngine.perform`).
    static func datapathSamples(_ datapath: Datapath, now: DatapathInstant) -> MetricSamples {
        var out = MetricSamples()
        for port in datapath.ports {
            let s = port.stats
            // The tunnel underlay's port is in no bridge: bridge="".
            let bridge = datapath.bridge(of: port)?.name ?? ""
            let l = [("port", port.name), ("bridge", bridge)]
            out.add(portRxPackets, l, s.rxPackets)
            out.add(portRxBytes, l, s.rxBytes)
            out.add(portTxPackets, l, s.txPackets)
            out.add(portTxBytes, l, s.txBytes)
            out.add(portFlooded, l, s.floodedPackets)
            out.add(portUp, l, port.linkDown == nil ? 1 : 0)
            for (reason, n) in s.drops.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                out.add(portDrops, l + [("reason", "\(reason)")], n)
            }
        }
        for bridge in datapath.bridges {
            let b = [("bridge", bridge.name)]
            var tables: [UInt8: (flows: Int, packets: UInt64, bytes: UInt64)] = [:]
            for flow in bridge.flowTable?.flows ?? [] {
                var t = tables[flow.rule.table] ?? (0, 0, 0)
                t.flows += 1
                t.packets &+= flow.counters.packets
                t.bytes &+= flow.counters.bytes
                tables[flow.rule.table] = t
            }
            for (table, t) in tables.sorted(by: { $0.key < $1.key }) {
                let l = b + [("table", String(table))]
                out.add(bridgeFlows, l, t.flows)
                out.add(bridgeFlowHits, l, t.packets)
                out.add(bridgeFlowBytes, l, t.bytes)
            }
            let exact = datapath.exactMatchCacheCounters(bridge: bridge.name) ?? (0, 0)
            let segments = datapath.flowSegmentCacheCounters(bridge: bridge.name) ?? (0, 0, 0, 0)
            for (cache, hits, misses) in [("exact_match", exact.hits, exact.misses), ("flow_segment", segments.hits, segments.misses)] {
                let l = b + [("cache", cache)]
                out.add(cacheHits, l, hits)
                out.add(cacheMisses, l, misses)
                out.add(cacheHitRatio, l, hits &+ misses == 0 ? 0 : Double(hits) / Double(hits &+ misses))
            }
            out.add(macEntries, b, bridge.macTable.entries(now: now).count)
        }
        if let tracker = datapath.conntrack {
            var zones: [UInt16: Int] = [:]
            for c in tracker.connections() { zones[c.original.zone, default: 0] += 1 }
            for (zone, n) in zones.sorted(by: { $0.key < $1.key }) { out.add(conntrackConnections, [("zone", String(zone))], n) }
            out.add(conntrackLimit, [], tracker.capacity)
            for (event, n) in tracker.nonZeroCounters.sorted(by: { $0.key < $1.key }) { out.add(conntrackEvents, [("event", event)], n) }
        }
        for router in datapath.routers {
            let s = router.stats
            let l = [("router", router.name)]
            out.add(routerForwarded, l, s.forwarded)
            out.add(routerARPRequests, l, s.arpRequestsSent)
            out.add(routerARPReplies, l, s.arpRepliesSent)
            out.add(routerARPRepliesReceived, l, s.arpRepliesReceived)
            out.add(routerNeighbours, l, router.neighbourTable.count)
            out.add(routerNeighboursLearned, l, s.neighboursLearned)
            out.add(routerWaiting, l, router.pendingCount)
            out.add(routerICMPErrors, l, s.icmpErrorsSent)
            if router.conntrack != nil {
                out.add(routerNATConnections, l, s.natConnections)
                out.add(routerNATCreated, l, s.natConnectionsCreated)
                out.add(routerNATTranslated, l, s.natTranslated)
            }
            for (reason, n) in s.drops.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                out.add(routerDrops, l + [("reason", "\(reason)")], n)
            }
        }
        for responder in datapath.dhcpResponders {
            let s = responder.stats
            let l = [("network", responder.network)]
            out.add(dhcpLeases, l, responder.configuration.hosts.count)
            out.add(dhcpReceived, l, s.received)
            for (type, n) in [("offer", s.offers), ("ack", s.acks), ("nak", s.naks)] { out.add(dhcpReplies, l + [("type", type)], n) }
            for (reason, n) in s.drops.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                out.add(dhcpDrops, l + [("reason", "\(reason)")], n)
            }
        }
        return out
    }
}
