/// A bridge: a set of ports and the MAC learning table its NORMAL action uses.
public final class Bridge {
    /// Index in `Datapath.bridges`.
    public let id: Int
    public let name: String
    /// MAC learning table (per VLAN, with aging).
    public let macTable: MACTable
    /// `Port.id` of each port, in configuration order.
    public let portIDs: [Int]
    /// The current version of the bridge's OpenFlow tables.
    public internal(set) var flowTable: FlowTable!

    @usableFromInline let portList: UnsafeMutablePointer<Int>
    @usableFromInline let portCount: Int

    init(id: Int, configuration: BridgeConfiguration, portIDs: [Int]) {
        self.id = id
        self.name = configuration.name
        self.macTable = MACTable(capacity: configuration.macTableSize, agingSeconds: configuration.macAgingSeconds)
        self.portIDs = portIDs
        portCount = portIDs.count
        portList = .allocate(capacity: max(portIDs.count, 1))
        for (i, id) in portIDs.enumerated() { portList[i] = id }
    }

    deinit { portList.deallocate() }
}

/// What the per-packet path needs of a bridge, as a plain value (see `PortFastPath`).
@frozen
@usableFromInline
struct BridgeFastPath {
    @usableFromInline let portList: UnsafeMutablePointer<Int>
    @usableFromInline let portCount: Int

    init(_ bridge: Bridge) {
        portList = bridge.portList
        portCount = bridge.portCount
    }
}
