import XDPPacket

/// The switch: bridges, their ports, and the per-batch pipeline that moves frames
/// between ports.
///
/// `process(_:from:now:)` takes every frame of a batch received on one port and leaves
/// each one either on the `txQueue` of some port or back in the `FramePool`, counting
/// why. It never allocates, never reads a clock (the caller passes `now`, a
/// `DatapathInstant`: `DatapathInstant.now()`, or any clock that never goes backwards) and never throws. Everything else — building from a
/// configuration, lookups by name, statistics — is control-path code.
///
/// Not thread-safe: one worker calls `process`. Configuration is fixed at init: a new
/// configuration is a new `Datapath` that takes over the state of this one between two
/// batches (`takeOver(from:now:)`, Datapath+Reconfiguration.swift).
public final class Datapath {
    /// Where frames come from and go back to.
    public let pool: FramePool
    /// Every bridge, indexed by `DatapathBridge.id`, in configuration order.
    public let bridges: [DatapathBridge]
    /// Every port of every bridge, indexed by `DatapathPort.id`.
    public let ports: [DatapathPort]
    /// Where the connection trackers keep their connections across restarts
    /// (`DatapathConfiguration.stateDirectory`), nil when they do not.
    public let stateDirectory: String?

    /// Patch ports may chain at most this many bridges for one frame (loops are dropped).
    public static let maximumPatchDepth = 8

    /// The per-packet view of each port and bridge, indexed like `ports` and `bridges`,
    /// and the unmanaged tables the cold paths reach the objects through.
    @usableFromInline let portTable: UnsafeMutablePointer<Unmanaged<DatapathPort>>
    @usableFromInline let bridgeTable: UnsafeMutablePointer<Unmanaged<DatapathBridge>>
    @usableFromInline let fastPorts: UnsafeMutablePointer<PortFastPath>
    @usableFromInline let fastBridges: UnsafeMutablePointer<BridgeFastPath>
    /// OpenFlow port number of each port, indexed like `ports`.
    @usableFromInline let ofports: UnsafeMutablePointer<UInt16>
    /// Where `process` leaves the bytes it touched to warm a batch's frames.
    @usableFromInline let frameTouch: UnsafeMutablePointer<UInt8>
    /// The parse of the frame being forwarded, one slot per patch depth (`receive` parses
    /// into it; service ports and `ct()` read it, brought up to date by `refreshFrameMeta`).
    @usableFromInline let frameMeta: UnsafeMutablePointer<PacketMetadata>

    // The stages, each owning its state (and freeing it in `deinit`).

    /// L2: the MAC learning tables NORMAL reads (L2Stage.swift).
    @usableFromInline let l2: L2Stage
    /// OpenFlow: tables, views, exact-match and segment caches, learned flows, expiry
    /// (OpenFlowStage.swift).
    @usableFromInline let openFlow: OpenFlowStage
    /// Connection tracking behind `ct()`: the tracker and held fragments (ConntrackStage.swift).
    @usableFromInline let connectionTracking: ConntrackStage
    /// GRE tunnels and their underlay (TunnelStage.swift).
    @usableFromInline let tunnel: TunnelStage
    /// Routers and DHCP responders behind service ports, and their queues (ServiceStage.swift).
    @usableFromInline let services: ServiceStage
    /// `trace`'s switch and recorded steps (Tracer.swift).
    @usableFromInline let tracer: Tracer
    /// The in-kernel fast path's recorder (FastPath/FastPathStage.swift).
    @usableFromInline let fastPath: FastPathStage

    /// Slots of each bridge's exact-match cache.
    public static let exactMatchCacheSlots = 4096
    /// Slots of each bridge's flow-segment cache.
    public static let flowSegmentCacheSlots = 1024

    /// The tunnel underlay's state (neighbours, waiting frames), when configured.
    public var underlay: Underlay? { tunnel.underlay }
    /// The routers whose interfaces are `router` ports (Datapath+Services.swift).
    public var routers: [DatapathRouter] { services.routers }
    /// The DHCP responders behind `dhcp` ports (Datapath+DHCP.swift).
    public var dhcpResponders: [DHCPResponder] { services.dhcpResponders }
    /// The configuration of the connection tracker behind `ct()`.
    public var conntrackConfiguration: ConntrackConfiguration { connectionTracking.configuration }
    /// Whether any flow has a timeout (else expiry is skipped).
    @usableFromInline var anyTimeouts: Bool {
        bridges.contains { $0.flowTable.flows.contains { $0.rule.idleTimeout > 0 || $0.rule.hardTimeout > 0 } }
    }

    /// Builds the datapath `configuration` describes, over `pool`. With `succession`, the
    /// routers and DHCP responders it names are the predecessor's own objects (their NAT,
    /// neighbours and leases carry over; see Datapath+Reconfiguration.swift).
    /// - Throws: `DatapathConfigurationError` for duplicate names or OpenFlow port
    ///   numbers, VLAN ids outside 1-4094, and patch ports whose peer is missing or
    ///   not a patch port pointing back.
    public init(configuration: DatapathConfiguration, pool: FramePool, txQueueCapacity: Int = 256,
                now instant: DatapathInstant, succeeding succession: DatapathSuccession? = nil) throws(DatapathConfigurationError) {
        let now = instant.nanoseconds
        let configuration = configuration.withDerivedSeeds.withStateFiles
        self.pool = pool
        stateDirectory = configuration.stateDirectory
        let (bridges, ports) = try Self.makeTopology(configuration, txQueueCapacity: txQueueCapacity)
        let tables = try OpenFlowStage.parseTables(configuration, now: now)
        // The service stage throws before it allocates. Every refusal is thrown above this
        // line: memory allocated from here on is freed by deinit, which does not run for an
        // initializer that throws.
        services = try ServiceStage(configuration: configuration, ports: ports, pool: pool, txQueueCapacity: txQueueCapacity,
                                    succession: succession)
        tunnel = TunnelStage(configuration: configuration.underlay, portID: PortID(ports.count - 1), ports: ports)
        openFlow = OpenFlowStage(configuration: configuration, bridges: bridges, tables: tables, now: now)
        connectionTracking = ConntrackStage(configuration: configuration.conntrack, adopting: succession?.conntrack)
        l2 = L2Stage(bridges: bridges)
        tracer = Tracer()
        fastPath = FastPathStage()
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
        ofports = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { ofports[i] = UInt16(truncatingIfNeeded: p.ofport) }
        frameTouch = .allocate(capacity: 1)
        frameTouch.initialize(to: 0)
        frameMeta = .allocate(capacity: Datapath.maximumPatchDepth + 1)
        frameMeta.initialize(repeating: PacketMetadata(), count: Datapath.maximumPatchDepth + 1)
        if bridges.contains(where: { $0.flowTable.usesConntrack }) { startConntrack() }
    }

    deinit {
        portTable.deallocate()
        bridgeTable.deallocate()
        fastPorts.deinitialize(count: ports.count)
        fastPorts.deallocate()
        fastBridges.deinitialize(count: bridges.count)
        fastBridges.deallocate()
        ofports.deallocate()
        frameTouch.deallocate()
        frameMeta.deinitialize(count: Datapath.maximumPatchDepth + 1)
        frameMeta.deallocate()
        l2.deallocate()
        openFlow.deallocate()
        connectionTracking.deallocate()
        services.deallocate()
        tracer.deallocate()
        fastPath.deallocate()
    }

    /// The bridges and ports `configuration` describes (the underlay interface, if any,
    /// is the last port, in no bridge), with OpenFlow port numbers assigned and patch
    /// ports bound to their peers.
    private static func makeTopology(_ configuration: DatapathConfiguration,
                                     txQueueCapacity: Int) throws(DatapathConfigurationError) -> (bridges: [DatapathBridge], ports: [DatapathPort]) {
        var bridges: [DatapathBridge] = []
        var ports: [DatapathPort] = []
        var bridgeNames: Set<String> = []
        var portIndex: [String: PortID] = [:]
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
            var ids: [PortID] = []
            var numbers: [Int] = []
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
                let port = DatapathPort(id: PortID(ports.count), configuration: portConfig, ofport: ofport, bridgeID: BridgeID(bridgeID),
                                txQueueCapacity: txQueueCapacity)
                portIndex[port.name] = port.id
                ids.append(port.id)
                numbers.append(ofport)
                ports.append(port)
            }
            bridges.append(DatapathBridge(id: BridgeID(bridgeID), configuration: bridgeConfig, portIDs: ids, ofports: numbers))
        }
        if let underlay = configuration.underlay {
            guard portIndex[underlay.interface] == nil, !bridgeNames.contains(underlay.interface) else {
                throw DatapathConfigurationError(subject: underlay.interface, key: "underlay.interface",
                                                 message: "the underlay interface cannot also be a bridge port")
            }
            let port = DatapathPort(id: PortID(ports.count), configuration: PortConfiguration(name: underlay.interface), ofport: 0xFFFF,
                            bridgeID: nil, txQueueCapacity: txQueueCapacity)
            portIndex[port.name] = port.id
            ports.append(port)
        }
        for port in ports {
            if port.egressKind == .tunnel, configuration.underlay == nil {
                throw DatapathConfigurationError(subject: port.name, key: "type",
                                                 message: "a \(port.type) port needs an underlay (underlay: {interface, address})")
            }
            guard case .patch(let peerName) = port.type else { continue }
            guard let peerID = portIndex[peerName] else {
                throw DatapathConfigurationError(subject: port.name, key: "options.peer", message: "peer port \(peerName) does not exist")
            }
            guard case .patch(let back) = ports[peerID.index].type, back == port.name else {
                throw DatapathConfigurationError(subject: port.name, key: "options.peer",
                                                 message: "peer \(peerName) is not a patch port whose peer is \(port.name)")
            }
            port.peerID = peerID
        }
        return (bridges, ports)
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
    public func port(named name: String) -> DatapathPort? { ports.first { $0.name == name } }

    /// The bridge called `name`, if any.
    public func bridge(named name: String) -> DatapathBridge? { bridges.first { $0.name == name } }

    /// The bridge `port` belongs to (nil for the underlay port).
    public func bridge(of port: DatapathPort) -> DatapathBridge? { port.bridgeID.map { bridges[$0.index] } }

    /// The port with id `id` (`DatapathPort.id`); the id must be one of this datapath's.
    public subscript(id: PortID) -> DatapathPort { ports[id.index] }

    /// The bridge with id `id` (`DatapathBridge.id`); the id must be one of this datapath's.
    public subscript(id: BridgeID) -> DatapathBridge { bridges[id.index] }
}
