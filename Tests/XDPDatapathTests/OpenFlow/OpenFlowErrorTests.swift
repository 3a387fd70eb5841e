import Testing
import XDPDatapath

/// One bad flow: the text, where the error must point (`marker`: the first occurrence of
/// this string; nil: one past the end) and a fragment of the message.
struct BadFlow: CustomTestStringConvertible, Sendable {
    var text: String
    var marker: String?
    var message: String
    init(_ text: String, at marker: String?, _ message: String) {
        self.text = text
        self.marker = marker
        self.message = message
    }
    var testDescription: String { text }
    var column: Int {
        guard let marker, let r = text.firstRange(of: marker) else { return text.count + 1 }
        return text.distance(from: text.startIndex, to: r.lowerBound) + 1
    }
}

@Suite struct OpenFlowErrorTests {
    static let matchErrors: [BadFlow] = [
        BadFlow("priority=3,tun_id=zz actions=drop", at: "zz", "tun_id: expected a number (0x... or decimal)"),
        BadFlow("priority=3 tun_id=2", at: nil, "expected actions="),
        BadFlow("priority=70000 actions=drop", at: "70000", "priority: 70000 is out of range (maximum 65535)"),
        BadFlow("table=255 actions=drop", at: "255", "table: 255 is out of range (maximum 254)"),
        BadFlow("tcp,tp_dst=80x actions=drop", at: "80x", "tp_dst: expected a number"),
        BadFlow("tun_id=0x10000000000000000 actions=drop", at: "0x1", "does not fit in 64 bits"),
        BadFlow("tp_dst=80 actions=drop", at: "tp_dst", "tp_dst: prerequisites not met: needs tcp, udp or sctp"),
        BadFlow("ip,tcp_dst=80 actions=drop", at: "tcp_dst", "tcp_dst: prerequisites not met: needs tcp or tcp6"),
        BadFlow("tcp,udp_src=68 actions=drop", at: "udp_src", "needs udp or udp6"),
        BadFlow("udp,sctp_src=1 actions=drop", at: "sctp_src", "needs sctp"),
        BadFlow("priority=1,nw_src=10.0.0.1 actions=drop", at: "nw_src", "nw_src: prerequisites not met: needs ip or arp"),
        BadFlow("ipv6,nw_dst=10.0.0.1 actions=drop", at: "nw_dst", "needs ip or arp"),
        BadFlow("nw_proto=6 actions=drop", at: "nw_proto", "needs ip, ipv6 or arp"),
        BadFlow("nw_ttl=3 actions=drop", at: "nw_ttl", "needs ip or ipv6"),
        BadFlow("icmp_type=3 actions=drop", at: "icmp_type", "needs icmp or icmp6"),
        BadFlow("icmp,icmpv6_type=3 actions=drop", at: "icmpv6_type", "needs icmp6"),
        BadFlow("ip,tcp_flags=+syn actions=drop", at: "tcp_flags", "needs tcp or tcp6"),
        BadFlow("ipv6_src=::1 actions=drop", at: "ipv6_src", "needs ipv6"),
        BadFlow("ip,arp_op=1 actions=drop", at: "arp_op", "needs arp"),
        BadFlow("arp_sha=00:00:00:00:00:01 actions=drop", at: "arp_sha", "needs arp"),
        BadFlow("ip,nw_src=10.0.0.300 actions=drop", at: "10.0.0.300", "nw_src: expected an IPv4 address"),
        BadFlow("ip,nw_src=10.0.0.0/33 actions=drop", at: "33", "nw_src prefix length: 33 is out of range (maximum 32)"),
        BadFlow("ip,nw_dst=10.0.0.0/255.x.0.0 actions=drop", at: "255.x", "nw_dst mask: expected an IPv4 address"),
        BadFlow("dl_dst=01:00:00:00:00 actions=drop", at: "01:00", "dl_dst: expected an Ethernet address"),
        BadFlow("dl_src=fa:16:3e:00:00:01/zz actions=drop", at: "zz", "dl_src mask: expected an Ethernet address"),
        BadFlow("dl_vlan=5000 actions=drop", at: "5000", "dl_vlan: expected 0…4095 or 0xffff"),
        BadFlow("dl_vlan_pcp=8 actions=drop", at: "8 ", "out of range (maximum 7)"),
        BadFlow("vlan_tci=0x10000 actions=drop", at: "0x10000", "out of range"),
        BadFlow("foo=1 actions=drop", at: "foo", "unknown field \"foo\""),
        BadFlow("priority=1,bar actions=drop", at: "bar", "unknown field \"bar\""),
        BadFlow("tcp=1 actions=drop", at: "tcp", "tcp: takes no value"),
        BadFlow("in_port actions=drop", at: " actions", "in_port: expected a value"),
        BadFlow("in_port= actions=drop", at: " actions", "in_port: expected a value after '='"),
        BadFlow("in_port=eth0 actions=drop", at: "eth0", "in_port: expected a port number"),
        BadFlow("ct_state=+new+bogus actions=drop", at: "bogus", "ct_state: unknown flag \"bogus\""),
        BadFlow("ct_state=+new+new actions=drop", at: "+new actions", "each flag can be given only once"),
        BadFlow("ct_state=+new*est actions=drop", at: "new*est", "unknown flag"),
        BadFlow("ct_state=new|bogus actions=drop", at: "bogus", "unknown flag"),
        BadFlow("ct_state=0x100 actions=drop", at: "0x100", "out of range (maximum 255)"),
        BadFlow("tcp,tcp_flags=+syn+fun actions=drop", at: "fun", "tcp_flags: unknown flag"),
        BadFlow("ipv6,ipv6_src=fe80::zz actions=drop", at: "fe80", "ipv6_src: expected an IPv6 address"),
        BadFlow("ipv6,ipv6_dst=fe80::/129 actions=drop", at: "129", "maximum 128"),
        BadFlow("cookie=0x1/0xff actions=drop", at: "0x1/", "cookie: a mask is allowed only in del-flows and mod-flows"),
        BadFlow("metadata=0x100000000 actions=drop", at: "0x1", "metadata: only the low 32 bits are supported"),
        BadFlow("ip,nw_tos=5 actions=drop", at: "5 ", "nw_tos: 5 is not a valid TOS"),
        BadFlow("ip,ip_dscp=64 actions=drop", at: "64", "maximum 63"),
        BadFlow("reg8=1 actions=drop", at: "reg8", "unknown field"),
        BadFlow("reg0=0x100000000 actions=drop", at: "0x1", "out of range"),
        BadFlow("out_port=1 actions=drop", at: "out_port", "out_port: allowed only in del-flows and mod-flows"),
    ]

    static let actionErrors: [BadFlow] = [
        BadFlow("actions=output:1,drop", at: "drop", "drop must not be accompanied by any other action"),
        BadFlow("actions=bogus", at: "bogus", "unknown action \"bogus\""),
        BadFlow("actions=enqueue:1:2", at: "enqueue", "unknown action \"enqueue\""),
        BadFlow("actions=mod_vlan_vid:4096", at: "4096", "mod_vlan_vid: 4096 is out of range (maximum 4095)"),
        BadFlow("actions=mod_vlan_vid", at: nil, "mod_vlan_vid: expected a VLAN id"),
        BadFlow("actions=mod_vlan_pcp:8", at: "8", "maximum 7"),
        BadFlow("actions=strip_vlan:1", at: ":1", "strip_vlan: takes no argument"),
        BadFlow("actions=drop()", at: "()", "drop: takes no argument"),
        BadFlow("actions=load:0x10000->NXM_NX_REG6[0..15]", at: "0x10000", "load: 0x10000 is out of range (maximum 65535)"),
        BadFlow("actions=load:1->NXM_NX_REG9[]", at: "NXM_NX_REG9", "load: unknown field NXM_NX_REG9"),
        BadFlow("actions=load:1->NXM_NX_REG0[0..40]", at: "0..40", "load: bit 40 is past the end of NXM_NX_REG0 (32 bits)"),
        BadFlow("actions=load:1->NXM_NX_REG0[5..2]", at: "5..2", "bit range 5..2 is reversed"),
        BadFlow("actions=load:1->NXM_NX_REG0[x]", at: "x]", "load bit: expected a number"),
        BadFlow("actions=load:1->NXM_NX_REG0[3", at: nil, "expected ')' or ']'"),
        BadFlow("actions=load:1", at: nil, "load: expected '->'"),
        BadFlow("actions=load:1->NXM_NX_CT_STATE[]", at: "NXM_NX_CT_STATE", "load: ct_state is read-only"),
        BadFlow("actions=load:0x100000000->OXM_OF_METADATA[]", at: "0x1", "metadata: only the low 32 bits are supported"),
        BadFlow("actions=move:NXM_NX_REG0[0..7]->NXM_NX_REG1[0..15]", at: "NXM_NX_REG0", "move: source and destination widths differ (8 and 16 bits)"),
        BadFlow("actions=move:NXM_NX_REG0[0..15]->NXM_OF_ETH_TYPE[]", at: "NXM_OF_ETH_TYPE", "move: eth_type is read-only"),
        BadFlow("actions=move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[]", at: "NXM_NX_IPV6_SRC", "move: at most 64 bits"),
        BadFlow("actions=set_field:1->bogus", at: "bogus", "set_field: unknown field \"bogus\""),
        BadFlow("actions=set_field:1->ct_state", at: "ct_state", "set_field: ct_state is read-only"),
        BadFlow("actions=set_field:1", at: nil, "set_field: expected '->'"),
        BadFlow("actions=set_field:zz->eth_src", at: "zz", "set_field: expected an Ethernet address"),
        BadFlow("actions=set_field:1/zz->reg0", at: "zz", "set_field mask: expected a number"),
        BadFlow("actions=set_field:0x1ffffffff->reg0", at: "0x1", "out of range"),
        BadFlow("actions=set_field:3->nw_tos", at: "3", "not a valid TOS"),
        BadFlow("actions=resubmit(1,2,3)", at: "3", "resubmit: expected (PORT,TABLE)"),
        BadFlow("actions=resubmit(,255)", at: "255", "resubmit table: 255 is out of range (maximum 254)"),
        BadFlow("actions=resubmit", at: nil, "resubmit: expected :PORT or (PORT,TABLE)"),
        BadFlow("actions=resubmit(,2", at: nil, "expected ')' or ']' before the end"),
        BadFlow("actions=output:1)", at: ")", "unbalanced ')'"),
        BadFlow("actions=output:1,,NORMAL", at: ",NORMAL", "expected an action before ','"),
        BadFlow("actions=goto_table:1,output:1", at: "output:1", "goto_table must be the last action"),
        BadFlow("table=3 actions=goto_table:2", at: "2", "goto_table: table 2 is not after table 3"),
        BadFlow("actions=note:abz", at: "z", "note: expected pairs of hex digits"),
        BadFlow("actions=push_vlan:0x800", at: "0x800", "push_vlan: expected 0x8100 or 0x88a8"),
        BadFlow("actions=output:TABLE", at: "TABLE", "output: port TABLE is not usable in a flow"),
        BadFlow("actions=output:65280", at: "65280", "output: port 65280 is reserved"),
        BadFlow("actions=output:", at: nil, "output: expected a port or a field"),
        BadFlow("actions=output:NXM_NX_TUN_ID[]", at: "NXM_NX_TUN_ID", "at most 32 bits"),
        BadFlow("actions=mod_nw_tos:3", at: "3", "mod_nw_tos: 3 is not a valid TOS"),
        BadFlow("actions=mod_dl_src:1:2:3", at: "1:2:3", "mod_dl_src: expected an Ethernet address"),
        BadFlow("actions=mod_nw_dst:1.2.3", at: "1.2.3", "mod_nw_dst: expected an IPv4 address"),
        BadFlow("actions=controller(foo=1)", at: "foo", "controller: only max_len=N is supported"),
        BadFlow("actions=learn", at: nil, "learn: expected learn(...)"),
        BadFlow("actions=learn(table=2,NXM_OF_VLAN_TCI[0..11]=NXM_OF_ETH_SRC[])", at: "NXM_OF_ETH_SRC", "learn: source and destination widths differ (48 and 12 bits)"),
        BadFlow("actions=learn(table=2,load:NXM_NX_REG0[]->NXM_NX_REG1[0..3])", at: "NXM_NX_REG0", "learn: load: source and destination widths differ"),
        BadFlow("actions=learn(table=2,NXM_NX_IPV6_SRC[])", at: "NXM_NX_IPV6_SRC", "wider than 64 bits"),
        BadFlow("actions=learn(table=2,eth_dst=zz)", at: "zz", "learn eth_dst: expected an Ethernet address"),
        BadFlow("actions=learn(table=2,load:1)", at: ")", "learn: load: expected '->'"),
        BadFlow("actions=learn(table=2,bogus[])", at: "bogus", "learn: unknown field bogus"),
        BadFlow("actions=learn(table=x)", at: "x", "learn table: expected a number"),
        BadFlow("actions=learn(table=1,,)", at: ",)", "learn: expected an argument"),
        BadFlow("actions=ct(commit,zone=NXM_NX_REG6[0..7])", at: "NXM_NX_REG6", "ct: zone: the field must be 16 bits wide"),
        BadFlow("actions=ct(zone=70000)", at: "70000", "ct zone: 70000 is out of range"),
        BadFlow("actions=ct(bogus)", at: "bogus", "ct: unknown argument \"bogus\""),
        BadFlow("actions=ct(commit,exec(output:1))", at: "output:1", "ct: exec(...) allows only load and set_field actions on ct_mark"),
        BadFlow("actions=ct(commit,exec(set_field:1->reg0))", at: "reg0", "ct: exec(...) may only set ct_mark"),
        BadFlow("actions=ct(commit,exec(load:1->NXM_NX_REG0[]))", at: "NXM_NX_REG0", "ct: exec(...) may only set ct_mark"),
        BadFlow("actions=ct(nat(src=10.0.0.1,bogus))", at: "bogus", "nat: unknown argument \"bogus\""),
        BadFlow("actions=ct(nat(src,dst))", at: "dst", "nat: give only one of src and dst"),
        BadFlow("actions=ct(nat(src,persistent))", at: "nat(", "nat: persistent, hash and random need src=ADDRESS"),
        BadFlow("actions=ct(nat(src=10.0.0.1:x))", at: "x", "nat port: expected a number"),
        BadFlow("actions=ct(nat(src=10.0.0.1-10.0.0.x))", at: "10.0.0.x", "nat: expected an IPv4 address"),
        BadFlow("actions=ct(nat(dst=[fe80::1))", at: nil, "expected ')' or ']' before the end"),
        BadFlow("actions=ct(nat(dst=[fe80::1]99))", at: "99", "nat: expected ':PORT[-PORT]'"),
        BadFlow("actions=ct(nat,nat)", at: "nat)", "ct: nat may be given only once"),
        BadFlow("actions=ct(exec)", at: "exec", "ct: expected exec(ACTIONS)"),
    ]

    func check(_ bad: BadFlow) {
        do {
            let rule = try FlowParser.parse(bad.text)
            Issue.record("parsed: \(rule)")
        } catch {
            #expect(error.column == bad.column, "\(error)")
            #expect(error.message.contains(bad.message), "\(error)")
            #expect(error.flow == bad.text)
            #expect(error.description == "\(bad.text): column \(error.column): \(error.message)")
        }
    }

    @Test(arguments: matchErrors) func matchErrorNamesColumnAndExpectation(_ bad: BadFlow) { check(bad) }

    @Test(arguments: actionErrors) func actionErrorNamesColumnAndExpectation(_ bad: BadFlow) { check(bad) }

    @Test func briefExampleErrorText() {
        #expect(throws: FlowSyntaxError(flow: "priority=3,tun_id=zz actions=drop", column: 19,
                                        message: "tun_id: expected a number (0x... or decimal)")) {
            try FlowParser.parse("priority=3,tun_id=zz actions=drop")
        }
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let text = "priority=1,dl_src=é actions=drop"
        let error = try #require(throws: FlowSyntaxError.self) { try FlowParser.parse(text) }
        #expect(error.column == 19)
        let error2 = try #require(throws: FlowSyntaxError.self) { try FlowParser.parse("dl_src=é,tun_id=x actions=drop") }
        #expect(error2.column == 8)
    }
}
