import Testing
import XDPDatapath
import XDPPacket

/// A connection exists only after both the sender's egress rules and the receiver's
/// ingress rules admitted its first packet, and one port's connections never let another
/// port's packets pass as replies (SecurityGroupCompiler.swift: per-port zones, commits
/// after every filter on the path). Each scenario sends the first packet of a connection
/// that one side refuses and then the packets that would ride on it if it had been
/// remembered anyway.
@Suite struct SecurityGroupIsolationTests {
    typealias B = SGBench
    static let egressAll = SecurityGroupRule(direction: .egress)
    /// Restricted egress: TCP 80 only.
    static let egressWeb = SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 80, portRangeMax: 80)!

    /// vm1 in `first`, vm2 in `second` (vm3 keeps port security off).
    static func bench(first: [SecurityGroupRule], second: [SecurityGroupRule]) throws -> SGBench {
        let b = try SGBench(rules: first)
        b.sg.upsert(SecurityGroup(id: "sg2", rules: second))
        b.sg.ports[1].securityGroups = ["sg2"]
        try b.apply()
        return b
    }

    /// The scenario with `open` (egress anything, no ingress rule) sending first
    /// and `closed` (egress TCP 80 only, no ingress rule) refusing, then answering.
    func refusedConnectionLeavesNoReplyPath(openIsFirst: Bool) throws {
        let b = try openIsFirst ? Self.bench(first: [Self.egressAll], second: [Self.egressWeb])
                                : Self.bench(first: [Self.egressWeb], second: [Self.egressAll])
        let (open, closed) = openIsFirst ? ("vm1", "vm2") : ("vm2", "vm1")
        let (openMAC, closedMAC) = openIsFirst ? (B.mac1, B.mac2) : (B.mac2, B.mac1)
        let (openIP, closedIP) = openIsFirst ? (B.ip1, B.ip2) : (B.ip2, B.ip1)
        let request = B.udp(openMAC, closedMAC, openIP, closedIP, 41000, 7777)
        #expect(b.send(request, on: open).isEmpty, "the receiver's ingress rules admit no UDP")
        #expect(b.h.datapath.conntrackConnections().isEmpty, "a refused first packet leaves no connection in any zone")
        let answer = B.udp(closedMAC, openMAC, closedIP, openIP, 7777, 41000)
        #expect(b.send(answer, on: closed).isEmpty, "the answer is a new connection the sender's egress refuses")
        #expect(b.send(request, on: open).isEmpty, "and the first direction is still refused")
        #expect(b.h.datapath.conntrackConnections().isEmpty)
        // Drops count on the port the frame came in on.
        #expect(b.h.port(open).stats.drops[.flowDrop] == 2 && b.h.port(closed).stats.drops[.flowDrop] == 1)
        #expect(b.h.accountingHolds)
        // The filters do let a connection through once both sides admit it.
        let web = B.tcp(closedMAC, openMAC, closedIP, openIP, 5000, 80, seq: 1, flags: .syn)
        #expect(b.send(web, on: closed).isEmpty, "the open port's ingress admits nothing yet")
        b.sg.groups[openIsFirst ? 0 : 1].rules.append(SecurityGroupRule(direction: .ingress, protocol: "tcp")!)
        try b.apply()
        #expect(b.send(web, on: closed)[open] == [web])
        #expect(b.h.datapath.conntrackConnections().count == 2, "one copy in each port's zone")
    }

    @Test func reverseOfAConnectionTheReceiverRefusedIsNotAReply() throws {
        try refusedConnectionLeavesNoReplyPath(openIsFirst: true)
    }

    @Test func reverseOfAConnectionTheReceiverRefusedIsNotAReplyRolesSwapped() throws {
        try refusedConnectionLeavesNoReplyPath(openIsFirst: false)
    }

    /// A port whose egress is restricted answers a TCP SYN and an echo request it never
    /// received (its ingress refused them): the answers are new connections its egress
    /// refuses, whether the first packet came from a neighbour or from the trunk.
    @Test func restrictedEgressCannotAnswerTrafficItNeverReceived() throws {
        let b = try Self.bench(first: [Self.egressAll], second: [Self.egressWeb])
        #expect(b.send(B.tcp(B.mac1, B.mac2, B.ip1, B.ip2, 4000, 22, seq: 100, flags: .syn), on: "vm1").isEmpty)
        let synAck = B.tcp(B.mac2, B.mac1, B.ip2, B.ip1, 22, 4000, seq: 900, ack: 101, flags: [.syn, .ack])
        #expect(b.send(synAck, on: "vm2").isEmpty, "SYN-ACK to a SYN that was refused")
        #expect(b.send(B.ping(B.mac1, B.mac2, B.ip1, B.ip2), on: "vm1").isEmpty)
        #expect(b.send(B.ping(B.mac2, B.mac1, B.ip2, B.ip1, reply: true), on: "vm2").isEmpty, "echo reply to a refused echo")
        // From another host, over the trunk (VLAN 1).
        func tagged(_ frame: [UInt8]) -> [UInt8] { Array(frame[0..<12]) + [0x81, 0x00, 0x00, 0x01] + Array(frame[12...]) }
        #expect(b.send(tagged(B.udp(B.macRemote, B.mac2, B.ipRemote, B.ip2, 53, 9999)), on: "tun").isEmpty)
        #expect(b.send(B.udp(B.mac2, B.macRemote, B.ip2, B.ipRemote, 9999, 53), on: "vm2").isEmpty)
        #expect(b.h.datapath.conntrackConnections().isEmpty)
        // What vm2's egress does allow still leaves.
        let web = B.tcp(B.mac2, B.macRemote, B.ip2, B.ipRemote, 5000, 80, seq: 1, flags: .syn)
        #expect(b.send(web, on: "vm2")["tun"]?.count == 1)
    }

    /// A port without port security may send anything, also a forged answer to a
    /// connection a filtered neighbour refused: it meets the addressee's ingress rules as
    /// a new connection.
    @Test func portWithoutPortSecurityCannotForgeTheAnswerOfARefusedConnection() throws {
        let b = try Self.bench(first: [Self.egressAll], second: [Self.egressWeb])
        #expect(b.send(B.udp(B.mac1, B.mac2, B.ip1, B.ip2, 41000, 7777), on: "vm1").isEmpty)
        let forged = B.udp(B.mac3, B.mac1, B.ip2, B.ip1, 7777, 41000)
        #expect(b.send(forged, on: "vm3").isEmpty, "vm1's ingress admits no UDP")
        // The same from a connection vm1 did open with vm3 (port security off) is a reply.
        #expect(b.send(B.udp(B.mac1, B.mac3, B.ip1, B.ip3, 41001, 7777), on: "vm1")["vm3"]?.count == 1)
        let reply = B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 7777, 41001)
        #expect(b.send(reply, on: "vm3")["vm1"] == [reply])
        #expect(b.h.accountingHolds)
    }

    /// Two ports that share an allowed address pair (a virtual IP kept by VRRP): a
    /// connection the holder accepted does not let its twin answer for it.
    @Test func addressPairTwinCannotAnswerForTheHolder() throws {
        let vip = IPv4Address(10, 1, 0, 100)
        let b = try Self.bench(first: [Self.egressAll, SecurityGroupRule(direction: .ingress, protocol: "tcp")!], second: [])
        b.sg.ports[0].allowedAddressPairs = [AllowedAddressPair(prefix: AddressPrefix(vip))]
        b.sg.ports[1].allowedAddressPairs = [AllowedAddressPair(prefix: AddressPrefix(vip))]
        try b.apply()
        func tagged(_ frame: [UInt8]) -> [UInt8] { Array(frame[0..<12]) + [0x81, 0x00, 0x00, 0x01] + Array(frame[12...]) }
        let syn = B.tcp(B.macRemote, B.mac1, B.ipRemote, vip, 4000, 80, seq: 100, flags: .syn)
        #expect(b.send(tagged(syn), on: "tun")["vm1"] == [syn])
        let twin = B.tcp(B.mac2, B.macRemote, vip, B.ipRemote, 80, 4000, seq: 700, ack: 101, flags: [.syn, .ack])
        #expect(b.send(twin, on: "vm2").isEmpty, "the twin's egress admits nothing")
        let holder = B.tcp(B.mac1, B.macRemote, vip, B.ipRemote, 80, 4000, seq: 900, ack: 101, flags: [.syn, .ack])
        #expect(b.send(holder, on: "vm1")["tun"]?.count == 1, "the holder's answer is a reply")
    }

    /// Remote-group membership: a non-member's refused packet opens nothing; a member's
    /// connection has a copy in each port's zone, and leaving the group cuts both.
    @Test func remoteGroupMembershipDecidesAndLeavingCutsBothCopies() throws {
        let members = SecurityGroupRule(direction: .ingress, protocol: "udp", remoteGroupID: "sg2")!
        let b = try Self.bench(first: [Self.egressAll], second: [Self.egressWeb, members])
        let request = B.udp(B.mac1, B.mac2, B.ip1, B.ip2, 41000, 7777)
        let answer = B.udp(B.mac2, B.mac1, B.ip2, B.ip1, 7777, 41000)
        #expect(b.send(request, on: "vm1").isEmpty, "vm1 is no member of sg2")
        #expect(b.send(answer, on: "vm2").isEmpty)
        b.sg.ports[0].securityGroups = ["sg1", "sg2"]
        #expect(try b.apply().connectionsCut == 0)
        #expect(b.send(request, on: "vm1")["vm2"] == [request], "a member")
        #expect(b.send(answer, on: "vm2")["vm1"] == [answer], "the answer is a reply in both zones")
        #expect(b.h.datapath.conntrackConnections(zone: 1).count == 1 && b.h.datapath.conntrackConnections(zone: 2).count == 1)
        b.sg.ports[0].securityGroups = ["sg1"]
        #expect(try b.apply().connectionsCut == 2, "both copies go")
        #expect(b.send(answer, on: "vm2").isEmpty, "no reply path left")
        #expect(b.send(request, on: "vm1").isEmpty)
        #expect(b.h.accountingHolds)
    }

    /// Two networks behind a router on one br-int: vm-a (VLAN 1, egress anything) and vm-b
    /// (VLAN 2, egress TCP 80 only); the router's ports are not filtered.
    @Test func behindARouterTheRefusedConnectionLeavesNoReplyPathEither() throws {
        let qrA = MACAddress("fa:16:3e:00:0a:01")!, qrB = MACAddress("fa:16:3e:00:0b:01")!
        let macA = MACAddress("fa:16:3e:00:0a:05")!, macB = MACAddress("fa:16:3e:00:0b:05")!
        let gwA = IPv4Address(10, 1, 0, 1), gwB = IPv4Address(10, 2, 0, 1)
        let ipA = IPv4Address(10, 1, 0, 5), ipB = IPv4Address(10, 2, 0, 5)
        let router = RouterConfiguration(name: "r", interfaces: [
            .init(name: "qr-a", mac: qrA, address: gwA, prefixLength: 24),
            .init(name: "qr-b", mac: qrB, address: gwB, prefixLength: 24),
        ])
        let n = try RouterBridgeNode(DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "vm-a", ofport: 1, tag: 1), PortConfiguration(name: "qr-a", type: .router, ofport: 2, tag: 1),
                PortConfiguration(name: "vm-b", ofport: 3, tag: 2), PortConfiguration(name: "qr-b", type: .router, ofport: 4, tag: 2),
            ]),
        ], routers: [router]))
        let sg = SecurityGroupConfiguration(groups: [
            SecurityGroup(id: "open", rules: [Self.egressAll]),
            SecurityGroup(id: "closed", rules: [Self.egressWeb]),
        ], ports: [
            SecurityPort(name: "vm-a", mac: macA, fixedIPs: [AddressPrefix(ipA)], securityGroups: ["open"]),
            SecurityPort(name: "vm-b", mac: macB, fixedIPs: [AddressPrefix(ipB)], securityGroups: ["closed"]),
        ])
        try n.datapath.applySecurityGroups(sg, now: DatapathInstant(nanoseconds: n.now))
        // Each VM resolves its gateway (the router learns the VMs from the requests).
        n.send(FrameBuilder.arpRequest(senderMAC: macA, senderIP: ipA, targetIP: gwA), on: "vm-a")
        n.send(FrameBuilder.arpRequest(senderMAC: macB, senderIP: ipB, targetIP: gwB), on: "vm-b")
        #expect(Set(n.collect().keys) == ["vm-a", "vm-b"], "ARP answered")
        let request = B.udp(macA, qrA, ipA, ipB, 41000, 7777)
        n.send(request, on: "vm-a")
        #expect(n.collect().isEmpty, "routed, then refused by vm-b's ingress")
        #expect(n.datapath.conntrackConnections(zone: 3).isEmpty, "nothing in vm-b's zone")
        n.send(B.udp(macB, qrB, ipB, ipA, 7777, 41000), on: "vm-b")
        #expect(n.collect().isEmpty, "vm-b's egress refuses the answer")
        // What vm-b's egress allows is routed to vm-a and meets vm-a's ingress (none): refused.
        n.send(B.tcp(macB, qrB, ipB, ipA, 5000, 80, seq: 1, flags: .syn), on: "vm-b")
        #expect(n.collect().isEmpty)
        // Drops count on the port the frame came into br-int by.
        #expect(n.port("qr-b").stats.drops[.flowDrop] == 1, "vm-a's request, at vm-b's ingress")
        #expect(n.port("vm-b").stats.drops[.flowDrop] == 1, "vm-b's answer, at its egress")
        #expect(n.port("qr-a").stats.drops[.flowDrop] == 1, "vm-b's SYN, at vm-a's ingress")
        #expect(n.accountingHolds)
    }
}
