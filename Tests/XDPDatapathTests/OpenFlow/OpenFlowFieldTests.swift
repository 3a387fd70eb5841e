import Testing
import XDPDatapath

@Suite struct OpenFlowFieldTests {
    @Test func namesResolveBothWays() {
        for f in FlowField.allCases {
            #expect(FlowField.named(f.name) == f)
            for a in f.aliases { #expect(FlowField.named(a) == f) }
            if let n = f.nxmName { #expect(FlowField.nxmNamed(n) == f) }
            for n in f.otherNXMNames { #expect(FlowField.nxmNamed(n) == f) }
            #expect(f.storage.bits <= f.bits || f.storage.bits == 128 || f == .ipDSCP || f == .inPortOXM)
        }
        #expect(FlowField.nxmNamed("NXM_NX_REG6") == .reg6)
        #expect(FlowField.nxmNamed("OXM_OF_IN_PORT") == .inPortOXM)
        #expect(FlowField.named("dl_dst") == .ethDst)
        #expect(FlowField.register(5) == .reg5 && FlowField.reg5.registerIndex == 5)
    }

    /// FlowField's storage table agrees with FlowKey's own accessors.
    @Test func storageAgreesWithFlowKeyAccessors() {
        func key(_ f: FlowField, _ v: UInt64) -> FlowKey {
            var k = FlowKey()
            f.set(&k, v, offset: 0, bits: min(f.storage.bits, 64))
            return k
        }
        #expect(key(.inPort, 7).inPort == 7)
        #expect(key(.ctZone, 9).ctZone == 9)
        #expect(key(.ipProto, 6).nwProto == 6)
        #expect(key(.arpOp, 2).nwProto == 2)
        #expect(key(.ipTTL, 64).nwTTL == 64)
        #expect(key(.ipDSCP, 0xb8).nwTOS == 0xb8)
        #expect(key(.ipDSCPShifted, 46).nwTOS == 0xb8)
        #expect(key(.ipECN, 3).nwTOS == 3)
        #expect(key(.ctState, 0x21).ctState == 0x21)
        #expect(key(.ethDst, 0xfa16_3e00_0001).dlDst == 0xfa16_3e00_0001)
        #expect(key(.ethType, 0x0800).dlType == 0x0800)
        #expect(key(.ethSrc, 0x0200_0000_0001).dlSrc == 0x0200_0000_0001)
        #expect(key(.vlanTCI, 0x1005).vlanTCI == 0x1005)
        #expect(key(.vlanPCP, 5).vlanTCI == 0xa000)
        #expect(key(.ipv4Src, 0x0a00_0001).nwSrc == 0x0a00_0001)
        #expect(key(.arpTPA, 0x0a00_0002).nwDst == 0x0a00_0002)
        #expect(key(.udpSrc, 68).tpSrc == 68)
        #expect(key(.tcpDst, 22).tpDst == 22)
        #expect(key(.icmpCode, 3).tpDst == 3)
        #expect(key(.tcpFlags, 0x12).tcpFlags == 0x12)
        #expect(key(.tunID, ~0).tunID == ~0)
        #expect(key(.ctMark, 0xdead_beef).ctMark == 0xdead_beef)
        #expect(key(.metadata, 0x1234_5678).metadata == 0x1234_5678)
        for r in 0..<8 { #expect(key(.register(r), 0x1000 + UInt64(r)).reg(r) == 0x1000 + UInt32(r)) }
        #expect(key(.arpSHA, 0x0200_0000_0009).arpSHA == 0x0200_0000_0009)
        #expect(key(.arpTHA, 0x0200_0000_000a).arpTHA == 0x0200_0000_000a)
        #expect(key(.ipv6Src, 5).ipv6SrcLo == 5)
        #expect(key(.ipv6Dst, 6).ipv6DstLo == 6)
    }

    @Test func subfieldsReadAndWriteTheirBitsOnly() {
        var k = FlowKey()
        k.setReg(6, 0xaaaa_5555)
        let zone = FlowSubfield(.reg6, offset: 0, bits: 16)
        #expect(zone.get(k) == 0x5555)
        zone.set(&k, 0x1234)
        #expect(k.reg(6) == 0xaaaa_1234)
        #expect(k.reg(7) == 0 && k.reg(5) == 0)
        let tci = FlowSubfield(.vlanTCI, offset: 0, bits: 12)
        k.vlanTCI = 0xf005
        #expect(tci.get(k) == 5)
        tci.set(&k, 0x123)
        #expect(k.vlanTCI == 0xf123)
        #expect(zone.description == "NXM_NX_REG6[0..15]")
        #expect(FlowSubfield(.reg0, offset: 3, bits: 1).description == "NXM_NX_REG0[3]")
        #expect(FlowSubfield.whole(.ethDst).description == "NXM_OF_ETH_DST[]")
    }

    @Test func ipv6SubfieldsCrossTheWordBoundary() {
        var k = FlowKey()
        let middle = FlowSubfield(.ipv6Src, offset: 32, bits: 64)
        middle.set(&k, 0x1122_3344_5566_7788)
        #expect(k.ipv6SrcLo == 0x5566_7788_0000_0000)
        #expect(k.ipv6SrcHi == 0x1122_3344)
        #expect(middle.get(k) == 0x1122_3344_5566_7788)
        #expect(FlowSubfield(.ipv6Src, offset: 64, bits: 64).get(k) == 0x1122_3344)
        #expect(k.ipv6DstHi == 0 && k.ipv6DstLo == 0)
    }

    @Test func writesPastTheStorageAreDropped() {
        var k = FlowKey()
        FlowSubfield.whole(.metadata).set(&k, 0xffff_ffff_ffff_ffff)
        #expect(k.metadata == 0xffff_ffff && k.ctMark == 0)
        FlowSubfield.whole(.arpOp).set(&k, 0x1ff)
        #expect(k.nwProto == 0xff && k.nwTTL == 0)
    }
}

@Suite struct OpenFlowSelectorAndDumpTests {
    @Test func looseSelectorMatchesMoreSpecificRules() throws {
        let rules = try [
            "table=22, priority=1,dl_vlan=1 actions=strip_vlan,output:2",
            "table=22, priority=1,dl_vlan=2 actions=strip_vlan,output:2",
            "table=20, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:12:34:56 actions=output:2",
            "cookie=0x5, table=0, priority=2,in_port=1 actions=drop",
        ].map { try FlowParser.parse($0) }
        let all = try FlowParser.parseSelector("")
        #expect(all.table == nil && all.priority == nil)
        #expect(rules.allSatisfy { all.selects($0, strict: false) })
        let vlan1 = try FlowParser.parseSelector("table=22,dl_vlan=1")
        #expect(rules.map { vlan1.selects($0, strict: false) } == [true, false, false, false])
        let t22 = try FlowParser.parseSelector("table=22")
        #expect(rules.map { t22.selects($0, strict: false) } == [true, true, false, false])
    }

    @Test func selectorCookieMaskOutPortAndStrictness() throws {
        let rule = try FlowParser.parse("cookie=0x15, table=1, priority=7,in_port=1,dl_vlan=3 actions=output:4")
        #expect(try FlowParser.parseSelector("cookie=0x5/0xf").selects(rule, strict: false))
        #expect(try !FlowParser.parseSelector("cookie=0x6/0xf").selects(rule, strict: false))
        #expect(try FlowParser.parseSelector("out_port=4").selects(rule, strict: false))
        #expect(try !FlowParser.parseSelector("out_port=5").selects(rule, strict: false))
        #expect(try FlowParser.parseSelector("table=1,priority=7,in_port=1,dl_vlan=3").selects(rule, strict: true))
        #expect(try !FlowParser.parseSelector("table=1,in_port=1,dl_vlan=3").selects(rule, strict: true))
        #expect(try !FlowParser.parseSelector("table=1,priority=7,in_port=1").selects(rule, strict: true))
        #expect(try FlowParser.parseSelector("table=1,priority=7,in_port=1").selects(rule, strict: false))
        #expect(try !FlowParser.parseSelector("table=1,priority=8").selects(rule, strict: false))
    }

    @Test func modFlowsSelectorCarriesReplacementActions() throws {
        let s = try FlowParser.parseSelector("table=22,dl_vlan=1 actions=strip_vlan,set_tunnel:0x5,output:2")
        let r = try #require(s.replacement)
        #expect(r.actions == [.stripVLAN, .setTunnel(5, wide: false), .output(2)])
        #expect(try FlowParser.parseSelector("dl_vlan=1").replacement == nil)
    }

    @Test func dumpLineMatchesOVS() throws {
        let rule = try FlowParser.parse(OpenFlowNeutronTests.referenceBrTun[2])
        #expect(rule.dumpLine(duration: .milliseconds(1500), nPackets: 3, nBytes: 180, idleAge: .seconds(2))
            == " cookie=0x0, duration=1.500s, table=0, n_packets=3, n_bytes=180, idle_age=2, priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL")
        let learned = try FlowParser.parse("cookie=0x9f, table=20, hard_timeout=300, idle_timeout=10, priority=1,dl_vlan=1 actions=output:2")
        #expect(learned.dumpLine(duration: .seconds(12), nPackets: 0, nBytes: 0, idleAge: .seconds(12))
            == " cookie=0x9f, duration=12s, table=20, n_packets=0, n_bytes=0, idle_timeout=10, hard_timeout=300, idle_age=12, priority=1,dl_vlan=1 actions=output:2")
        let catchAll = try FlowParser.parse("actions=NORMAL")
        #expect(catchAll.dumpLine(duration: .microseconds(400), nPackets: 1, nBytes: 60, idleAge: .zero)
            == " cookie=0x0, duration=0s, table=0, n_packets=1, n_bytes=60, idle_age=0, actions=NORMAL")
        #expect(catchAll.dumpLine(duration: .microseconds(2_999_600), nPackets: 1, nBytes: 60, idleAge: .zero).contains("duration=3s,"))
        // idle_age is whole seconds, truncated: 1.999 s prints 1.
        #expect(catchAll.dumpLine(duration: .seconds(4), nPackets: 1, nBytes: 60, idleAge: .milliseconds(1999)).contains("idle_age=1,"))
    }

    @Test func dumpLinesParseBackToTheSameFlows() throws {
        for line in OpenFlowNeutronTests.referenceBrTun {
            let rule = try FlowParser.parse(line)
            let dumped = rule.dumpLine(duration: .milliseconds(5250), nPackets: 10, nBytes: 600, idleAge: .seconds(1))
            #expect(try FlowParser.parse(dumped) == rule)
        }
    }
}
