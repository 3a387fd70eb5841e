import Testing
import XDPDatapath
import XDPPacket

/// Security groups compiled and running in an in-memory datapath through the ct()
/// executor: Neutron's firewall matrix with frames sent on br-int's ports.
///
/// br-int: vm1, vm2 (filtered), vm3 (port security off), dhcp (the network's DHCP
/// server) — all access ports of VLAN 1 — and a trunk `tun` carrying every VLAN.
final class SGBench {
    static let mac1 = MACAddress("fa:16:3e:00:01:01")!, mac2 = MACAddress("fa:16:3e:00:01:02")!
    static let mac3 = MACAddress("fa:16:3e:00:01:03")!, macDHCP = MACAddress("fa:16:3e:00:01:0d")!
    static let macRemote = MACAddress("fa:16:3e:00:01:77")!
    static let ip1 = IPv4Address(10, 1, 0, 11), ip2 = IPv4Address(10, 1, 0, 12), ip3 = IPv4Address(10, 1, 0, 13)
    static let ipDHCP = IPv4Address(10, 1, 0, 3), ipRemote = IPv4Address(10, 1, 0, 77)
    static let ip6a = IPv6Address("fd00::11")!, ip6b = IPv6Address("fd00::12")!

    let h: Harness
    var sg: SecurityGroupConfiguration

    init(rules: [SecurityGroupRule], conntrack: ConntrackConfiguration = ConntrackConfiguration(), flowSegmentCache: Bool = true) throws {
        h = try Harness([BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "vm1", ofport: 1, tag: 1), PortConfiguration(name: "vm2", ofport: 2, tag: 1),
            PortConfiguration(name: "vm3", ofport: 3, tag: 1), PortConfiguration(name: "dhcp", ofport: 4, tag: 1),
            PortConfiguration(name: "tun", ofport: 5),
        ])], conntrack: conntrack, flowSegmentCache: flowSegmentCache)
        sg = SecurityGroupConfiguration(
            groups: [SecurityGroup(id: "sg1", rules: rules)],
            ports: [
                SecurityPort(name: "vm1", mac: Self.mac1, fixedIPs: [AddressPrefix(Self.ip1), AddressPrefix(Self.ip6a)],
                             securityGroups: ["sg1"], dhcpServers: [DHCPServer(address: AddressPrefix(Self.ipDHCP))]),
                SecurityPort(name: "vm2", mac: Self.mac2, fixedIPs: [AddressPrefix(Self.ip2), AddressPrefix(Self.ip6b)],
                             securityGroups: ["sg1"]),
                SecurityPort(name: "vm3", mac: Self.mac3, fixedIPs: [AddressPrefix(Self.ip3)], portSecurityEnabled: false),
            ])
        try apply()
    }

    @discardableResult
    func apply() throws -> Datapath.SecurityGroupUpdate { try h.datapath.applySecurityGroups(sg, now: DatapathInstant(nanoseconds: h.now)) }

    func setRules(_ rules: [SecurityGroupRule]) throws -> Datapath.SecurityGroupUpdate {
        sg.groups[0].rules = rules
        return try apply()
    }

    /// Sends `frame` on `port` and returns where it (or its copies) went.
    func send(_ frame: [UInt8], on port: String) -> [String: [[UInt8]]] {
        h.send(frame, on: port)
        return h.collect()
    }

    static func udp(_ sm: MACAddress, _ dm: MACAddress, _ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16) -> [UInt8] {
        FrameBuilder().ethernet(source: sm, destination: dm).ipv4(source: s, destination: d).udp(sourcePort: sp, destinationPort: dp)
            .payload(count: 12).build()
    }

    static func tcp(_ sm: MACAddress, _ dm: MACAddress, _ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16,
                    seq: UInt32, ack: UInt32 = 0, flags: TCPFlags, payload: Int = 0) -> [UInt8] {
        FrameBuilder().ethernet(source: sm, destination: dm).ipv4(source: s, destination: d)
            .tcp(sourcePort: sp, destinationPort: dp, sequence: seq, acknowledgment: ack, flags: flags, window: 65535)
            .payload(count: payload).build()
    }

    static func ping(_ sm: MACAddress, _ dm: MACAddress, _ s: IPv4Address, _ d: IPv4Address, id: UInt16 = 7, reply: Bool = false) -> [UInt8] {
        FrameBuilder().ethernet(source: sm, destination: dm).ipv4(source: s, destination: d)
            .icmpEcho(identifier: id, sequence: 1, reply: reply).payload(count: 8).build()
    }
}

@Suite struct SecurityGroupDatapathTests {
    typealias B = SGBench
    static let egressAll = [SecurityGroupRule(direction: .egress), SecurityGroupRule(direction: .egress, ethertype: .ipv6)]

    @Test func ingressICMPIsDroppedUntilARuleAllowsItAndRepliesReturn() throws {
        let b = try SGBench(rules: Self.egressAll)
        let echo = B.ping(B.mac2, B.mac1, B.ip2, B.ip1)
        #expect(b.send(echo, on: "vm2").isEmpty, "vm1 has no ingress rule")
        let update = try b.setRules(Self.egressAll + [SecurityGroupRule(direction: .ingress, protocol: "icmp")!])
        #expect(update.connectionsCut == 0)
        #expect(b.send(echo, on: "vm2")["vm1"] == [echo])
        let reply = B.ping(B.mac1, B.mac2, B.ip1, B.ip2, reply: true)
        #expect(b.send(reply, on: "vm1")["vm2"] == [reply], "the reply is ESTABLISHED for both ports")
        #expect(b.h.datapath.conntrackConnections(zone: 1).count == 1, "the connection in vm1's zone")
        #expect(b.h.datapath.conntrackConnections(zone: 2).count == 1, "and in vm2's: one zone per port")
        #expect(b.h.accountingHolds)
    }

    @Test func spoofedMACAndIPAreDroppedAddressPairsAreNot() throws {
        let b = try SGBench(rules: Self.egressAll + [SecurityGroupRule(direction: .ingress)])
        let good = B.udp(B.mac1, B.mac2, B.ip1, B.ip2, 1000, 2000)
        #expect(b.send(good, on: "vm1")["vm2"] == [good])
        #expect(b.send(B.udp(B.macRemote, B.mac2, B.ip1, B.ip2, 1000, 2000), on: "vm1").isEmpty, "wrong source MAC")
        let spoofed = B.udp(B.mac1, B.mac2, IPv4Address(10, 1, 0, 99), B.ip2, 1000, 2000)
        #expect(b.send(spoofed, on: "vm1").isEmpty, "wrong source IP")
        // An address pair with its own MAC makes both right.
        b.sg.ports[0].allowedAddressPairs = [AllowedAddressPair(prefix: AddressPrefix("10.1.0.96/28")!, mac: B.macRemote)]
        try b.apply()
        let pair = B.udp(B.macRemote, B.mac2, IPv4Address(10, 1, 0, 99), B.ip2, 1000, 2000)
        #expect(b.send(pair, on: "vm1")["vm2"] == [pair])
        #expect(b.send(spoofed, on: "vm1").isEmpty, "the pair's address with the port's MAC is still wrong")
        // Port security off: anything goes from vm3.
        let free = B.udp(B.macRemote, B.mac2, IPv4Address(192, 0, 2, 1), B.ip2, 1, 2)
        #expect(b.send(free, on: "vm3")["vm2"] == [free])
        #expect(b.h.accountingHolds)
    }

    @Test func arpFromTheRightSenderOnly() throws {
        let b = try SGBench(rules: Self.egressAll)
        let request = FrameBuilder().ethernet(source: B.mac1, destination: .broadcast)
            .arp(operation: .request, senderMAC: B.mac1, senderIP: B.ip1, targetIP: B.ip2).build()
        #expect(Set(b.send(request, on: "vm1").keys) == ["vm2", "vm3", "dhcp", "tun"], "ARP floods like NORMAL")
        let spoofed = FrameBuilder().ethernet(source: B.mac1, destination: .broadcast)
            .arp(operation: .request, senderMAC: B.mac1, senderIP: B.ip3, targetIP: B.ip2).build()
        #expect(b.send(spoofed, on: "vm1").isEmpty)
        // ARP to a filtered port passes its ingress filter even without rules.
        let reply = FrameBuilder().ethernet(source: B.mac2, destination: B.mac1)
            .arp(operation: .reply, senderMAC: B.mac2, senderIP: B.ip2, targetMAC: B.mac1, targetIP: B.ip1).build()
        #expect(b.send(reply, on: "vm2")["vm1"] == [reply])
    }

    @Test func dhcpClientAllowedServerRepliesFromVMDroppedRepliesFromTheServerAllowed() throws {
        let b = try SGBench(rules: [])   // no rules at all
        let discover = FrameBuilder().ethernet(source: B.mac1, destination: .broadcast)
            .ipv4(source: IPv4Address(rawValue: 0), destination: .broadcast).udp(sourcePort: 68, destinationPort: 67)
            .payload(count: 240).build()
        #expect(b.send(discover, on: "vm1")["dhcp"] == [discover])
        let rogue = B.udp(B.mac1, B.mac2, B.ip1, B.ip2, 67, 68)
        #expect(b.send(rogue, on: "vm1").isEmpty, "a VM may not answer DHCP")
        let offer = B.udp(B.macDHCP, B.mac1, B.ipDHCP, B.ip1, 67, 68)
        #expect(b.send(offer, on: "dhcp")["vm1"] == [offer])
        let fake = B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 67, 68)
        #expect(b.send(fake, on: "vm3").isEmpty, "only the network's DHCP server answers")
        // vm2 has no DHCP server configured: replies from any address (Neutron's OVS firewall).
        #expect(b.send(B.udp(B.mac3, B.mac2, B.ip3, B.ip2, 67, 68), on: "vm3")["vm2"]?.count == 1)
    }

    @Test func tcpAndUDPPerDirectionAndPortRangeEdges() throws {
        let b = try SGBench(rules: Self.egressAll + [
            SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 2000, portRangeMax: 2010)!,
            SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 53, portRangeMax: 53)!,
        ])
        for (port, allowed) in [(1999, false), (2000, true), (2010, true), (2011, false)] {
            let syn = B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 40000, UInt16(port), seq: 1, flags: .syn)
            #expect((b.send(syn, on: "vm3")["vm1"] != nil) == allowed, "tcp \(port)")
            let datagram = B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 40000, UInt16(port))
            #expect(b.send(datagram, on: "vm3").isEmpty, "udp \(port) has no rule")
        }
        #expect(b.send(B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 40000, 53), on: "vm3")["vm1"] != nil)
        #expect(b.send(B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 40000, 54), on: "vm3").isEmpty)
        // Egress is open: vm1 reaches vm3 (no port security) on any port.
        #expect(b.send(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 5, 9999), on: "vm1")["vm3"] != nil)
        // Egress closed: nothing leaves vm1 but answers.
        _ = try b.setRules([SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 53, portRangeMax: 53)!])
        #expect(b.send(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 5, 9998), on: "vm1").isEmpty)
        #expect(b.send(B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 41000, 53), on: "vm3")["vm1"] != nil)
        #expect(b.send(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 53, 41000), on: "vm1")["vm3"] != nil, "the answer is ESTABLISHED")
    }

    @Test func twoVMsOnOneHostNeedSendersEgressAndReceiversIngress() throws {
        // vm1's group allows only ingress tcp 22; vm2's group allows only egress tcp 80.
        let b = try SGBench(rules: [SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22)!])
        b.sg.upsert(SecurityGroup(id: "client", rules: [SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 80,
                                                                          portRangeMax: 80)!]))
        b.sg.ports[1].securityGroups = ["client"]
        try b.apply()
        #expect(b.send(B.tcp(B.mac2, B.mac1, B.ip2, B.ip1, 3000, 22, seq: 1, flags: .syn), on: "vm2").isEmpty, "vm2 egress refuses 22")
        #expect(b.send(B.tcp(B.mac2, B.mac1, B.ip2, B.ip1, 3000, 80, seq: 1, flags: .syn), on: "vm2").isEmpty, "vm1 ingress refuses 80")
        b.sg.groups[1].rules.append(SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22)!)
        try b.apply()
        let syn = B.tcp(B.mac2, B.mac1, B.ip2, B.ip1, 3000, 22, seq: 1, flags: .syn)
        #expect(b.send(syn, on: "vm2")["vm1"] == [syn])
        let synAck = B.tcp(B.mac1, B.mac2, B.ip1, B.ip2, 22, 3000, seq: 500, ack: 2, flags: [.syn, .ack])
        #expect(b.send(synAck, on: "vm1")["vm2"] == [synAck])
    }

    @Test func remoteGroupAdmitsMembersAndFollowsJoins() throws {
        let b = try SGBench(rules: Self.egressAll + [SecurityGroupRule(direction: .ingress, remoteGroupID: "sg1")])
        #expect(b.send(B.udp(B.mac2, B.mac1, B.ip2, B.ip1, 1, 7), on: "vm2")["vm1"] != nil, "vm2 is a member")
        #expect(b.send(B.udp(B.macDHCP, B.mac1, B.ipRemote, B.ip1, 1, 7), on: "dhcp").isEmpty, "10.1.0.77 is not")
        // A new port with 10.1.0.77 joins the group (bound on the trunk... here: the dhcp port).
        b.sg.bind(SecurityPort(name: "dhcp", mac: B.macDHCP, fixedIPs: [AddressPrefix(B.ipRemote)], securityGroups: ["sg1"]))
        try b.apply()
        #expect(b.send(B.udp(B.macDHCP, B.mac1, B.ipRemote, B.ip1, 2, 7), on: "dhcp")["vm1"] != nil)
        b.sg.unbind("dhcp")
        try b.apply()
        #expect(b.send(B.udp(B.macDHCP, B.mac1, B.ipRemote, B.ip1, 3, 7), on: "dhcp").isEmpty, "left the group")
    }

    @Test func relatedICMPErrorsComeBack() throws {
        let b = try SGBench(rules: Self.egressAll)  // vm1: no ingress rules at all
        let probe = B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 5555, 33434)
        #expect(b.send(probe, on: "vm1")["vm3"] != nil)
        let quoted = Array(probe[14..<(14 + 28)])
        let unreachable = FrameBuilder().ethernet(source: B.mac3, destination: B.mac1).ipv4(source: B.ip3, destination: B.ip1)
            .icmp(type: .destinationUnreachable, code: 3).payload(quoted).build()
        #expect(b.send(unreachable, on: "vm3")["vm1"] == [unreachable], "RELATED to vm1's datagram")
        let stray = FrameBuilder().ethernet(source: B.mac3, destination: B.mac1).ipv4(source: B.ip3, destination: B.ip1)
            .icmp(type: .destinationUnreachable, code: 3).payload(Array(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 1, 2)[14..<42])).build()
        #expect(b.send(stray, on: "vm3").isEmpty, "an error quoting nothing tracked is INVALID")
    }

    @Test func removingTheRuleCutsTheEstablishedConnection() throws {
        let ssh = SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22)!
        let web = SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 80, portRangeMax: 80)!
        let b = try SGBench(rules: Self.egressAll + [ssh, web])
        func handshake(_ port: UInt16) {
            _ = b.send(B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 4000 + port, port, seq: 100, flags: .syn), on: "vm3")
            _ = b.send(B.tcp(B.mac1, B.mac3, B.ip1, B.ip3, port, 4000 + port, seq: 900, ack: 101, flags: [.syn, .ack]), on: "vm1")
            _ = b.send(B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 4000 + port, port, seq: 101, ack: 901, flags: .ack), on: "vm3")
        }
        handshake(22)
        handshake(80)
        let data22 = B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 4022, 22, seq: 101, ack: 901, flags: [.ack, .psh], payload: 10)
        #expect(b.send(data22, on: "vm3")["vm1"] == [data22])
        #expect(b.h.datapath.conntrackConnections(zone: 1).count == 2)
        let update = try b.setRules(Self.egressAll + [web])
        #expect(update.connectionsCut == 1)
        #expect(b.h.datapath.conntrackConnections(zone: 1).count == 1)
        let more22 = B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 4022, 22, seq: 111, ack: 901, flags: [.ack, .psh], payload: 10)
        #expect(b.send(more22, on: "vm3").isEmpty, "cut: mid-stream segment without a connection is INVALID")
        let answer22 = B.tcp(B.mac1, B.mac3, B.ip1, B.ip3, 22, 4022, seq: 901, ack: 111, flags: .ack)
        #expect(b.send(answer22, on: "vm1").isEmpty)
        let data80 = B.tcp(B.mac3, B.mac1, B.ip3, B.ip1, 4080, 80, seq: 101, ack: 901, flags: [.ack, .psh], payload: 10)
        #expect(b.send(data80, on: "vm3")["vm1"] == [data80], "the connection still allowed keeps running")
        #expect(b.h.accountingHolds)
    }

    @Test func trafficFromTheTrunkIsFilteredAndLeavesUntagged() throws {
        let b = try SGBench(rules: Self.egressAll + [SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 7,
                                                                        portRangeMax: 7)!])
        let inner = B.udp(B.macRemote, B.mac1, B.ipRemote, B.ip1, 1, 7)
        var tagged = Array(inner[0..<12]) + [0x81, 0x00, 0x00, 0x01] + Array(inner[12...])
        #expect(b.send(tagged, on: "tun")["vm1"] == [inner])
        tagged = Array(B.udp(B.macRemote, B.mac1, B.ipRemote, B.ip1, 1, 8)[0..<12]) + [0x81, 0x00, 0x00, 0x01]
            + Array(B.udp(B.macRemote, B.mac1, B.ipRemote, B.ip1, 1, 8)[12...])
        #expect(b.send(tagged, on: "tun").isEmpty)
        // The answer goes back tagged through NORMAL.
        let answer = B.udp(B.mac1, B.macRemote, B.ip1, B.ipRemote, 7, 1)
        _ = b.send(B.udp(B.macRemote, B.mac1, B.ipRemote, B.ip1, 1, 7).prefix(12) + [0x81, 0x00, 0x00, 0x01]
                   + B.udp(B.macRemote, B.mac1, B.ipRemote, B.ip1, 1, 7)[12...], on: "tun")
        let out = b.send(answer, on: "vm1")
        #expect(out["tun"].map { $0.map(TestFrame.vlan) } == [1])
    }

    @Test func ipv6NeighbourDiscoveryPassesAndICMPv6FollowsTheRules() throws {
        let b = try SGBench(rules: Self.egressAll)
        let ns = FrameBuilder().ethernet(source: B.mac2, destination: B.mac1).ipv6(source: B.ip6b, destination: B.ip6a, hopLimit: 255)
            .icmpv6(type: ICMPv6Type(rawValue: 135), code: 0).payload(Array(repeating: 0, count: 16)).build()
        #expect(b.send(ns, on: "vm2")["vm1"] == [ns], "neighbour solicitation reaches the VM")
        let echo = FrameBuilder().ethernet(source: B.mac2, destination: B.mac1).ipv6(source: B.ip6b, destination: B.ip6a)
            .icmpv6Echo(identifier: 3, sequence: 1).payload(count: 8).build()
        #expect(b.send(echo, on: "vm2").isEmpty)
        _ = try b.setRules(Self.egressAll + [SecurityGroupRule(direction: .ingress, ethertype: .ipv6, protocol: "icmp")!])
        #expect(b.send(echo, on: "vm2")["vm1"] == [echo])
        let spoofed = FrameBuilder().ethernet(source: B.mac2, destination: B.mac1).ipv6(source: IPv6Address("fd00::99")!, destination: B.ip6a)
            .icmpv6Echo(identifier: 4, sequence: 1).payload(count: 8).build()
        #expect(b.send(spoofed, on: "vm2").isEmpty, "IPv6 source spoofing")
        let ra = FrameBuilder().ethernet(source: B.mac2, destination: B.mac1).ipv6(source: SecurityPort.linkLocal(B.mac2), destination: B.ip6a)
            .icmpv6(type: ICMPv6Type(rawValue: 134), code: 0).payload(count: 12).build()
        #expect(b.send(ra, on: "vm2").isEmpty, "a VM may not send router advertisements")
    }

    @Test func eachUpdateIsOneNewTableVersionAndKeepsCountersOfUnchangedFlows() throws {
        let b = try SGBench(rules: Self.egressAll)
        let before = try #require(b.h.datapath.bridge(named: "br-int")?.flowTable.version)
        _ = b.send(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 1, 2), on: "vm1")
        let update = try b.setRules(Self.egressAll + [SecurityGroupRule(direction: .ingress, protocol: "icmp")!])
        #expect(b.h.datapath.bridge(named: "br-int")?.flowTable.version == before + 1)
        #expect(update.flows == b.h.datapath.flows(bridge: "br-int").count)
        let normal = try #require(b.h.datapath.flows(bridge: "br-int").first { $0.rule.table == 94 })
        #expect(normal.counters.packets == 1, "counters survive the update")
        // A refused configuration changes nothing.
        var bad = b.sg
        bad.ports[0].securityGroups = ["nope"]
        #expect(throws: DatapathConfigurationError.self) { try b.h.datapath.applySecurityGroups(bad, now: DatapathInstant(nanoseconds: b.h.now)) }
        #expect(b.h.datapath.bridge(named: "br-int")?.flowTable.version == before + 1)
    }
}
