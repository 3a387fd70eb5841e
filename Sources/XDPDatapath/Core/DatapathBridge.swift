/// A bridge: a set of ports and the MAC learning table its NORMAL action uses.
public final class DatapathBridge {
    /// The bridge's id: its index in `Datapath.bridges`.
    public let id: BridgeID
    /// The bridge's name (`br-int`), as configured.
    public let name: String
    /// MAC learning table (per VLAN, with aging).
    public let macTable: MACTable
    /// `DatapathPort.id` of each port, in configuration order.
    public let portIDs: [PortID]
    /// The current version of the bridge's OpenFlow tables.
    public internal(set) var flowTable: FlowTable!

    @usableFromInline let portList: UnsafeMutablePointer<Int>
    @usableFromInline let portCount: Int
    /// The port id of each OpenFlow port number below `ofportLimit` (-1: none), so an
    /// `output:N` finds its port with one load instead of a scan of the bridge's ports.
    @usableFromInline let portByOfport: UnsafeMutablePointer<Int32>
    @usableFromInline let ofportLimit: Int

    init(id: BridgeID, configuration: BridgeConfiguration, portIDs: [PortID], ofports: [Int]) {
        self.id = id
        self.name = configuration.name
        self.macTable = MACTable(capacity: configuration.macTableSize, aging: configuration.macAging)
        self.portIDs = portIDs
        portCount = portIDs.count
        portList = .allocate(capacity: max(portIDs.count, 1))
        for (i, id) in portIDs.enumerated() { portList[i] = id.index }
        ofportLimit = (ofports.max() ?? 0) + 1
        portByOfport = .allocate(capacity: ofportLimit)
        portByOfport.initialize(repeating: -1, count: ofportLimit)
        for (id, ofport) in zip(portIDs, ofports) { portByOfport[ofport] = Int32(id.index) }
    }

    deinit {
        portList.deallocate()
        portByOfport.deallocate()
    }
}

/// What the per-packet path needs of a bridge, as a plain value (see `PortFastPath`).
@frozen
@usableFromInline
struct BridgeFastPath {
    @usableFromInline let portList: UnsafeMutablePointer<Int>
    @usableFromInline let portCount: Int
    @usableFromInline let portByOfport: UnsafeMutablePointer<Int32>
    @usableFromInline let ofportLimit: Int

    init(_ bridge: DatapathBridge) {
        portList = bridge.portList
        portCount = bridge.portCount
        portByOfport = bridge.portByOfport
        ofportLimit = bridge.ofportLimit
    }

    /// The port with OpenFlow port number `ofport`, if the bridge has one.
    @inlinable @inline(__always)
    func port(ofport: UInt16) -> PortID? {
        guard Int(ofport) < ofportLimit else { return nil }
        let id = portByOfport[Int(ofport)]
        return id >= 0 ? PortID(Int(id)) : nil
    }
}
