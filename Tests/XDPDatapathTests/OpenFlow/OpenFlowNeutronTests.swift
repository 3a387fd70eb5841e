import Testing
import XDPDatapath

/// Parses `text`, checks the canonical print (`expected`, default: `text` itself) and
/// that the print parses back to the same rule.
func expectCanonical(_ text: String, _ expected: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let rule = try FlowParser.parse(text)
        #expect(rule.description == (expected ?? text), sourceLocation: sourceLocation)
        let again = try FlowParser.parse(rule.description)
        #expect(again == rule, "round trip of \(text)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct OpenFlowNeutronTests {
    /// The reference design's br-tun dump, verbatim (SUMMARY.md).
    static let referenceBrTun = [
        "priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
        "priority=3,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62 actions=mod_vlan_vid:1,NORMAL",
        "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL",
        "priority=1 actions=drop",
    ]

    @Test(arguments: referenceBrTun) func referenceBrTunFlowPrintsBackVerbatim(_ line: String) throws {
        let rule = try FlowParser.parse(line)
        #expect(rule.matchDescription + " actions=" + rule.actionsDescription == line)
        #expect(rule.description == line)
    }

    @Test func referenceBrTunFlowsHaveTheRightKeysAndActions() throws {
        let multicast = try FlowParser.parse(Self.referenceBrTun[0])
        #expect(multicast.priority == 3)
        #expect(multicast.match.value.tunID == 2 && multicast.match.mask.tunID == ~0)
        #expect(multicast.match.value.dlDst == 0x0100_0000_0000 && multicast.match.mask.dlDst == 0x0100_0000_0000)
        #expect(multicast.actions == [.setVLANVID(1), .output(1)])

        let unicast = try FlowParser.parse(Self.referenceBrTun[1])
        #expect(unicast.match.value.dlDst == 0xfa16_3edd_c162 && unicast.match.mask.dlDst == 0xffff_ffff_ffff)
        #expect(unicast.actions == [.setVLANVID(1), .normal])

        let fromPatch = try FlowParser.parse(Self.referenceBrTun[2])
        #expect(fromPatch.match.value.inPort == 1 && fromPatch.match.mask.inPort == 0xffff)
        #expect(fromPatch.match.value.vlanTCI == 0x1001 && fromPatch.match.mask.vlanTCI == 0x1fff)
        #expect(fromPatch.actions == [.setTunnel(2, wide: false), .normal])

        let drop = try FlowParser.parse(Self.referenceBrTun[3])
        #expect(drop.priority == 1 && drop.match.isCatchAll && drop.actions.isEmpty)

        // A frame from tunnel 2 to a multicast MAC hits the first rule only.
        var key = FlowKey()
        key.tunID = 2
        key.dlDst = 0x0100_5e00_0001
        #expect(multicast.match.matches(key))
        #expect(!unicast.match.matches(key))
        #expect(!fromPatch.match.matches(key))
    }

    /// Neutron's br-tun pipeline (GRE), in the canonical form dump-flows prints.
    @Test(arguments: [
        "priority=1,in_port=1 actions=resubmit(,2)",
        "priority=1,in_port=2 actions=resubmit(,3)",
        "priority=0 actions=drop",
        "table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)",
        "table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)",
        "table=3, priority=1,tun_id=0x5 actions=mod_vlan_vid:1,resubmit(,10)",
        "table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9f4a9c6b7a1e2d3c,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1",
        "table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1",
        "table=20, priority=0 actions=resubmit(,22)",
        "table=20, hard_timeout=300, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:12:34:56 actions=load:0->NXM_OF_VLAN_TCI[],load:0x5->NXM_NX_TUN_ID[],output:2",
        "table=22, priority=1,dl_vlan=1 actions=strip_vlan,load:0x5->NXM_NX_TUN_ID[],output:2,output:3",
        "table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x5,output:2,output:3",
        "table=22, priority=0 actions=drop",
    ])
    func neutronBrTunFlowRoundTrips(_ line: String) { expectCanonical(line) }

    @Test func neutronLearnFlowCarriesItsSpecs() throws {
        let rule = try FlowParser.parse("table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9f4a,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1")
        #expect(rule.actions == [.learn(0), .output(1)])
        let l = rule.learns[0]
        #expect(l.table == 20 && l.hardTimeout == 300 && l.priority == 1 && l.cookie == 0x9f4a)
        let tci = FlowSubfield(.vlanTCI, offset: 0, bits: 12)
        #expect(l.specs == [
            .matchField(destination: tci, source: tci),
            .matchField(destination: .whole(.ethDst), source: .whole(.ethSrc)),
            .loadImmediate(destination: .whole(.vlanTCI), value: 0),
            .loadField(destination: .whole(.tunID), source: .whole(.tunID)),
            .output(source: .whole(.inPortOXM)),
        ])
    }

    /// What the agent writes (its own spelling) and what dump-flows shows for it.
    @Test(arguments: [
        ("table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:5,output:2",
         "table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x5,output:2"),
        ("table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_field:5->tun_id,output:2",
         "table=22, priority=1,dl_vlan=1 actions=strip_vlan,load:0x5->NXM_NX_TUN_ID[],output:2"),
        ("table=4,priority=1,tun_id=0x5,actions=mod_vlan_vid:1,resubmit(,10)",
         "table=4, priority=1,tun_id=0x5 actions=mod_vlan_vid:1,resubmit(,10)"),
        ("priority=0,actions=normal", "priority=0 actions=NORMAL"),
        ("table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop", "priority=65535,vlan_tci=0x0fff/0x1fff actions=drop"),
    ])
    func neutronAgentSpellingPrintsCanonically(_ pair: (String, String)) { expectCanonical(pair.0, pair.1) }

    /// br-int and br-eth1 in VLAN mode: local tag 1 ↔ provider tag 101 (the reference design's VLAN mode).
    @Test(arguments: [
        "priority=4,in_port=1,dl_vlan=1 actions=mod_vlan_vid:101,NORMAL",
        "priority=3,in_port=1,dl_vlan=101 actions=mod_vlan_vid:1,NORMAL",
        "priority=2,in_port=1 actions=drop",
        "priority=0 actions=NORMAL",
        "priority=3,in_port=2,vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:1,NORMAL",
        "priority=3,in_port=1,dl_vlan=1 actions=strip_vlan,NORMAL",
        "table=24, priority=2,arp,in_port=5,arp_spa=10.0.0.3 actions=resubmit(,25)",
        "table=24, priority=2,icmp6,in_port=5,icmp_type=136 actions=resubmit(,25)",
        "priority=10,arp,in_port=5 actions=resubmit(,24)",
        "table=25, priority=2,in_port=5,dl_src=fa:16:3e:a4:22:10 actions=resubmit(,60)",
    ])
    func neutronBrIntAndBrEth1FlowRoundTrips(_ line: String) { expectCanonical(line) }

    @Test func vlanTranslationMatchesTaggedFramesOnly() throws {
        let rule = try FlowParser.parse("priority=4,in_port=1,dl_vlan=1 actions=mod_vlan_vid:101,NORMAL")
        var key = FlowKey()
        key.inPort = 1
        key.vlanTCI = 0x1000 | 1
        #expect(rule.match.matches(key))
        key.vlanTCI = 0x1000 | 2
        #expect(!rule.match.matches(key))
        key.vlanTCI = 0  // untagged
        #expect(!rule.match.matches(key))
        #expect(rule.actions == [.setVLANVID(101), .normal])
    }

    /// The OVS firewall driver's conntrack flows.
    @Test(arguments: [
        "table=60, priority=100,in_port=5 actions=load:0x5->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[],resubmit(,71)",
        "table=71, priority=65,ct_state=-trk,ip,reg5=0x5,in_port=5,dl_src=fa:16:3e:a4:22:10,nw_src=10.0.0.5 actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
        "table=71, priority=65,ct_state=-trk,ipv6,reg5=0x5,in_port=5,dl_src=fa:16:3e:a4:22:10,ipv6_src=fe80::f816:3eff:fea4:2210 actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
        "table=72, priority=50,ct_state=+inv+trk actions=drop",
        "table=72, priority=74,ct_state=+new-est,ip,reg5=0x5 actions=resubmit(,73)",
        "table=72, priority=77,ct_state=+est-rel-rpl,ip,reg5=0x5 actions=resubmit(,73)",
        "table=72, priority=40,ct_state=+est,ip,reg5=0x5 actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))",
        "table=72, priority=50,ct_state=+est-rel+rpl,ct_zone=1,ct_mark=0x1,reg5=0x5 actions=drop",
        "table=73, priority=90,ct_state=+new-est,ip,reg5=0x5 actions=ct(commit,zone=NXM_NX_REG6[0..15]),NORMAL",
        "table=82, priority=77,ct_state=+est-rel-rpl,tcp,reg5=0x5,tp_dst=22 actions=output:5",
        "table=82, priority=77,ct_state=+new-est,tcp,reg5=0x5,tp_dst=0x50/0xfff0 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:5",
        "table=82, priority=77,ct_state=+new-est,udp,reg5=0x5,nw_src=10.0.0.0/24,tp_dst=53 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:5",
        "table=82, priority=77,ct_state=+new-est,icmp,reg5=0x5,icmp_type=8,icmp_code=0 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:5",
        "table=94, priority=12,reg6=0x1,dl_dst=fa:16:3e:a4:22:10 actions=output:5",
    ])
    func firewallConntrackFlowRoundTrips(_ line: String) { expectCanonical(line) }

    @Test func firewallCommitWithMarkIsNormalizedToLoad() throws {
        let rule = try FlowParser.parse("table=72,priority=40,ct_state=+est,ip,reg5=0x5,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1->ct_mark))")
        #expect(rule.actions == [.conntrack(0)])
        let ct = rule.conntrack[0]
        #expect(ct.commit && ct.table == nil && ct.zoneField == FlowSubfield(.reg6, offset: 0, bits: 16))
        #expect(Array(rule.nestedActions(ofConntrack: 0)) == [.load(.whole(.ctMark), 1)])
        #expect(rule.actionsDescription == "ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))")
        #expect(rule.match.value.ctState == CTState.established.rawValue)
        #expect(rule.match.mask.ctState == CTState.established.rawValue)
    }

    @Test(arguments: [
        "actions=ct(commit,nat(src=10.0.0.1-10.0.0.10:1000-2000,persistent,random))",
        "actions=ct(table=5,zone=3,nat)",
        "actions=ct(commit,zone=7,nat(dst=172.24.4.228))",
        "actions=ct(nat(src))",
        "actions=ct(commit,nat(dst=[fe80::1]-[fe80::2]:80))",
        "actions=ct(commit,nat(src=fe80::1-fe80::9))",
        "actions=ct(commit,force,table=3,zone=NXM_NX_REG6[0..15],nat(src=10.0.0.1:80,hash),exec(load:0x1->NXM_NX_CT_MARK[]),alg=ftp)",
        "actions=ct()",
    ])
    func conntrackAndNATRoundTrip(_ line: String) { expectCanonical(line) }

    @Test func natRangeIsCarried() throws {
        let rule = try FlowParser.parse("actions=ct(commit,zone=1,nat(src=172.24.4.227:1024-65535,random))")
        let nat = try #require(rule.conntrack[0].nat)
        #expect(nat.kind == .source && nat.family == .ipv4)
        #expect(nat.ipv4Min == 0xac18_04e3 && nat.ipv4Max == 0xac18_04e3)
        #expect(nat.portMin == 1024 && nat.portMax == 65535 && nat.random && !nat.persistent)
        #expect(rule.conntrack[0].zone == 1)
    }
}
