import Testing
import XDPDatapath
import XDPPacket

/// The reference design's `qdhcp-` namespace as a `dhcp` port of br-int in the network's local VLAN 1:
/// a VM on VLAN 1 (qvo-vm1), a VM of another network on VLAN 2 (qvo-vm2), and the
/// physical trunk int-br-eth1 carrying both. Frames go in as bytes on a port and come
/// out of the ports' queues.
final class DHCPBridgeNode {
    typealias H = DHCPHarness

    static func referenceConfiguration(dhcpPorts: [PortConfiguration] = [PortConfiguration(name: "tap-3c1a2b4d-5e", type: .dhcp(network: "net1"), ofport: 3, tag: 1)],
                                  dhcp: [DHCPConfiguration] = [H.reference()]) -> DatapathConfiguration {
        DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-vm1", ofport: 1, tag: 1),
                PortConfiguration(name: "qvo-vm2", ofport: 2, tag: 2),
                PortConfiguration(name: "int-br-eth1", ofport: 4, trunks: [1, 2]),
            ] + dhcpPorts),
        ], dhcp: dhcp)
    }

    let pool = FramePool(frameCount: 512)
    let datapath: Datapath
    let now: UInt64 = 5_000_000_000

    init(_ configuration: DatapathConfiguration = DHCPBridgeNode.referenceConfiguration()) throws {
        datapath = try Datapath(configuration: configuration, pool: pool, now: .zero)
    }

    func port(_ name: String) -> DatapathPort { datapath.port(named: name)! }

    func send(_ frame: [UInt8], on name: String) { datapath.inject(frame, into: port(name), now: DatapathInstant(nanoseconds: now)) }

    /// What every port transmitted since the last call, by port name (empty ones omitted).
    func collect() -> [String: [[UInt8]]] {
        var out: [String: [[UInt8]]] = [:]
        for p in datapath.ports {
            let frames = datapath.drainTransmitted(p)
            if !frames.isEmpty { out[p.name] = frames }
        }
        return out
    }

    var responder: DHCPResponder { datapath.dhcpResponder(network: "net1")! }
    var accountingHolds: Bool { pool.freeCount + datapath.framesQueued == pool.frameCount }

    /// `frame` with an 802.1Q tag of `vlan` after the MACs.
    static func tagged(_ frame: [UInt8], _ vlan: UInt16) -> [UInt8] {
        Array(frame[0..<12]) + [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] + Array(frame[12...])
    }
}

@Suite struct DHCPBridgeTests {
    typealias H = DHCPHarness
    typealias N = DHCPBridgeNode
    typealias S = DHCPScapyTests

    @Test func vmGetsItsOfferThroughTheBridge() throws {
        let n = try N()
        n.send(H.bytes(S.discover), on: "qvo-vm1")
        let out = n.collect()
        // The broadcast DISCOVER floods VLAN 1: the trunk carries it tagged; the OFFER is
        // unicast to the VM's MAC, which NORMAL learned on qvo-vm1, and leaves untagged.
        #expect(Set(out.keys) == ["qvo-vm1", "int-br-eth1"])
        #expect(out["qvo-vm1"] == [H.bytes(S.offer)])
        #expect(out["int-br-eth1"] == [N.tagged(H.bytes(S.discover), 1)])
        #expect(n.responder.stats.offers == 1)
        #expect(n.port("tap-3c1a2b4d-5e").stats.txPackets == 1, "the port counts what it handed the responder")
        #expect(n.port("tap-3c1a2b4d-5e").stats.rxPackets == 1, "and what the responder sent into br-int")
        #expect(n.accountingHolds)
    }

    @Test func broadcastOfferStaysInTheNetworksVLAN() throws {
        let n = try N()
        n.send(H.bytes(S.discoverBroadcast), on: "qvo-vm1")
        let out = n.collect()
        #expect(out["qvo-vm1"] == [H.bytes(S.offerBroadcast)])
        #expect(out["int-br-eth1"] == [N.tagged(H.bytes(S.discoverBroadcast), 1), N.tagged(H.bytes(S.offerBroadcast), 1)])
        #expect(out["qvo-vm2"] == nil)
        #expect(n.accountingHolds)
    }

    @Test func anotherNetworksVLANNeverReachesTheResponder() throws {
        let n = try N()
        n.send(H.bytes(S.discover), on: "qvo-vm2")
        let out = n.collect()
        #expect(Set(out.keys) == ["int-br-eth1"])
        #expect(out["int-br-eth1"] == [N.tagged(H.bytes(S.discover), 2)])
        #expect(n.responder.stats.received == 0)
        #expect(n.accountingHolds)
    }

    @Test func clientBehindTheTrunkIsAnsweredTagged() throws {
        let n = try N()
        n.send(N.tagged(H.bytes(S.discover), 1), on: "int-br-eth1")
        let out = n.collect()
        #expect(out["qvo-vm1"] == [H.bytes(S.discover)], "flooded to the VLAN's access port")
        #expect(out["int-br-eth1"] == [N.tagged(H.bytes(S.offer), 1)])
        #expect(n.accountingHolds)
    }

    @Test func fullExchangeAndRenewalThroughTheBridge() throws {
        let n = try N()
        n.send(H.bytes(S.discover), on: "qvo-vm1")
        _ = n.collect()
        n.send(H.bytes(S.requestSelecting), on: "qvo-vm1")
        #expect(n.collect()["qvo-vm1"] == [H.bytes(S.ack)])
        // Renewal: the VM resolves the server, then unicasts; the bridge learned the
        // responder's MAC on its port, so neither floods.
        n.send(H.bytes(S.whoHas), on: "qvo-vm1")
        #expect(n.collect()["qvo-vm1"] == [H.bytes(S.isAt)])
        n.send(H.bytes(S.requestRenewing), on: "qvo-vm1")
        let out = n.collect()
        #expect(Set(out.keys) == ["qvo-vm1"])
        #expect(out["qvo-vm1"] == [H.bytes(S.ackRenewing)])
        let s = n.responder.stats
        #expect(s.offers == 1 && s.acks == 2 && s.arpReplies == 1 && s.totalDrops == 0)
        #expect(n.accountingHolds)
    }

    @Test func configurationsWithoutAMatchingPortAreRefused() {
        func refusal(_ c: DatapathConfiguration) -> DatapathConfigurationError? {
            do { _ = try Datapath(configuration: c, pool: FramePool(frameCount: 8), now: .zero); return nil } catch { return error }
        }
        let unknown = refusal(N.referenceConfiguration(dhcpPorts: [PortConfiguration(name: "tap-x", type: .dhcp(network: "net9"), tag: 1)]))
        #expect(unknown?.subject == "tap-x" && unknown?.key == "options.network")
        let twice = refusal(N.referenceConfiguration(dhcpPorts: [PortConfiguration(name: "tap-x", type: .dhcp(network: "net1"), tag: 1),
                                                            PortConfiguration(name: "tap-y", type: .dhcp(network: "net1"), tag: 1)]))
        #expect(twice?.subject == "tap-y" && twice?.key == "options.network")
        let portless = refusal(N.referenceConfiguration(dhcpPorts: []))
        #expect(portless?.subject == "dhcp[0]" && portless?.key == "network")
        let duplicate = refusal(N.referenceConfiguration(dhcp: [H.reference(), H.reference()]))
        #expect(duplicate?.subject == "dhcp[1]")
        let trunk = refusal(N.referenceConfiguration(dhcpPorts: [PortConfiguration(name: "tap-x", type: .dhcp(network: "net1"), trunks: [1, 2])]))
        #expect(trunk?.subject == "tap-x" && trunk?.key == "trunks")
        let bad = refusal(N.referenceConfiguration(dhcp: [H.reference { $0.subnets[0].gateway = H.serverIP }]))
        #expect(bad?.key == "gateway" && bad?.subject == "dhcp net1: subnet1")
    }
}
