import XDPPacket

// What the datapath is made of and how much it carried, as plain values: the bridges and
// their ports (`topology()`, what `ovs-vsctl show` lists), each port's counters
// (`portStatistics()`) and a bridge's learned MAC addresses (`fdb(bridge:now:)`, what
// `ovs-appctl fdb/show` lists). The values own no datapath memory: they are `Sendable`,
// so they may leave the datapath's thread (`AFXDPEngine.perform` returns them). The text the
// tools print is built from them above the datapath, in XDPControl.
//
// Control path: called between batches on the thread that owns the datapath; each call
// allocates its answer.

/// One port of a bridge as configured, and whether its link is up (see `Datapath.topology()`).
public struct PortSnapshot: Sendable, Equatable {
    /// The port's name, unique in the datapath.
    public var name: String
    /// What kind of port it is (a patch port's peer is in its `.patch(peer:)`).
    public var type: PortType
    /// OpenFlow port number within its bridge.
    public var ofport: Int
    /// Access VLAN, 0 for a trunk.
    public var tag: UInt16
    /// VLANs a trunk carries (`VLANSet.all` when not configured).
    public var trunks: VLANSet
    /// For a router port, the router that serves it; nil otherwise.
    public var router: String?
    /// For a DHCP port, the network whose responder serves it; nil otherwise.
    public var dhcpNetwork: String?
    /// Why the port's interface cannot carry frames now (`DatapathPort.linkDown`); nil when it can.
    public var linkDown: String?

    /// A port snapshot with every field given.
    public init(name: String, type: PortType, ofport: Int, tag: UInt16 = 0, trunks: VLANSet = .all,
                router: String? = nil, dhcpNetwork: String? = nil, linkDown: String? = nil) {
        self.name = name
        self.type = type
        self.ofport = ofport
        self.tag = tag
        self.trunks = trunks
        self.router = router
        self.dhcpNetwork = dhcpNetwork
        self.linkDown = linkDown
    }
}

/// One bridge and its ports, in configuration order (see `Datapath.topology()`).
public struct BridgeSnapshot: Sendable, Equatable {
    /// The bridge's name.
    public var name: String
    /// Its ports, in configuration order.
    public var ports: [PortSnapshot]

    /// A bridge snapshot.
    public init(name: String, ports: [PortSnapshot]) {
        self.name = name
        self.ports = ports
    }
}

/// The datapath's bridges, ports and routers at one moment: what `ovs-vsctl show` lists
/// (see `Datapath.topology()`).
public struct DatapathTopology: Sendable, Equatable {
    /// The bridges, in configuration order.
    public var bridges: [BridgeSnapshot]
    /// The routers, in configuration order (`Datapath.routerSnapshot(_:)` of each).
    public var routers: [RouterSnapshot]

    /// A topology.
    public init(bridges: [BridgeSnapshot], routers: [RouterSnapshot]) {
        self.bridges = bridges
        self.routers = routers
    }
}

/// One port's counters at one moment, with its name and link state (see
/// `Datapath.portStatistics()`).
public struct PortStatsEntry: Sendable, Equatable, CustomStringConvertible {
    /// The port's name.
    public var name: String
    /// Its counters.
    public var stats: PortStats
    /// Why the port's interface cannot carry frames now; nil when it can.
    public var linkDown: String?

    /// An entry.
    public init(name: String, stats: PortStats, linkDown: String? = nil) {
        self.name = name
        self.stats = stats
        self.linkDown = linkDown
    }

    /// `vm1: rx 3/180 tx 2/120 drops 1 (no-buffer=1)`: packets/bytes each way, then the
    /// drops by reason, and the link state when down.
    public var description: String {
        let s = stats
        let reasons = s.drops.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }
        return "\(name): rx \(s.rxPackets)/\(s.rxBytes) tx \(s.txPackets)/\(s.txBytes) drops \(s.totalDrops)"
            + (reasons.isEmpty ? "" : " (" + reasons.joined(separator: ",") + ")")
            + (linkDown.map { " link down: \($0)" } ?? "")
    }
}

/// One address a bridge learned, as `ovs-appctl fdb/show` lists it (see
/// `Datapath.fdb(bridge:now:)`).
public struct FDBEntry: Sendable, Equatable, CustomStringConvertible {
    /// The name of the port the address was learned on.
    public var port: String
    /// That port's OpenFlow port number (what `fdb/show` prints).
    public var ofport: Int
    /// The bridge-local VLAN the address was learned in.
    public var vlan: UInt16
    /// The learned address.
    public var mac: MACAddress
    /// How long ago the address was last seen (`fdb/show` prints whole seconds).
    public var age: Duration

    /// An entry.
    public init(port: String, ofport: Int, vlan: UInt16, mac: MACAddress, age: Duration) {
        self.port = port
        self.ofport = ofport
        self.vlan = vlan
        self.mac = mac
        self.age = age
    }

    /// `fa:16:3e:00:00:01 vlan 1 on vm1 (ofport 1), age 3s`.
    public var description: String { "\(mac) vlan \(vlan) on \(port) (ofport \(ofport)), age \(age.components.seconds)s" }
}

extension Datapath {
    /// The bridges and their ports in configuration order, then the routers: what
    /// `xdpswitch show` prints in the layout of `ovs-vsctl show`.
    public func topology() -> DatapathTopology {
        let bridgeList = bridges.map { bridge in
            BridgeSnapshot(name: bridge.name, ports: bridge.portIDs.map { id in
                let port = self[id]
                return PortSnapshot(name: port.name, type: port.type, ofport: port.ofport, tag: port.tag, trunks: port.trunks,
                                    router: port.serviceKind == .router ? port.serviceIndex.map { routers[$0].name } : nil,
                                    dhcpNetwork: port.serviceKind == .dhcp ? port.serviceIndex.map { dhcpResponders[$0].network } : nil,
                                    linkDown: port.linkDown)
            })
        }
        return DatapathTopology(bridges: bridgeList, routers: routerSnapshots())
    }

    /// Every port's counters (the underlay port's included), in datapath order
    /// (`Datapath.ports`).
    public func portStatistics() -> [PortStatsEntry] {
        ports.map { PortStatsEntry(name: $0.name, stats: $0.stats, linkDown: $0.linkDown) }
    }

    /// The MAC addresses bridge `name` learned and has not aged out at `now`, sorted by
    /// VLAN then address; nil when there is no such bridge.
    public func fdb(bridge name: String, now: DatapathInstant) -> [FDBEntry]? {
        guard let bridge = bridge(named: name) else { return nil }
        return bridge.macTable.entries(now: now).map { entry in
            FDBEntry(port: self[entry.port].name, ofport: self[entry.port].ofport, vlan: entry.vlan,
                     mac: MACAddress(rawValue: entry.mac), age: entry.age)
        }
    }
}
