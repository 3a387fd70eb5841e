import XDPPacket

/// The switch: bridges, their ports, and the per-batch pipeline that moves frames
/// between ports.
///
/// `process(_:from:now:)` takes every frame of a batch received on one port and leaves
/// each one either on the `txQueue` of some port or back in the `FramePool`, counting
/// why. It never allocates, never reads a clock (the caller passes `now`, nanoseconds
/// on any monotonic clock) and never throws. Everything else — building from a
/// configuration, lookups by name, statistics — is control-path code.
///
/// Not thread-safe: one worker calls `process`. Configuration is fixed at init.
public final class Datapath {
    /// Where frames come from and go back to.
    public let pool: FramePool
    public let bridges: [Bridge]
    /// Every port of every bridge, indexed by `Port.id`.
    public let ports: [Port]

    /// Patch ports may chain at most this many bridges for one frame (loops are dropped).
    public static let maximumPatchDepth = 8

    /// The tunnel underlay's state (neighbours, waiting frames), when configured.
    public let underlay: Underlay?
    /// The `gre` ports as the per-packet code reads them (owned by `underlay`; empty without one).
    @usableFromInline let tunnels: TunnelTable

    @usableFromInline let portTable: UnsafeMutablePointer<Unmanaged<Port>>
    @usableFromInline let bridgeTable: UnsafeMutablePointer<Unmanaged<Bridge>>
    /// Per-packet views of the ports and bridges, indexed like `ports` and `bridges`.
    @usableFromInline let fastPorts: UnsafeMutablePointer<PortFastPath>
    @usableFromInline let fastBridges: UnsafeMutablePointer<BridgeFastPath>
    /// OpenFlow port number of each port, indexed like `ports`.
    @usableFromInline let ofports: UnsafeMutablePointer<UInt16>
    /// Each bridge's current flow table (owned by `Bridge.flowTable`) and whether it is
    /// anything but the default NORMAL-only table.
    @usableFromInline let flowTables: UnsafeMutablePointer<Unmanaged<FlowTable>>
    @usableFromInline let flowsActive: UnsafeMutablePointer<Bool>
    @usableFromInline let flowTableViews: UnsafeMutablePointer<FlowTableView>
    @usableFromInline let exactMatchCaches: UnsafeMutablePointer<ExactMatchCache>
    /// Each bridge's flow-segment cache, the recorder that fills them, and whether they
    /// are used (`DatapathConfiguration.flowSegmentCache`; FlowSegmentCache.swift).
    @usableFromInline let segmentCaches: UnsafeMutablePointer<FlowSegmentCache>
    @usableFromInline let recorder: UnsafeMutablePointer<SegmentRecorder>
    @usableFromInline let segmentCacheEnabled: Bool
    /// Flows learned during a batch, installed when the batch ends.
    @usableFromInline var pendingLearned: [(bridgeID: Int, rule: FlowRule)] = []
    /// Set while `trace` runs a frame: lookups are recorded in `traceSteps`.
    @usableFromInline let tracing: UnsafeMutablePointer<Bool>
    @usableFromInline var traceSteps: [TraceStep] = []
    /// When flows were last checked for expiry (datapath clock).
    @usableFromInline let lastExpiry: UnsafeMutablePointer<UInt64>
    /// Where `process` leaves the bytes it touched to warm a batch's frames.
    @usableFromInline let frameTouch: UnsafeMutablePointer<UInt8>
    /// Whether any flow has a timeout (else expiry is skipped).
    @usableFromInline var anyTimeouts: Bool {
        bridges.contains { $0.flowTable.flows.contains { $0.rule.idleTimeout > 0 || $0.rule.hardTimeout > 0 } }
    }
    /// The connection tracker behind `ct()` (nil until a flow with `ct()` is installed),
    /// its configuration, and fragments waiting for the rest of their datagram
    /// (Datapath+Conntrack.swift).
    @usableFromInline let conntrackCell: UnsafeMutablePointer<Unmanaged<ConnectionTracker>?>
    @usableFromInline var conntrackInstance: ConnectionTracker?
    public let conntrackConfiguration: ConntrackConfiguration
    @usableFromInline let heldFragments: HeldFragmentQueue
    /// Slots of each bridge's exact-match cache.
    public static let exactMatchCacheSlots = 4096
    /// Slots of each bridge's flow-segment cache.
    public static let flowSegmentCacheSlots = 1024
    /// The routers whose interfaces are `router` ports (Datapath+Services.swift).
    public let routers: [Router]
    @usableFromInline let routerTable: UnsafeMutablePointer<Unmanaged<Router>>
    @usableFromInline let routerCount: Int
    /// The DHCP responders behind `dhcp` ports (Datapath+DHCP.swift).
    public let dhcpResponders: [DHCPResponder]
    @usableFromInline let dhcpTable: UnsafeMutablePointer<Unmanaged<DHCPResponder>>
    /// The queues services emit on and the ports their frames enter by.
    @usableFromInline let serviceOutputs: UnsafeMutablePointer<ServiceOutput>
    @usableFromInline let serviceOutputCount: Int
    /// Where a drained queue's frames wait while they run through the bridge.
    @usableFromInline let serviceScratch: PacketBatch
    /// Whether any port is a service port (else `receive` keeps no metadata).
    @usableFromInline let hasServices: Bool
    /// The parse of the frame being forwarded, one slot per patch depth (`receive` parses
    /// into it; service ports and `ct()` read it, brought up to date by `refreshFrameMeta`).
    @usableFromInline let frameMeta: UnsafeMutablePointer<PacketMetadata>
    /// What serves each port (indexed like `ports`; kind `.none` for ports that are not
    /// service ports). Apart from `fastPorts` so ordinary ports' per-packet view stays small.
    @usableFromInline let serviceTargets: UnsafeMutablePointer<ServiceTarget>

    /// Builds the datapath `configuration` describes, over `pool`.
    /// - Throws: `DatapathConfigurationError` for duplicate names or OpenFlow port
    ///   numbers, VLAN ids outside 1-4094, and patch ports whose peer is missing or
    ///   not a patch port pointing back.
    public init(configuration: DatapathConfiguration, pool: FramePool, txQueueCapacity: Int = 256,
                now: UInt64 = 0) throws(DatapathConfigurationError) {
        let configuration = configuration.withDerivedSeeds
        self.pool = pool
        conntrackConfiguration = configuration.conntrack
        heldFragments = HeldFragmentQueue(capacity: Datapath.heldFragmentCapacity)
        var bridges: [Bridge] = []
        var ports: [Port] = []
        var bridgeNames: Set<String> = []
        var portIndex: [String: Int] = [:]
        for (bridgeID, bridgeConfig) in configuration.bridges.enumerated() {
            guard !bridgeConfig.name.isEmpty else {
                throw DatapathConfigurationError(subject: "bridge #\(bridgeID + 1)", key: "name", message: "a bridge needs a name")
            }
            guard bridgeNames.insert(bridgeConfig.name).inserted else {
                throw DatapathConfigurationError(subject: bridgeConfig.name, key: "name", message: "duplicate bridge name")
            }
            var used: Set<Int> = []
            for p in bridgeConfig.ports { if let n = p.ofport { used.insert(n) } }
            var next = 1
            var ids: [Int] = []
            var seenOfports: Set<Int> = []
            for portConfig in bridgeConfig.ports {
                try Self.validate(portConfig)
                guard portIndex[portConfig.name] == nil, !bridgeNames.contains(portConfig.name) || portConfig.name == bridgeConfig.name else {
                    throw DatapathConfigurationError(subject: portConfig.name, key: "name", message: "duplicate port name")
                }
                let ofport: Int
                if let n = portConfig.ofport {
                    guard (1...0xFEFF).contains(n) else {
                        throw DatapathConfigurationError(subject: portConfig.name, key: "ofport", message: "ofport \(n) outside 1-65279")
                    }
                    ofport = n
                } else {
                    while used.contains(next) { next += 1 }
                    ofport = next
                    used.insert(next)
                }
                guard seenOfports.insert(ofport).inserted else {
                    throw DatapathConfigurationError(subject: portConfig.name, key: "ofport", message: "ofport \(ofport) already used in bridge \(bridgeConfig.name)")
                }
                let port = Port(id: ports.count, configuration: portConfig, ofport: ofport, bridgeID: bridgeID,
                                txQueueCapacity: txQueueCapacity)
                portIndex[port.name] = port.id
                ids.append(port.id)
                ports.append(port)
            }
            bridges.append(Bridge(id: bridgeID, configuration: bridgeConfig, portIDs: ids))
        }
        if let underlay = configuration.underlay {
            guard portIndex[underlay.interface] == nil, !bridgeNames.contains(underlay.interface) else {
                throw DatapathConfigurationError(subject: underlay.interface, key: "underlay.interface",
                                                 message: "the underlay interface cannot also be a bridge port")
            }
            let port = Port(id: ports.count, configuration: PortConfiguration(name: underlay.interface), ofport: 0xFFFF,
                            bridgeID: -1, txQueueCapacity: txQueueCapacity)
            portIndex[port.name] = port.id
            ports.append(port)
        }
        let underlay = configuration.underlay.map { Underlay(configuration: $0, portID: ports.count - 1, ports: ports) }
        self.underlay = underlay
        tunnels = underlay?.tunnels ?? TunnelTable()
        for port in ports {
            if case .gre = port.type, configuration.underlay == nil {
                throw DatapathConfigurationError(subject: port.name, key: "type",
                                                 message: "a gre port needs an underlay (underlay: {interface, address})")
            }
            guard case .patch(let peerName) = port.type else { continue }
            guard let peerID = portIndex[peerName] else {
                throw DatapathConfigurationError(subject: port.name, key: "options.peer", message: "peer port \(peerName) does not exist")
            }
            guard case .patch(let back) = ports[peerID].type, back == port.name else {
                throw DatapathConfigurationError(subject: port.name, key: "options.peer",
                                                 message: "peer \(peerName) is not a patch port whose peer is \(port.name)")
            }
            port.peerID = peerID
        }
        let (routers, routerOutputs) = try Self.makeRouters(configuration, ports: ports, pool: pool, txQueueCapacity: txQueueCapacity)
        let (responders, dhcpOutputs) = try Self.makeDHCPResponders(configuration, ports: ports, pool: pool,
                                                                     txQueueCapacity: txQueueCapacity)
        // Every refusal is thrown above this line: memory allocated from here on is freed
        // by deinit, which does not run for an initializer that throws.
        let flowLists = try Self.parseFlows(configuration, now: now)
        conntrackCell = .allocate(capacity: 1)
        conntrackCell.initialize(to: nil)
        let outputs = routerOutputs + dhcpOutputs
        dhcpResponders = responders
        dhcpTable = .allocate(capacity: max(responders.count, 1))
        for (i, d) in responders.enumerated() { dhcpTable[i] = Unmanaged.passUnretained(d) }
        self.routers = routers
        routerCount = routers.count
        routerTable = .allocate(capacity: max(routers.count, 1))
        for (i, r) in routers.enumerated() { routerTable[i] = Unmanaged.passUnretained(r) }
        serviceOutputCount = outputs.count
        serviceOutputs = .allocate(capacity: max(outputs.count, 1))
        serviceOutputs.initialize(from: outputs, count: outputs.count)
        serviceScratch = PacketBatch(capacity: max(outputs.map(\.queue.capacity).max() ?? 1, 1))
        hasServices = ports.contains { $0.transmitKind == 3 }
        frameMeta = .allocate(capacity: Datapath.maximumPatchDepth + 1)
        frameMeta.initialize(repeating: PacketMetadata(), count: Datapath.maximumPatchDepth + 1)
        serviceTargets = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { (serviceTargets + i).initialize(to: ServiceTarget(p)) }
        self.bridges = bridges
        self.ports = ports
        portTable = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { portTable[i] = Unmanaged.passUnretained(p) }
        bridgeTable = .allocate(capacity: max(bridges.count, 1))
        for (i, b) in bridges.enumerated() { bridgeTable[i] = Unmanaged.passUnretained(b) }
        fastPorts = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { (fastPorts + i).initialize(to: PortFastPath(p)) }
        fastBridges = .allocate(capacity: max(bridges.count, 1))
        for (i, b) in bridges.enumerated() { (fastBridges + i).initialize(to: BridgeFastPath(b)) }
        tracing = .allocate(capacity: 1)
        tracing.initialize(to: false)
        lastExpiry = .allocate(capacity: 1)
        lastExpiry.initialize(to: now)
        frameTouch = .allocate(capacity: 1)
        frameTouch.initialize(to: 0)
        ofports = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { ofports[i] = UInt16(truncatingIfNeeded: p.ofport) }
        flowTables = .allocate(capacity: max(bridges.count, 1))
        flowsActive = .allocate(capacity: max(bridges.count, 1))
        flowTableViews = .allocate(capacity: max(bridges.count, 1))
        exactMatchCaches = .allocate(capacity: max(bridges.count, 1))
        segmentCaches = .allocate(capacity: max(bridges.count, 1))
        recorder = .allocate(capacity: 1)
        recorder.initialize(to: SegmentRecorder())
        segmentCacheEnabled = configuration.flowSegmentCache
        for (i, bridgeConfig) in configuration.bridges.enumerated() {
            let table = bridgeConfig.flows.isEmpty ? FlowTable.normalOnly(now: now) : FlowTable(flows: flowLists[i], version: 1)
            bridges[i].flowTable = table
            flowTables[i] = Unmanaged.passUnretained(table)
            (flowTableViews + i).initialize(to: table.view)
            flowsActive[i] = !table.isNormalOnly
            (exactMatchCaches + i).initialize(to: ExactMatchCache(slots: Datapath.exactMatchCacheSlots))
            (segmentCaches + i).initialize(to: FlowSegmentCache(slots: configuration.flowSegmentCache ? Datapath.flowSegmentCacheSlots : 16))
            if table.usesConntrack { startConntrack() }
        }
    }

    /// Each bridge's flows parsed (empty for a NORMAL-only bridge), or the first refusal.
    static func parseFlows(_ configuration: DatapathConfiguration, now: UInt64) throws(DatapathConfigurationError) -> [[FlowTable.Flow]] {
        try configuration.bridges.map { (bridgeConfig) throws(DatapathConfigurationError) in
            var flows: [FlowTable.Flow] = []
            for (n, text) in bridgeConfig.flows.enumerated() {
                do {
                    let rule = try FlowParser.parse(text)
                    flows.append(FlowTable.Flow(rule: rule, counters: FlowCounters(now: now)))
                } catch {
                    throw DatapathConfigurationError(subject: bridgeConfig.name, key: "flows[\(n)]", message: "\(error)")
                }
            }
            return flows
        }
    }

    deinit {
        portTable.deallocate()
        bridgeTable.deallocate()
        fastPorts.deinitialize(count: ports.count)
        fastPorts.deallocate()
        fastBridges.deinitialize(count: bridges.count)
        fastBridges.deallocate()
        ofports.deallocate()
        lastExpiry.deallocate()
        frameTouch.deallocate()
        tracing.deallocate()
        flowTables.deallocate()
        flowsActive.deallocate()
        flowTableViews.deallocate()
        for i in 0..<bridges.count { exactMatchCaches[i].deallocate() }
        exactMatchCaches.deallocate()
        for i in 0..<bridges.count { segmentCaches[i].deallocate() }
        segmentCaches.deallocate()
        recorder.pointee.deallocate()
        recorder.deallocate()
        conntrackCell.deallocate()
        routerTable.deallocate()
        dhcpTable.deallocate()
        serviceOutputs.deinitialize(count: serviceOutputCount)
        serviceOutputs.deallocate()
        frameMeta.deinitialize(count: Datapath.maximumPatchDepth + 1)
        frameMeta.deallocate()
        serviceTargets.deallocate()
    }

    private static func validate(_ port: PortConfiguration) throws(DatapathConfigurationError) {
        guard !port.name.isEmpty, port.name.utf8.count <= 15 || port.type != .system else {
            throw DatapathConfigurationError(subject: port.name.isEmpty ? "port" : port.name, key: "name",
                                             message: port.name.isEmpty ? "a port needs a name" : "interface names are at most 15 bytes")
        }
        if let tag = port.tag, !(1...4094).contains(tag) {
            throw DatapathConfigurationError(subject: port.name, key: "tag", message: "VLAN id \(tag) outside 1-4094")
        }
        if let trunks = port.trunks {
            if port.tag != nil {
                throw DatapathConfigurationError(subject: port.name, key: "trunks", message: "a port has either tag (access) or trunks, not both")
            }
            if let bad = trunks.first(where: { !(0...4094).contains($0) }) {
                throw DatapathConfigurationError(subject: port.name, key: "trunks", message: "VLAN id \(bad) outside 0-4094")
            }
        }
        if case .patch(let peer) = port.type, peer.isEmpty {
            throw DatapathConfigurationError(subject: port.name, key: "options.peer", message: "a patch port needs options: {peer: NAME}")
        }
        if port.type == .router, let trunks = port.trunks, trunks != [0] {
            throw DatapathConfigurationError(subject: port.name, key: "trunks",
                                             message: "a router port takes untagged frames: give it a tag (access) or no trunks")
        }
        if case .dhcp = port.type, let trunks = port.trunks, trunks != [0] {
            throw DatapathConfigurationError(subject: port.name, key: "trunks",
                                             message: "a dhcp port takes untagged frames: give it a tag (access) or no trunks")
        }
        if case .patch = port.type, port.tag != nil {
            throw DatapathConfigurationError(subject: port.name, key: "tag", message: "patch ports carry every VLAN; they take no tag")
        }
    }

    /// The port called `name`, if any.
    public func port(named name: String) -> Port? { ports.first { $0.name == name } }

    /// The bridge called `name`, if any.
    public func bridge(named name: String) -> Bridge? { bridges.first { $0.name == name } }

    /// The bridge `port` belongs to (nil for the underlay port).
    public func bridge(of port: Port) -> Bridge? { port.bridgeID >= 0 ? bridges[port.bridgeID] : nil }
}
