import Testing
import XDPDatapath

@Suite struct OpenFlowRoundTripTests {
    /// Every match field, in canonical form.
    @Test(arguments: [
        "priority=0",
        "priority=65535",
        "cookie=0x1234, priority=5",
        "cookie=0xffffffffffffffff, table=254, idle_timeout=10, hard_timeout=20, priority=1",
        "in_port=LOCAL",
        "in_port=65279",
        "dl_src=fa:16:3e:00:00:01",
        "dl_src=fa:16:3e:00:00:00/ff:ff:ff:00:00:00",
        "dl_dst=ff:ff:ff:ff:ff:ff",
        "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
        "dl_type=0x88cc",
        "dl_vlan=4095",
        "dl_vlan=0",
        "dl_vlan_pcp=5",
        "dl_vlan=10,dl_vlan_pcp=7",
        "vlan_tci=0x0000",
        "vlan_tci=0x0000/0x1fff",
        "vlan_tci=0x0005/0x0fff",
        "tun_id=0x2",
        "tun_id=0",
        "tun_id=0x1/0xff",
        "metadata=0x5",
        "metadata=0x5/0xff",
        "reg0=0x1",
        "reg7=0xffffffff",
        "reg3=0x10/0xf0",
        "reg0=0x1,reg1=0x2,reg2=0x3,reg3=0x4,reg4=0x5,reg5=0x6,reg6=0x7,reg7=0x8",
        "ct_state=+trk",
        "ct_state=new|trk",
        "ct_state=0",
        "ct_zone=7",
        "ct_zone=0x7/0xff",
        "ct_mark=0x1",
        "ct_mark=0x1/0x1",
        "ip",
        "ipv6",
        "arp",
        "rarp",
        "tcp",
        "udp",
        "icmp",
        "sctp",
        "tcp6",
        "udp6",
        "icmp6",
        "sctp6",
        "ip,nw_proto=47",
        "ipv6,nw_proto=50",
        "ip,nw_src=10.1.0.2",
        "ip,nw_src=10.1.0.0/24",
        "ip,nw_dst=10.0.0.0/255.0.255.0",
        "ip,nw_src=0.0.0.0/1",
        "ip,nw_ttl=1",
        "ip,nw_tos=252",
        "ip,nw_ecn=3",
        "ip,nw_tos=8,nw_ecn=1",
        "tcp,tp_src=80",
        "tcp,tp_dst=443",
        "tcp,tp_dst=0x400/0xfc00",
        "udp,tp_src=68,tp_dst=67",
        "sctp,tp_dst=9",
        "tcp6,tp_dst=22",
        "udp6,tp_src=546,tp_dst=547",
        "icmp,icmp_type=3,icmp_code=4",
        "icmp6,icmp_type=135",
        "tcp,tcp_flags=+syn-ack",
        "tcp,tcp_flags=syn|ack",
        "tcp6,tcp_flags=+fin",
        "tcp,tcp_flags=0",
        "arp,arp_op=1",
        "arp,arp_spa=10.1.0.3,arp_tpa=10.1.0.0/24",
        "arp,arp_sha=fa:16:3e:00:00:01",
        "arp,arp_tha=00:00:00:00:00:00/ff:ff:ff:00:00:00",
        "ipv6,ipv6_src=fe80::1",
        "ipv6,ipv6_src=2001:db8::/32",
        "ipv6,ipv6_dst=ff02::1:ff00:0/104",
        "ipv6,ipv6_dst=::/1",
        "ipv6,ipv6_dst=2001::/ffff:0:ffff::",
        "ct_state=+new+trk,ct_zone=1,ct_mark=0x2,tcp,reg5=0x1,tun_id=0x9,metadata=0x3,in_port=4,dl_vlan=3,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=1.2.3.4,nw_dst=5.6.7.8,nw_tos=4,nw_ttl=9,tp_src=1,tp_dst=2,tcp_flags=+syn",
    ])
    func everyMatchFieldRoundTrips(_ match: String) {
        expectCanonical(match + " actions=drop")
    }

    /// Spellings OVS accepts that print differently.
    @Test(arguments: [
        ("dl_vlan=0xffff", "vlan_tci=0x0000"),
        ("dl_type=0x0800", "ip"),
        ("dl_type=0x800,nw_proto=6", "tcp"),
        ("ip,nw_proto=1", "icmp"),
        ("eth_type=0x86dd,ip_proto=58", "icmp6"),
        ("eth_src=fa:16:3e:00:00:01", "dl_src=fa:16:3e:00:00:01"),
        ("eth_dst=FA:16:3E:00:00:01", "dl_dst=fa:16:3e:00:00:01"),
        ("tunnel_id=2", "tun_id=0x2"),
        ("tun_id=0x2/0xffffffffffffffff", "tun_id=0x2"),
        ("ip,ip_src=10.0.0.1/32", "ip,nw_src=10.0.0.1"),
        ("ip,nw_src=10.0.0.1/0", "ip"),
        ("ct_state=-new+est-rel-rpl-inv+trk-snat-dnat", "ct_state=est|trk"),
        ("ip,nw_dst=10.1.2.3/255.255.255.0", "ip,nw_dst=10.1.2.0/24"),
        ("ip,ip_dscp=2", "ip,nw_tos=8"),
        ("ip,ip_ecn=2", "ip,nw_ecn=2"),
        ("tcp,tcp_dst=22", "tcp,tp_dst=22"),
        ("udp,udp_src=68", "udp,tp_src=68"),
        ("tp_dst=80,tcp", "tcp,tp_dst=80"),
        ("icmp6,icmpv6_type=128", "icmp6,icmp_type=128"),
        ("arp,nw_src=10.0.0.1", "arp,arp_spa=10.0.0.1"),
        ("arp,nw_proto=2", "arp,arp_op=2"),
        ("ct_state=0x21/0x21", "ct_state=+new+trk"),
        ("ct_state=0x21", "ct_state=new|trk"),
        ("ct_state=+new+est+rel+rpl+inv+trk+snat+dnat", "ct_state=new|est|rel|rpl|inv|trk|snat|dnat"),
        ("tcp,tcp_flags=0x012/0x012", "tcp,tcp_flags=+syn+ack"),
        ("reg0=1/0xffffffff", "reg0=0x1"),
        ("in_port=local", "in_port=LOCAL"),
        ("priority=32768", ""),
        ("table=0", ""),
        ("vlan_tci=0x1005/0x1fff", "dl_vlan=5"),
        ("vlan_tci=0x1005/0x1fff,dl_vlan_pcp=2", "dl_vlan=5,dl_vlan_pcp=2"),
        ("ipv6,ipv6_src=FE80:0:0:0:0:0:0:1/128", "ipv6,ipv6_src=fe80::1"),
        ("cookie=0", ""),
        ("idle_age=3,n_packets=7,n_bytes=9,duration=1.5s,priority=2", "priority=2"),
    ])
    func alternativeSpellingsPrintCanonically(_ pair: (String, String)) {
        let expected = pair.1.isEmpty ? "actions=drop" : pair.1 + " actions=drop"
        expectCanonical(pair.0 + " actions=drop", expected)
    }

    /// Every action, in canonical form.
    @Test(arguments: [
        "output:1",
        "output:65279",
        "output:NXM_NX_REG1[]",
        "output:NXM_NX_REG1[0..15]",
        "NORMAL",
        "FLOOD",
        "ALL",
        "IN_PORT",
        "LOCAL",
        "CONTROLLER:65535",
        "CONTROLLER:128",
        "drop",
        "mod_vlan_vid:4095",
        "mod_vlan_pcp:7",
        "strip_vlan",
        "push_vlan:0x8100",
        "push_vlan:0x88a8,mod_vlan_vid:5",
        "mod_dl_src:fa:16:3e:00:00:01",
        "mod_dl_dst:ff:ff:ff:ff:ff:ff",
        "mod_nw_src:172.24.4.228",
        "mod_nw_dst:10.1.0.2",
        "mod_nw_tos:184",
        "mod_tp_src:9697",
        "mod_tp_dst:80",
        "dec_ttl",
        "set_tunnel:0x2",
        "set_tunnel:0",
        "set_tunnel64:0x2",
        "set_tunnel64:0x100000000",
        "load:0x5->NXM_NX_TUN_ID[]",
        "load:0->NXM_OF_VLAN_TCI[]",
        "load:0x1->NXM_NX_REG0[3]",
        "load:0xffff->NXM_NX_REG6[0..15]",
        "load:0x2->OXM_OF_METADATA[]",
        "load:0xfa163e000001->NXM_OF_ETH_SRC[]",
        "load:0x1->NXM_NX_IPV6_SRC[0..63],load:0->NXM_NX_IPV6_SRC[64..127]",
        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
        "move:NXM_NX_REG0[0..15]->NXM_OF_IN_PORT[]",
        "move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG3[]",
        "resubmit(,2)",
        "resubmit(1,2)",
        "resubmit:5",
        "resubmit(LOCAL,3)",
        "goto_table:5",
        "mod_vlan_vid:1,goto_table:1",
        "note:01.02.ab",
        "learn(table=1)",
        "learn(table=20,idle_timeout=10,hard_timeout=300,fin_idle_timeout=1,fin_hard_timeout=2,priority=1,send_flow_rem,delete_learned,cookie=0x5,limit=10,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[])",
        "learn(table=2,eth_type=0x800,ip_src=10.0.0.1,eth_dst=fa:16:3e:00:00:01,in_port=LOCAL,nw_proto=6,NXM_NX_REG0[0..3]=0xa,NXM_NX_REG1[]=NXM_NX_REG2[],load:0x5->NXM_NX_REG3[])",
        "ct(commit)",
        "mod_vlan_vid:1,output:1,output:2,NORMAL",
    ])
    func everyActionRoundTrips(_ actions: String) {
        expectCanonical("actions=" + actions, "actions=" + (actions.isEmpty ? "drop" : actions))
    }

    /// Action spellings OVS accepts that print differently (OpenFlow 1.0 dump form).
    @Test(arguments: [
        ("output:NORMAL", "NORMAL"),
        ("normal", "NORMAL"),
        ("output:IN_PORT", "IN_PORT"),
        ("3", "output:3"),
        ("controller", "CONTROLLER:65535"),
        ("controller(max_len=100)", "CONTROLLER:100"),
        ("controller:100", "CONTROLLER:100"),
        ("output:CONTROLLER", "CONTROLLER:65535"),
        ("pop_vlan", "strip_vlan"),
        ("set_tunnel:0x100000000", "set_tunnel64:0x100000000"),
        ("set_field:fa:16:3e:00:00:01->eth_src", "mod_dl_src:fa:16:3e:00:00:01"),
        ("set_field:fa:16:3e:00:00:01->dl_dst", "mod_dl_dst:fa:16:3e:00:00:01"),
        ("set_field:10.0.0.1->ip_src", "mod_nw_src:10.0.0.1"),
        ("set_field:10.0.0.1->nw_dst", "mod_nw_dst:10.0.0.1"),
        ("set_field:80->tcp_dst", "mod_tp_dst:80"),
        ("set_field:68->udp_src", "mod_tp_src:68"),
        ("set_field:46->ip_dscp", "mod_nw_tos:184"),
        ("set_field:184->nw_tos", "mod_nw_tos:184"),
        ("set_field:5->vlan_vid", "mod_vlan_vid:5"),
        ("set_field:3->vlan_pcp", "mod_vlan_pcp:3"),
        ("set_field:0x0->vlan_tci", "strip_vlan"),
        ("set_field:0x3005->vlan_tci", "mod_vlan_vid:5,mod_vlan_pcp:1"),
        ("set_field:0x1->ct_mark", "load:0x1->NXM_NX_CT_MARK[]"),
        ("set_field:5->tun_id", "load:0x5->NXM_NX_TUN_ID[]"),
        ("set_field:0x5->reg0", "load:0x5->NXM_NX_REG0[]"),
        ("set_field:0x10/0xf0->reg0", "load:0x1->NXM_NX_REG0[4..7]"),
        ("set_field:0x5/0x5->reg2", "load:0x1->NXM_NX_REG2[0],load:0x1->NXM_NX_REG2[2]"),
        ("set_field:64->nw_ttl", "load:0x40->NXM_NX_IP_TTL[]"),
        ("set_field:fe80::1->ipv6_src", "load:0x1->NXM_NX_IPV6_SRC[0..63],load:0xfe80000000000000->NXM_NX_IPV6_SRC[64..127]"),
        ("set_field:2->NXM_NX_REG1", "load:0x2->NXM_NX_REG1[]"),
        ("load:5->reg0[]", "load:0x5->NXM_NX_REG0[]"),
        ("load:0x5->NXM_NX_REG0[0..31]", "load:0x5->NXM_NX_REG0[]"),
        ("load:0x1->NXM_NX_IPV6_DST[]", "load:0x1->NXM_NX_IPV6_DST[0..63],load:0->NXM_NX_IPV6_DST[64..127]"),
        ("resubmit(5)", "resubmit:5"),
        ("resubmit:IN_PORT", "resubmit(,)"),
        ("resubmit(5,)", "resubmit:5"),
        ("note:0102ab", "note:01.02.ab"),
        ("ct", "ct()"),
        ("ct(commit,exec(set_field:0x1/0x1->ct_mark))", "ct(commit,exec(load:0x1->NXM_NX_CT_MARK[0]))"),
        ("ct(zone=0)", "ct()"),
        ("ct(alg=21)", "ct(alg=ftp)"),
        ("ct(commit,nat(src=10.0.0.1-10.0.0.1:80-80))", "ct(commit,nat(src=10.0.0.1:80))"),
        ("learn(table=1,priority=32768,NXM_OF_ETH_DST[]=NXM_OF_ETH_DST[])", "learn(table=1,NXM_OF_ETH_DST[])"),
        ("learn(dl_type=0x800,nw_src=10.0.0.1)", "learn(table=1,eth_type=0x800,ip_src=10.0.0.1)"),
        ("learn(NXM_NX_REG0[0..7]=255)", "learn(table=1,NXM_NX_REG0[0..7]=0xff)"),
        ("  output:1 ,  NORMAL  ", "output:1,NORMAL"),
        ("", "drop"),
    ])
    func alternativeActionSpellingsPrintCanonically(_ pair: (String, String)) {
        expectCanonical("actions=" + pair.0, "actions=" + pair.1)
    }

    @Test func setFieldAndLoadOfTheSameFieldAreTheSameAction() throws {
        let a = try FlowParser.parse("actions=set_field:0x7->reg6")
        let b = try FlowParser.parse("actions=load:0x7->NXM_NX_REG6[]")
        #expect(a == b)
        #expect(a.actions == [.load(.whole(.reg6), 7)])
    }

    @Test func actionsCarryTheirValues() throws {
        let r = try FlowParser.parse("actions=mod_dl_src:fa:16:3e:00:00:01,mod_nw_dst:10.1.0.2,resubmit(,2),move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],output:NXM_NX_REG1[0..15],note:aa,goto_table:3")
        #expect(r.actions == [
            .setEthSrc(0xfa16_3e00_0001), .setIPv4Dst(0x0a01_0002), .resubmit(port: OpenFlowPort.inPort, table: 2),
            .move(.whole(.ethSrc), .whole(.ethDst)), .outputField(FlowSubfield(.reg1, offset: 0, bits: 16)),
            .note(0), .gotoTable(3),
        ])
        #expect(r.notes == [[0xaa]])
    }

    @Test func flowActionIsPOD() {
        #expect(_isPOD(FlowAction.self))
        #expect(_isPOD(FlowSubfield.self))
        #expect(_isPOD(ConntrackAction.self))
        #expect(_isPOD(NATAction.self))
        #expect(MemoryLayout<FlowAction>.stride <= 24)
    }

    @Test func parseActionsAloneFillsSideTables() throws {
        let r = try FlowParser.parseActions("ct(commit,exec(load:0x1->NXM_NX_CT_MARK[])),note:01,learn(table=2,NXM_OF_ETH_DST[])")
        #expect(r.actions == [.conntrack(0), .note(0), .learn(0)])
        #expect(r.nestedActions == [.load(.whole(.ctMark), 1)])
        #expect(r.match.isCatchAll)
    }
}
