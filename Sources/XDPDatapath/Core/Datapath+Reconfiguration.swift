// Changing a running datapath: a new configuration is a new `Datapath` over the same frame
// pool that takes over the state of everything that did not change, between two batches.
//
// Why a new datapath rather than changing this one in place: every table the per-packet
// path reads (ports, bridges, their fast views, the stages) is a constant pointer sized at
// init, read with no retain and no exclusivity check. Growing or shrinking them in place
// would make those fields variables and cost a check per packet; building a successor
// costs nothing per packet and makes a refused configuration trivially change nothing
// (the successor is thrown away before it ever runs).
//
// The succession, in three steps:
// 1. `DatapathConfiguration.keepingPortNumbers(of:)` gives every port that stays in its
//    bridge the OpenFlow port number it has now (new ports take free numbers): conntrack
//    zones, `in_port` matches and `output:` actions keep meaning the same port.
// 2. `Datapath(configuration:pool:…succeeding:)` builds the successor off the worker; a
//    `DatapathSuccession` hands it the predecessor's routers and DHCP responders whose
//    configuration is unchanged, so their NAT connections, neighbours, waiting frames and
//    leases are the same objects (the successor only reads their immutable interfaces
//    while the predecessor still runs). Any refusal is thrown here.
// 3. `takeOver(from:now:)`, on the worker between two batches, after the caller has
//    emptied the predecessor's port queues: per-port counters of ports that keep their
//    name; MAC entries learned on ports that stayed the same (bridge, name, VLANs), with
//    their ages; the counters of every flow whose rule is unchanged (by bridge); the
//    connection tracker when its configuration is unchanged; the tunnel underlay's learned
//    neighbours and frames waiting for them. Fragments the predecessor held while their
//    datagram completed are freed (counted in the summary). After it returns the
//    predecessor may be released (on the worker: routers it alone held free their waiting
//    frames to the pool in their deinit).
//
// The conntrack zone of a removed port (its OpenFlow number, the security groups' zone)
// is flushed unless the number still names a port, and a port added in the same change
// never gets a removed port's number.
//
// Not carried: the flow caches (they refill on the first packets), flows `learn` added at
// run time or add-flow put there by hand (a configuration replaces the flows whole, as
// `ovs-ofctl replace-flows` does), a router or DHCP responder whose configuration changed
// (rebuilt: its NAT and neighbours start over).

/// What the successor reuses of its predecessor, decided before it is built (see the
/// essay at the top of Datapath+Reconfiguration.swift).
///
/// Why `@unchecked Sendable` holds: a succession carries the predecessor's routers, DHCP
/// responders and connection tracker, objects its worker mutates per packet, from that
/// worker's datapath to the thread building the successor (`AFXDPEngine.reconfigure`). That
/// thread only holds the references and reads what never changes in them (`DatapathRouter.name`
/// and `interfaces`, `DHCPResponder.network`, `txQueue`); the successor mutates them only
/// once it runs on the same worker, after `takeOver`, when the predecessor is no longer
/// used. `routerUpdates` holds values. The one reference the worker itself can change,
/// the predecessor's tracker (nil until a table with `ct()` is installed), is read on the
/// worker: `AFXDPEngine.reconfigure` passes it as `previousTracker`.
public struct DatapathSuccession: @unchecked Sendable {
    /// The predecessor's routers to carry over, by name: those configured the same, and
    /// those whose only changes are floating IPs, static routes or the default gateway
    /// (`routerUpdates`).
    public var routers: [String: DatapathRouter]
    /// The configurations `takeOver` gives carried-over routers whose floating IPs or
    /// routes changed (`DatapathRouter.updateFloatingIPs`, `updateRoutes`: connections of
    /// unchanged floating IPs, neighbours and waiting frames stay), by name.
    public var routerUpdates: [String: RouterConfiguration] = [:]
    /// The predecessor's DHCP responders whose configuration is unchanged, by network.
    public var dhcpResponders: [String: DHCPResponder]
    /// The predecessor's connection tracker when its configuration is unchanged: the
    /// successor uses it from the start (its state file stays the one in use).
    public var conntrack: ConnectionTracker?

    /// Reuses the routers and DHCP responders of `previous` that are configured the same in
    /// `previousConfiguration` (what `previous` was built from) and `configuration`, and its
    /// connection tracker. Call it on the thread that runs `previous`; while its worker runs,
    /// use `init(previous:previousConfiguration:configuration:previousTracker:)`.
    public init(previous: Datapath, previousConfiguration: DatapathConfiguration, configuration: DatapathConfiguration) {
        self.init(previous: previous, previousConfiguration: previousConfiguration, configuration: configuration,
                  previousTracker: previous.conntrack)
    }

    /// The same with `previous`'s connection tracker (`Datapath.conntrack`) as read on the
    /// thread that runs it. Reads only what never changes in `previous`: callable while its
    /// worker runs.
    public init(previous: Datapath, previousConfiguration: DatapathConfiguration, configuration: DatapathConfiguration,
                previousTracker: ConnectionTracker?) {
        let before = previousConfiguration.withDerivedSeeds.withStateFiles
        let after = configuration.withDerivedSeeds.withStateFiles
        conntrack = before.conntrack == after.conntrack ? previousTracker : nil
        routers = [:]
        for config in after.routers {
            guard let old = before.routers.first(where: { $0.name == config.name }),
                  let router = previous.routers.first(where: { $0.name == config.name }) else { continue }
            if old == config {
                routers[config.name] = router
            } else if old.differsOnlyInFloatingIPsAndRoutes(from: config), (try? config.validate()) != nil {
                // The agent changes floating IPs and routes this way: rebuilding the router
                // for them would drop every translated connection and neighbour it has.
                routers[config.name] = router
                routerUpdates[config.name] = config
            }
        }
        dhcpResponders = [:]
        for config in after.dhcp where before.dhcp.first(where: { $0.network == config.network }) == config {
            if let responder = previous.dhcpResponders.first(where: { $0.network == config.network }) {
                dhcpResponders[config.network] = responder
            }
        }
    }
}

/// What a reconfiguration changed and kept: the datapath's part (`Datapath.takeOver`) and
/// the interfaces the engine attached or is waiting for.
public struct ReconfigurationSummary: Sendable, Equatable, CustomStringConvertible {
    /// Ports (of every kind) the new configuration added, by name.
    public var portsAdded: [String] = []
    /// Ports it no longer has, by name.
    public var portsRemoved: [String] = []
    /// How many ports carried over, with their counters and MAC entries.
    public var portsKept = 0
    /// New rules, all bridges together.
    public var flowsAdded = 0
    /// Rules the new configuration no longer has, all bridges together.
    public var flowsRemoved = 0
    /// Rules kept with their counters, all bridges together.
    public var flowsKept = 0
    /// Routers built anew (any change but floating IPs, routes and the default gateway), by
    /// name: their NAT connections and neighbours start over.
    public var routersChanged: [String] = []
    /// Routers the new configuration no longer has, by name.
    public var routersRemoved: [String] = []
    /// Routers carried over with their NAT connections and neighbours, by name.
    public var routersKept: [String] = []
    /// Routers kept whose floating IPs or routes were changed in place (also in `routersKept`).
    public var routersUpdated: [String] = []
    /// DHCP responders built anew, by network: their counters start over.
    public var dhcpChanged: [String] = []
    /// DHCP responders the new configuration no longer has, by network.
    public var dhcpRemoved: [String] = []
    /// DHCP responders carried over unchanged, by network.
    public var dhcpKept: [String] = []
    /// MAC learning entries carried over.
    public var macEntriesKept = 0
    /// Whether the connection tracker (and every connection in it) carried over.
    public var conntrackKept = false
    /// Connections flushed with the zones of removed ports.
    public var connectionsFlushed = 0
    /// Frames the predecessor held that could not carry over (fragments waiting for
    /// their datagram), freed.
    public var framesFreed = 0
    /// Interfaces the engine attached for the new configuration.
    public var interfacesAttached: [String] = []
    /// Interfaces the engine detached from (their ports are gone).
    public var interfacesDetached: [String] = []
    /// Interfaces configured but absent: waited for, attached when they appear.
    public var interfacesAbsent: [String] = []

    /// A summary of a reconfiguration that changed nothing (every field empty or zero).
    public init() {}

    /// Whether nothing but counters moved (the configuration was the same).
    public var isUnchanged: Bool {
        portsAdded.isEmpty && portsRemoved.isEmpty && flowsAdded == 0 && flowsRemoved == 0 && routersChanged.isEmpty
            && routersUpdated.isEmpty && routersRemoved.isEmpty && dhcpChanged.isEmpty && dhcpRemoved.isEmpty && interfacesAttached.isEmpty
            && interfacesDetached.isEmpty
    }

    /// One line: `ports +2 -1 =5, flows +10 -3 =40, routers ~r1, …`.
    public var description: String {
        func names(_ sign: String, _ list: [String]) -> String { list.isEmpty ? "" : " \(sign)\(list.joined(separator: ","))" }
        var parts = ["ports +\(portsAdded.count) -\(portsRemoved.count) =\(portsKept)" + names("added:", portsAdded) + names("removed:", portsRemoved),
                     "flows +\(flowsAdded) -\(flowsRemoved) =\(flowsKept)",
                     "mac entries kept \(macEntriesKept)", "conntrack \(conntrackKept ? "kept" : "new")"]
        if !(routersChanged + routersRemoved + routersKept).isEmpty {
            parts.append("routers" + names("new:", routersChanged) + names("removed:", routersRemoved) + names("kept:", routersKept)
                         + names("updated:", routersUpdated))
        }
        if !(dhcpChanged + dhcpRemoved + dhcpKept).isEmpty {
            parts.append("dhcp" + names("new:", dhcpChanged) + names("removed:", dhcpRemoved) + names("kept:", dhcpKept))
        }
        if !(interfacesAttached + interfacesDetached + interfacesAbsent).isEmpty {
            parts.append("interfaces" + names("attached:", interfacesAttached) + names("detached:", interfacesDetached)
                         + names("absent:", interfacesAbsent))
        }
        if connectionsFlushed > 0 { parts.append("connections of removed ports flushed \(connectionsFlushed)") }
        if framesFreed > 0 { parts.append("held fragments freed \(framesFreed)") }
        return parts.joined(separator: ", ")
    }
}

extension DatapathConfiguration {
    /// This configuration with each port that `previous` has in the same bridge given the
    /// OpenFlow port number it has there (unless the configuration sets one), so a port's
    /// number — its conntrack zone, what `in_port=`/`output:` name — does not change
    /// while it lives. Reads only what never changes in `previous`.
    /// The state directory, when this configuration names none, stays `previous`'s.
    public func keepingPortNumbers(of previous: Datapath) -> DatapathConfiguration {
        var result = self
        if result.stateDirectory == nil { result.stateDirectory = previous.stateDirectory }
        for b in result.bridges.indices {
            guard let old = previous.bridge(named: result.bridges[b].name) else { continue }
            var numbers: [String: Int] = [:]
            for id in old.portIDs { numbers[previous[id].name] = previous[id].ofport }
            var taken = Set(result.bridges[b].ports.compactMap(\.ofport))
            for p in result.bridges[b].ports.indices where result.bridges[b].ports[p].ofport == nil {
                guard let number = numbers[result.bridges[b].ports[p].name], !taken.contains(number) else { continue }
                result.bridges[b].ports[p].ofport = number
                taken.insert(number)
            }
            // New ports: numbers no port of the predecessor had, so a removed port's number
            // (and its conntrack zone) is not handed to a port added in the same change.
            taken.formUnion(numbers.values)
            var next = 1
            for p in result.bridges[b].ports.indices where result.bridges[b].ports[p].ofport == nil {
                while taken.contains(next) { next += 1 }
                result.bridges[b].ports[p].ofport = next
                taken.insert(next)
            }
        }
        return result
    }
}

extension Datapath {
    /// Takes over the state of `previous` (the datapath this one replaces, over the same
    /// pool) for everything that did not change: see the essay at the top of
    /// Datapath+Reconfiguration.swift. Call it on the thread that runs both, between two
    /// batches, after emptying `previous`'s port queues; then stop using `previous`.
    @discardableResult
    public func takeOver(from previous: Datapath, now instant: DatapathInstant) -> ReconfigurationSummary {
        let now = instant.nanoseconds
        precondition(previous.pool === pool, "a successor runs over its predecessor's frame pool")
        var summary = ReconfigurationSummary()
        // Ports: counters by name; MAC entries of ports that stayed the same.
        var sameShape: [PortID: PortID] = [:]
        for port in ports {
            guard let old = previous.port(named: port.name) else { summary.portsAdded.append(port.name); continue }
            summary.portsKept += 1
            port.counters.slots.update(from: old.counters.slots, count: PortCounters.size)
            port.linkDown = old.linkDown
            let oldBridge = previous.bridge(of: old)?.name, newBridge = bridge(of: port)?.name
            if oldBridge == newBridge && old.type == port.type && old.tag == port.tag && old.trunks == port.trunks {
                sameShape[old.id] = port.id
            }
        }
        summary.portsRemoved = previous.ports.map(\.name).filter { port(named: $0) == nil }
        for bridge in bridges {
            guard let old = previous.bridge(named: bridge.name) else { continue }
            summary.macEntriesKept += Self.carryMACEntries(from: old.macTable, to: bridge.macTable, ports: sameShape, now: now)
        }
        // Flows: counters of unchanged rules.
        for bridge in bridges {
            let flows = bridge.flowTable.flows
            guard let old = previous.bridge(named: bridge.name) else { summary.flowsAdded += flows.count; continue }
            var oldCounters: [FlowRule: [FlowCounters]] = [:]
            for flow in old.flowTable.flows { oldCounters[flow.rule, default: []].append(flow.counters) }
            var kept = 0
            for flow in flows {
                guard var list = oldCounters[flow.rule], !list.isEmpty else { continue }
                flow.counters.slots.update(from: list.removeFirst().slots, count: 4)
                oldCounters[flow.rule] = list
                kept += 1
            }
            summary.flowsKept += kept
            summary.flowsAdded += flows.count - kept
            summary.flowsRemoved += old.flowTable.flows.count - kept
        }
        for old in previous.bridges where bridge(named: old.name) == nil { summary.flowsRemoved += old.flowTable.flows.count }
        // The connection tracker, when configured the same.
        if let tracker = previous.connectionTracking.instance,
           previous.connectionTracking.configuration == connectionTracking.configuration {
            connectionTracking.owner.pointee = tracker
            connectionTracking.tracker.pointee = Unmanaged.passUnretained(tracker)
            summary.conntrackKept = true
            // The connections of removed ports' zones (their OpenFlow numbers) go with them,
            // as Neutron's agent deletes a deleted port's connections — unless the number
            // still names a port.
            let numbers = Set(ports.map(\.ofport))
            for old in previous.ports where port(named: old.name) == nil && !numbers.contains(old.ofport) && old.bridgeID != nil {
                summary.connectionsFlushed += tracker.flush(zone: UInt16(truncatingIfNeeded: old.ofport))
            }
        }
        summary.framesFreed += previous.releaseHeldFragments()
        // The underlay's learned neighbours and the frames waiting for them.
        if let old = previous.underlay {
            if let new = underlay, new.configuration.interface == old.configuration.interface,
               new.configuration.address == old.configuration.address {
                for (address, mac) in old.neighbours.entries { new.learn(address, mac: mac, askedFor: true) }
                for (hop, frames) in old.pending { new.pending[hop, default: []].append(contentsOf: frames) }
                new.lastRequest.merge(old.lastRequest) { a, _ in a }
            } else {
                for frames in old.pending.values { for frame in frames { pool.free(frame.address) } }
                summary.framesFreed += old.pendingCount
            }
            old.pending = [:]
        }
        // Services: the same objects when reused (DatapathSuccession).
        for router in routers {
            if previous.routers.contains(where: { $0 === router }) { summary.routersKept.append(router.name) }
            else { summary.routersChanged.append(router.name) }
            // Floating IPs and routes changed in place (validated by the succession: these
            // cannot refuse). The connections of a floating IP removed or moved are flushed.
            if let update = services.routerUpdates[router.name] {
                _ = try? router.updateFloatingIPs(update.floatingIPs)
                try? router.updateRoutes(update.routes, defaultGateway: update.defaultGateway)
                summary.routersUpdated.append(router.name)
            }
        }
        summary.routersRemoved = previous.routers.map(\.name).filter { name in !routers.contains { $0.name == name } }
        for responder in dhcpResponders {
            if previous.dhcpResponders.contains(where: { $0 === responder }) { summary.dhcpKept.append(responder.network) }
            else { summary.dhcpChanged.append(responder.network) }
        }
        summary.dhcpRemoved = previous.dhcpResponders.map(\.network).filter { network in
            !dhcpResponders.contains { $0.network == network }
        }
        return summary
    }

    /// Copies the live entries of `old` learned on a port in `ports` (old id → new id)
    /// into `new`, oldest first so each keeps its age. Returns how many.
    private static func carryMACEntries(from old: MACTable, to new: MACTable, ports: [PortID: PortID], now: UInt64) -> Int {
        var entries: [(key: UInt64, port: PortID, seen: UInt64)] = []
        for i in 0...old.mask where old.isLive(i, now: now) {
            guard let port = ports[PortID(Int(old.ports[i]))] else { continue }
            entries.append((old.keys[i], port, old.seen[i]))
        }
        entries.sort { $0.seen < $1.seen }
        var carried = 0
        for entry in entries {
            // `learn` at the entry's own time: older entries are live for it, so none is lost
            // to another's slot, and an entry past the aging time stays aged out.
            new.learn(entry.key & 0xFFFF_FFFF_FFFF, vlan: UInt16(entry.key >> 48), port: entry.port, now: DatapathInstant(nanoseconds: entry.seen))
            carried += 1
        }
        return carried
    }

    /// Frees the frames held while their datagram completes (a datapath being replaced);
    /// returns how many.
    func releaseHeldFragments() -> Int {
        let held = connectionTracking.heldFragments
        let count = held.count
        for i in 0..<count { drop(held.slots[i].context.address, reason: .fragmentTimeout, port: held.slots[i].context.inPortID) }
        held.slots.deinitialize(count: count)
        held.count = 0
        return count
    }

    /// Frees every frame queued for transmission on `port` and counts each as a drop for
    /// `reason` on that port: what the server of a port whose interface is gone
    /// (`DatapathPort.linkDown`) does with the frames the datapath still sends it.
    public func discardTransmitQueue(of port: DatapathPort, reason: DropReason = .portDown) {
        let queue = port.txQueue
        for i in 0..<queue.count { pool.free(queue.addresses[i]) }
        port.counters.dropped(reason, count: UInt64(queue.count))
        queue.removeAll()
    }
}
