// Security groups compiled to OpenFlow flows with ct(), in the manner of Neutron's OVS
// firewall driver (neutron/agent/linux/openvswitch_firewall), with the order of checks
// and the conntrack zones of the iptables driver of Neutron's Open vSwitch agent design.
//
// The bridge's whole table is generated here; `Datapath.applySecurityGroups` installs
// it as one new table version, so a batch runs either the old or the new flows.
//
// Registers. reg6 holds the packet's network: the local VLAN of the access port it
// came in on (table 0), or the VLAN it is tagged with on a trunk. reg5 holds the
// OpenFlow port of the VM whose filter runs: the sender's in the egress tables, the
// receiver's in the ingress tables.
//
// Zones: one conntrack zone per filtered port, the port's OpenFlow number
// (`ct(zone=NXM_NX_REG5[0..15])`), as the iptables driver gives each port its own zone.
// A port's zone holds only connections its own rules admitted, so no packet can pass a
// port's rules as the reply of a connection that another port opened (a neighbour, an
// address-pair twin, a port without port security sending a forged reply).
//
// When a connection is committed. A connection exists only once every filter on its
// path admitted its first packet:
//   - leaving the bridge's filtered ports (to a router, a tunnel, a port without port
//     security): committed in the sender's zone after its egress rules (table 73);
//   - between two filtered ports of the bridge: nothing is committed on the sender's
//     side; the receiver's ingress rules commit in its zone (table 82) and only then
//     the sender's zone gets the connection (table 92, per sender). A packet the
//     receiver refuses leaves no entry in either zone;
//   - arriving from outside: committed in the receiver's zone by its ingress rules.
// (Neutron's OVS firewall commits in the receiver's table for local traffic too, but in
// one zone per network; the iptables driver has per-port zones but commits on the
// sender's side before the receiver has decided. This does both halves right.)
//
// Tables (Neutron's numbers):
//   0   network into reg6                              → 60
//   60  TRANSIENT: from a filtered port → 71 (egress); to a filtered port's MAC on its
//       network → 81 (ingress, tag stripped); anything else → 94 (NORMAL)
//   71  BASE_EGRESS, per port, in the reference design's order: a source MAC that is
//       not the port's (or an address pair's) matches nothing and falls to the drop;
//       DHCP client 68→67 (546→547) allowed; ARP only from an allowed sender address;
//       ICMPv6 router/neighbour solicitations and MLD allowed, neighbour
//       advertisements only from an allowed address, router advertisements dropped;
//       DHCP server replies 67→68 (547→546) dropped; IP from an allowed (MAC, source)
//       pair → ct(table=72) in the sender's zone; everything else dropped.
//   72  RULES_EGRESS: +inv dropped; +est / +rel allowed; +new matching an egress rule
//       allowed (not committed yet); else dropped. Allowed → 73.
//   73  ACCEPT_OR_INGRESS: to a filtered port's MAC on the same network → reg5 = that
//       port, 81 (the receiver's ingress filter: two VMs on one host get both); else a
//       +new connection is committed in the sender's zone, → 91.
//   81  BASE_INGRESS: ARP allowed; ICMPv6 neighbour discovery, router advertisements and
//       MLD queries allowed; IP → ct(table=82) in the receiver's zone; everything else
//       dropped.
//   82  RULES_INGRESS: +inv dropped; +est / +rel allowed; +new matching an ingress rule
//       → ct(commit) in the receiver's zone, allowed; DHCP replies from the network's
//       DHCP server allowed; else dropped. Allowed → 92.
//   91  accepted egress → 94;  94  NORMAL.
//   92  accepted ingress: a +new connection from a local filtered port is committed in
//       that sender's zone too; → output:reg5.
//
// Broadcast and multicast to VMs are not filtered on ingress (they reach the VMs
// through NORMAL), as in Neutron's OVS firewall. A port without port security gets
// no flows: its traffic goes to NORMAL (and still meets a filtered receiver's ingress).
//
// Rules become one flow per port-range mask. A rule naming a remote group becomes a
// conjunctive match, as in Neutron's OVS firewall (FlowTable+Conjunction.swift): per
// (remote group, direction, ethertype) one conjunction id; in the rule table, one flow
// per member address of the group (fixed IPs and address pairs, bound here or listed in
// the group's `members`) with `conjunction(ID,1/2)`, shared by every port; one flow per
// port and rule with `conjunction(ID,2/2)`; and the `conj_id=ID` flow that accepts (and,
// on ingress, commits). A port joining or leaving a group adds or removes its own
// address flows only; flows grow as ports + members, not ports × members.
import XDPPacket

/// What the compiler needs to know about one port of the bridge.
public struct FirewallBridgePort: Sendable, Equatable {
    /// The port's name on the bridge (`tap…`, `qvo…`, `patch-tun`).
    public var name: String
    /// The port's OpenFlow number; also its conntrack zone when it is filtered.
    public var ofport: Int
    /// Access VLAN (the network's local VLAN); 0 for a trunk or an untagged port.
    public var tag: UInt16

    /// Describes one port as the bridge has it.
    public init(name: String, ofport: Int, tag: UInt16) {
        self.name = name
        self.ofport = ofport
        self.tag = tag
    }
}

/// Compiles a `SecurityGroupConfiguration` to the flows of its bridge (see the essay at
/// the top of SecurityGroupCompiler.swift).
public struct SecurityGroupCompiler: Sendable {
    /// Neutron's table numbers.
    public enum Table {
        /// Table 0, LOCAL_SWITCHING: puts the packet's network in reg6, then → 60.
        public static let localSwitching: UInt8 = 0
        /// Table 60, TRANSIENT: sends traffic from or to a filtered port to its filter, the rest to NORMAL.
        public static let transient: UInt8 = 60
        /// Table 71, BASE_EGRESS: anti-spoofing, DHCP and neighbour discovery checks on what a VM sends.
        public static let baseEgress: UInt8 = 71
        /// Table 72, RULES_EGRESS: the group's egress rules against the sender's connection state.
        public static let rulesEgress: UInt8 = 72
        /// Table 73, ACCEPT_OR_INGRESS: to a local filtered port's ingress filter, else commit and go on.
        public static let acceptOrIngress: UInt8 = 73
        /// Table 81, BASE_INGRESS: ARP and neighbour discovery allowed, IP tracked in the receiver's zone.
        public static let baseIngress: UInt8 = 81
        /// Table 82, RULES_INGRESS: the group's ingress rules; new connections committed in the receiver's zone.
        public static let rulesIngress: UInt8 = 82
        /// Table 91: accepted egress traffic, → 94.
        public static let acceptedEgress: UInt8 = 91
        /// Table 92: accepted ingress traffic, committed in a local sender's zone too, then output to reg5's port.
        public static let acceptedIngress: UInt8 = 92
        /// Table 94: NORMAL switching for accepted and unfiltered traffic.
        public static let acceptedEgressNormal: UInt8 = 94
    }

    /// The conntrack zone field: the filtered port's OpenFlow number in reg5 (one zone
    /// per port).
    public static let zoneField = "NXM_NX_REG5[0..15]"

    /// The groups and port bindings the flows enforce.
    public let configuration: SecurityGroupConfiguration
    /// Every port of the bridge, filtered or not (names and OpenFlow numbers the flows use).
    public let bridgePorts: [FirewallBridgePort]

    /// A compiler for one bridge; nothing is checked or compiled until `flowTexts()`.
    public init(configuration: SecurityGroupConfiguration, bridgePorts: [FirewallBridgePort]) {
        self.configuration = configuration
        self.bridgePorts = bridgePorts
    }

    /// The flows, in `ovs-ofctl add-flow` syntax, table by table.
    /// - Throws: a refused configuration, or a bound port the bridge does not have.
    public func flowTexts() throws(DatapathConfigurationError) -> [String] {
        try configuration.validate()
        var out: [String] = []
        var seen = Set<String>()
        func add(_ text: String) { if seen.insert(text).inserted { out.append(text) } }
        let zone = Self.zoneField
        // Remote groups become conjunctions, one per (group, direction, ethertype) in use.
        // The conjunction flows of the table being written: match → its conjunction
        // actions (a match several conjunctions share is one flow with several actions).
        let conjunctionIDs = remoteGroupConjunctions()
        var softOrder: [String] = []
        var softActions: [String: [String]] = [:]
        func addSoft(_ match: String, conjunction id: UInt32, clause: Int) {
            let action = "conjunction(\(id),\(clause)/2)"
            if softActions[match] == nil { softOrder.append(match) }
            if !(softActions[match]?.contains(action) ?? false) { softActions[match, default: []].append(action) }
        }
        // A port's rule table (72 egress, 82 ingress): INVALID dropped, RELATED/ESTABLISHED
        // on to `next`, then the rules. Ingress rules commit the new connection in the
        // receiver's zone; egress rules commit nothing (table 73 or 92 does, once every
        // filter on the path has admitted the packet).
        func addRuleTable(_ table: Int, then next: Int, port: SecurityPort, ofport: Int,
                          direction: SecurityGroupRule.Direction) {
            let r = "reg5=\(ofport)"
            add("table=\(table),priority=100,ct_state=+inv+trk,\(r) actions=drop")
            add("table=\(table),priority=90,ct_state=+est-inv+trk,\(r) actions=resubmit(,\(next))")
            add("table=\(table),priority=90,ct_state=+rel-inv+trk,\(r) actions=resubmit(,\(next))")
            let commit = direction == .ingress ? "ct(commit,zone=\(zone))," : ""
            for match in ruleMatches(port, direction: direction) {
                add("table=\(table),priority=70,ct_state=+new-est+trk,\(match),\(r) actions=\(commit)resubmit(,\(next))")
            }
            // Rules naming a remote group: the port's half of the group's conjunction.
            for (remote, match) in remoteGroupMatches(port, direction: direction) {
                addSoft("table=\(table),priority=70,ct_state=+new-est+trk,\(match),\(r)", conjunction: conjunctionIDs[remote]!, clause: 2)
            }
        }
        // The other half of each remote group's conjunctions in `table` (one flow per member
        // address, whichever ports use it) and the flow that accepts when both halves match.
        func addRemoteGroups(_ table: Int, then next: Int, direction: SecurityGroupRule.Direction) {
            let commit = direction == .ingress ? "ct(commit,zone=\(zone))," : ""
            for (remote, id) in conjunctionIDs.sorted(by: { $0.value < $1.value }) where remote.direction == direction {
                let v4 = remote.ethertype == .ipv4
                let field = v4 ? (direction == .ingress ? "nw_src" : "nw_dst") : (direction == .ingress ? "ipv6_src" : "ipv6_dst")
                for member in configuration.members(of: remote.group, family: remote.ethertype.family) {
                    addSoft("table=\(table),priority=70,\(v4 ? "ip" : "ipv6"),\(field)=\(member.flowText)", conjunction: id, clause: 1)
                }
                add("table=\(table),priority=70,conj_id=\(id),ct_state=+new-est+trk,\(v4 ? "ip" : "ipv6") actions=\(commit)resubmit(,\(next))")
            }
            for match in softOrder { add("\(match) actions=\(softActions[match]!.joined(separator: ","))") }
            softOrder.removeAll()
            softActions.removeAll()
        }

        // Table 0: the network into reg6.
        add("table=0,priority=65535,dl_vlan=4095 actions=drop")
        for p in bridgePorts where p.tag != 0 {
            add("table=0,priority=100,in_port=\(p.ofport) actions=load:\(p.tag)->NXM_NX_REG6[],resubmit(,60)")
        }
        add("table=0,priority=90,vlan_tci=0x1000/0x1000 actions=move:NXM_OF_VLAN_TCI[0..11]->NXM_NX_REG6[0..11],resubmit(,60)")
        add("table=0,priority=0 actions=resubmit(,60)")

        var filtered: [(SecurityPort, FirewallBridgePort)] = []
        for port in configuration.ports {
            guard let bp = bridgePorts.first(where: { $0.name == port.name }) else {
                throw DatapathConfigurationError(subject: port.name, key: "name",
                                         message: "no port \(port.name) on bridge \(configuration.bridge)")
            }
            if port.portSecurityEnabled { filtered.append((port, bp)) }
        }

        // Table 60: who filters what.
        for (port, bp) in filtered {
            add("table=60,priority=100,in_port=\(bp.ofport) actions=load:\(bp.ofport)->NXM_NX_REG5[],resubmit(,71)")
            for mac in port.macs {
                add("table=60,priority=90,reg6=\(bp.tag),dl_dst=\(mac) actions=load:\(bp.ofport)->NXM_NX_REG5[],strip_vlan,resubmit(,81)")
            }
        }
        add("table=60,priority=0 actions=resubmit(,94)")

        // Table 71: egress anti-spoofing, the reference design's order.
        for (port, bp) in filtered {
            let m = "reg5=\(bp.ofport),in_port=\(bp.ofport)"
            for mac in port.macs {
                add("table=71,priority=95,udp,\(m),dl_src=\(mac),tp_src=68,tp_dst=67 actions=resubmit(,73)")
                add("table=71,priority=95,udp6,\(m),dl_src=\(mac),tp_src=546,tp_dst=547 actions=resubmit(,73)")
                for type in [130, 131, 132, 133, 135, 143] {
                    add("table=71,priority=95,icmp6,\(m),dl_src=\(mac),icmp_type=\(type) actions=resubmit(,73)")
                }
            }
            for (mac, prefix) in port.allowedSources {
                switch prefix.family {
                case 4:
                    add("table=71,priority=95,arp,\(m),dl_src=\(mac),arp_spa=\(prefix.flowText) actions=resubmit(,73)")
                    add("table=71,priority=65,ip,\(m),dl_src=\(mac),nw_src=\(prefix.flowText) actions=ct(table=72,zone=\(zone))")
                default:
                    add("table=71,priority=95,icmp6,\(m),dl_src=\(mac),ipv6_src=\(prefix.flowText),icmp_type=136 actions=resubmit(,73)")
                    add("table=71,priority=65,ipv6,\(m),dl_src=\(mac),ipv6_src=\(prefix.flowText) actions=ct(table=72,zone=\(zone))")
                }
            }
            add("table=71,priority=70,udp,\(m),tp_src=67,tp_dst=68 actions=drop")
            add("table=71,priority=70,udp6,\(m),tp_src=547,tp_dst=546 actions=drop")
            add("table=71,priority=70,icmp6,\(m),icmp_type=134 actions=drop")
            add("table=71,priority=10,\(m) actions=drop")
        }
        add("table=71,priority=0 actions=drop")

        // Table 72: egress rules.
        for (port, bp) in filtered { addRuleTable(72, then: 73, port: port, ofport: bp.ofport, direction: .egress) }
        addRemoteGroups(72, then: 73, direction: .egress)
        add("table=72,priority=0 actions=drop")

        // Table 73: to another filtered port of the same network → its ingress filter.
        for (port, bp) in filtered {
            for mac in port.macs {
                add("table=73,priority=100,reg6=\(bp.tag),dl_dst=\(mac) actions=load:\(bp.ofport)->NXM_NX_REG5[],resubmit(,81)")
            }
        }
        // Leaving the filtered ports: the sender's egress rules were the last filter.
        for ip in ["ip", "ipv6"] {   // Open vSwitch takes ct() only with an IP match
            add("table=73,priority=50,ct_state=+new+trk,\(ip) actions=ct(commit,zone=\(zone)),resubmit(,91)")
        }
        add("table=73,priority=0 actions=resubmit(,91)")

        // Table 81: ingress base.
        for (_, bp) in filtered {
            let r = "reg5=\(bp.ofport)"
            add("table=81,priority=100,arp,\(r) actions=resubmit(,92)")
            for type in [130, 134, 135, 136] {
                add("table=81,priority=95,icmp6,\(r),icmp_type=\(type) actions=resubmit(,92)")
            }
            add("table=81,priority=90,ip,\(r) actions=ct(table=82,zone=\(zone))")
            add("table=81,priority=90,ipv6,\(r) actions=ct(table=82,zone=\(zone))")
            add("table=81,priority=10,\(r) actions=drop")
        }
        add("table=81,priority=0 actions=drop")

        // Table 82: ingress rules, then DHCP replies from the network's server.
        for (port, bp) in filtered {
            let r = "reg5=\(bp.ofport)"
            addRuleTable(82, then: 92, port: port, ofport: bp.ofport, direction: .ingress)
            let v4 = port.dhcpServers.filter { $0.address.family == 4 }
            let v6 = port.dhcpServers.filter { $0.address.family == 6 }
            if v4.isEmpty {
                add("table=82,priority=50,ct_state=-inv+trk,udp,\(r),tp_src=67,tp_dst=68 actions=resubmit(,92)")
            }
            for s in v4 {
                let mac = s.mac.map { ",dl_src=\($0)" } ?? ""
                add("table=82,priority=50,ct_state=-inv+trk,udp,\(r)\(mac),nw_src=\(s.address.flowText),tp_src=67,tp_dst=68 actions=resubmit(,92)")
            }
            if v6.isEmpty {
                add("table=82,priority=50,ct_state=-inv+trk,udp6,\(r),tp_src=547,tp_dst=546 actions=resubmit(,92)")
            }
            for s in v6 {
                let mac = s.mac.map { ",dl_src=\($0)" } ?? ""
                add("table=82,priority=50,ct_state=-inv+trk,udp6,\(r)\(mac),ipv6_src=\(s.address.flowText),tp_src=547,tp_dst=546 actions=resubmit(,92)")
            }
        }
        addRemoteGroups(82, then: 92, direction: .ingress)
        add("table=82,priority=0 actions=drop")

        add("table=91,priority=0 actions=resubmit(,94)")
        // Between two filtered ports: the receiver admitted the new connection (table 82
        // committed it in its zone); now the sender's zone gets it too.
        for (_, bp) in filtered {
            for ip in ["ip", "ipv6"] {
                add("table=92,priority=50,ct_state=+new+trk,\(ip),in_port=\(bp.ofport) actions=ct(commit,zone=\(bp.ofport)),output:NXM_NX_REG5[]")
            }
        }
        add("table=92,priority=0 actions=output:NXM_NX_REG5[]")
        add("table=94,priority=0 actions=NORMAL")
        return out
    }

    /// The flows as `FlowRule`s.
    public func flows() throws(DatapathConfigurationError) -> [FlowRule] {
        var rules: [FlowRule] = []
        for text in try flowTexts() {
            do {
                rules.append(try FlowParser.parse(text))
            } catch {
                // A bug here, not in the configuration: every text above is generated.
                throw DatapathConfigurationError(subject: configuration.bridge, key: "flows", message: "generated flow does not parse: \(error)")
            }
        }
        return rules
    }

    /// The match of every flow that lets `port`'s rules of `direction` through (without
    /// ct_state and reg5), one per port-range mask; rules naming a remote group are
    /// `remoteGroupMatches`.
    func ruleMatches(_ port: SecurityPort, direction: SecurityGroupRule.Direction) -> [String] {
        var out: [String] = []
        for id in port.securityGroups {
            guard let group = configuration.group(id) else { continue }
            for rule in group.rules where rule.direction == direction && rule.remoteGroupID == nil {
                let prefix = rule.remoteIPPrefix.flatMap { $0.length > 0 ? [$0] : nil }
                out += Self.matches(rule, remotes: prefix)
            }
        }
        return out
    }

    /// A remote group as a conjunction: the group, and which side of which traffic it is.
    struct RemoteGroup: Hashable {
        var group: String
        var direction: SecurityGroupRule.Direction
        var ethertype: SecurityGroupRule.EtherType
    }

    /// The protocol and port matches of `port`'s rules of `direction` that name a remote
    /// group, with the group: the port's clause (2/2) of the group's conjunction.
    func remoteGroupMatches(_ port: SecurityPort, direction: SecurityGroupRule.Direction) -> [(RemoteGroup, String)] {
        var out: [(RemoteGroup, String)] = []
        for id in port.securityGroups {
            guard let group = configuration.group(id) else { continue }
            for rule in group.rules where rule.direction == direction {
                guard let remote = rule.remoteGroupID else { continue }
                let key = RemoteGroup(group: remote, direction: direction, ethertype: rule.ethertype)
                out += Self.matches(rule, remotes: nil).map { (key, $0) }
            }
        }
        return out
    }

    /// A conjunction id for each remote group a filtered port's rule names. Ids come from
    /// a hash of the group, direction and ethertype, so they stay the same when other
    /// groups come and go (an id already taken moves to the next free one).
    func remoteGroupConjunctions() -> [RemoteGroup: UInt32] {
        var keys = Set<RemoteGroup>()
        for port in configuration.ports where port.portSecurityEnabled {
            for direction in SecurityGroupRule.Direction.allCases {
                for (key, _) in remoteGroupMatches(port, direction: direction) { keys.insert(key) }
            }
        }
        var ids: [RemoteGroup: UInt32] = [:]
        var taken = Set<UInt32>()
        for key in keys.sorted(by: { ($0.group, $0.direction.rawValue, $0.ethertype.rawValue) < ($1.group, $1.direction.rawValue, $1.ethertype.rawValue) }) {
            var hash: UInt32 = 2_166_136_261   // FNV-1a
            for byte in "\(key.group)\u{0}\(key.direction.rawValue)\u{0}\(key.ethertype.rawValue)".utf8 {
                hash = (hash ^ UInt32(byte)) &* 16_777_619
            }
            var id = max(hash & 0x7fff_ffff, 1)
            while !taken.insert(id).inserted { id = id % 0x7fff_ffff + 1 }
            ids[key] = id
        }
        return ids
    }

    /// The flow matches of one rule.
    static func matches(_ rule: SecurityGroupRule, remotes: [AddressPrefix]?) -> [String] {
        let v4 = rule.ethertype == .ipv4
        var proto: String
        switch rule.ipProtocol {
        case nil: proto = v4 ? "ip" : "ipv6"
        case 6: proto = v4 ? "tcp" : "tcp6"
        case 17: proto = v4 ? "udp" : "udp6"
        case 132: proto = v4 ? "sctp" : "sctp6"
        case 1 where v4: proto = "icmp"
        case 58 where !v4: proto = "icmp6"
        case let n?: proto = (v4 ? "ip" : "ipv6") + ",nw_proto=\(n)"
        }
        var l4: [String] = [""]
        if let lo = rule.portRangeMin {
            if rule.isICMP {
                l4 = [",icmp_type=\(lo)" + (rule.portRangeMax.map { ",icmp_code=\($0)" } ?? "")]
            } else if [6, 17, 132].contains(rule.ipProtocol), let hi = rule.portRangeMax, !(lo <= 1 && hi >= 65535) {
                l4 = portMasks(lo, hi).map { v, m in m == 0xFFFF ? ",tp_dst=\(v)" : ",tp_dst=0x\(String(v, radix: 16))/0x\(String(m, radix: 16))" }
            }
        }
        let field = v4 ? (rule.direction == .ingress ? "nw_src" : "nw_dst") : (rule.direction == .ingress ? "ipv6_src" : "ipv6_dst")
        let addresses: [String] = remotes.map { $0.map { ",\(field)=\($0.flowText)" } } ?? [""]
        var out: [String] = []
        for a in addresses { for p in l4 { out.append(proto + a + p) } }
        return out
    }

    /// The range `lo...hi` as value/mask pairs (the fewest aligned power-of-two blocks).
    public static func portMasks(_ lo: Int, _ hi: Int) -> [(value: Int, mask: Int)] {
        var out: [(Int, Int)] = []
        var start = lo
        while start <= hi {
            var size = 1
            // Grow the block while it stays aligned at `start` and inside the range.
            while start % (size * 2) == 0 && start + size * 2 - 1 <= hi && size * 2 <= 65536 { size *= 2 }
            out.append((start, 0xFFFF & ~(size - 1)))
            start += size
        }
        return out
    }
}
