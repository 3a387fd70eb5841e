/// The state of the services stage: the routers and DHCP responders behind service
/// ports, the tables of unmanaged references the per-packet path calls them through,
/// the queues they emit on, and what serves each port (Datapath+Services.swift).
/// Allocated once, freed by `deallocate`; the arrays keep the services alive.
@frozen
@usableFromInline
struct ServiceStage {
    /// The routers whose interfaces are `router` ports.
    @usableFromInline let routers: [DatapathRouter]
    @usableFromInline let routerTable: UnsafeMutablePointer<Unmanaged<DatapathRouter>>
    @usableFromInline let routerCount: Int
    /// The DHCP responders behind `dhcp` ports (Datapath+DHCP.swift).
    @usableFromInline let dhcpResponders: [DHCPResponder]
    @usableFromInline let dhcpTable: UnsafeMutablePointer<Unmanaged<DHCPResponder>>
    /// The queues services emit on and the ports their frames enter by.
    @usableFromInline let outputs: UnsafeMutablePointer<ServiceOutput>
    @usableFromInline let outputCount: Int
    /// Where a drained queue's frames wait while they run through the bridge.
    @usableFromInline let scratch: PacketBatch
    /// The succession's changes for carried-over routers, applied by `Datapath.takeOver`.
    let routerUpdates: [String: RouterConfiguration]
    /// Whether any port is a service port (else ingress keeps no metadata for them).
    @usableFromInline let present: Bool
    /// What serves each port (indexed like `Datapath.ports`; kind `.none` for ports that
    /// are not service ports). Apart from `PortFastPath` so ordinary ports' per-packet
    /// view stays small.
    @usableFromInline let targets: UnsafeMutablePointer<ServiceTarget>

    /// Builds the routers and DHCP responders of `configuration` and them to their service ports (those `succession` names are reused, not built).
    init(configuration: DatapathConfiguration, ports: [DatapathPort], pool: FramePool, txQueueCapacity: Int,
         succession: DatapathSuccession? = nil) throws(DatapathConfigurationError) {
        let (routers, routerOutputs) = try Datapath.makeRouters(configuration, ports: ports, pool: pool,
                                                                txQueueCapacity: txQueueCapacity,
                                                                reusing: succession?.routers ?? [:])
        let (responders, dhcpOutputs) = try Datapath.makeDHCPResponders(configuration, ports: ports, pool: pool,
                                                                        txQueueCapacity: txQueueCapacity,
                                                                        reusing: succession?.dhcpResponders ?? [:])
        routerUpdates = succession?.routerUpdates ?? [:]
        let outputs = routerOutputs + dhcpOutputs
        dhcpResponders = responders
        dhcpTable = .allocate(capacity: max(responders.count, 1))
        for (i, d) in responders.enumerated() { dhcpTable[i] = Unmanaged.passUnretained(d) }
        self.routers = routers
        routerCount = routers.count
        routerTable = .allocate(capacity: max(routers.count, 1))
        for (i, r) in routers.enumerated() { routerTable[i] = Unmanaged.passUnretained(r) }
        outputCount = outputs.count
        self.outputs = .allocate(capacity: max(outputs.count, 1))
        self.outputs.initialize(from: outputs, count: outputs.count)
        scratch = PacketBatch(capacity: max(outputs.map(\.queue.capacity).max() ?? 1, 1))
        present = ports.contains { $0.egressKind == .service }
        targets = .allocate(capacity: max(ports.count, 1))
        for (i, p) in ports.enumerated() { (targets + i).initialize(to: ServiceTarget(p)) }
    }

    /// Frames the services hold (routers' frames waiting for ARP answers).
    var framesHeld: Int { routers.reduce(0) { $0 + $1.pendingCount } }

    func deallocate() {
        routerTable.deallocate()
        dhcpTable.deallocate()
        outputs.deinitialize(count: outputCount)
        outputs.deallocate()
        targets.deallocate()
    }
}
