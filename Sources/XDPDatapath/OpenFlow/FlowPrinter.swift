import XDPPacket

// Printing flows the way `ovs-ofctl dump-flows` does (OVS's `match_format`,
// `ofpacts_format` and `ofputil_flow_stats_format`, OpenFlow 1.0 flavour). Everything is
// derived from the key/mask and the action values, so `FlowParser.parse` of the printed
// text gives back an equal `FlowRule`. Control-path code: it allocates freely.

extension FlowMatch: CustomStringConvertible {
    /// The match in `dump-flows` order and notation, without priority (`tcp,tp_dst=22`);
    /// empty for the catch-all match.
    public var description: String { format(priority: nil) }

    /// The match with `priority=N` first unless `priority` is nil or the default.
    func format(priority: UInt16?) -> String {
        var out: [String] = []
        let v = value, m = mask
        if let p = priority, p != FlowRule.defaultPriority { out.append("priority=\(p)") }
        if conjunctionID != 0 { out.append("conj_id=\(conjunctionID)") }

        if m.ctState != 0 {
            if m.ctState == 0xff {
                out.append("ct_state=" + (v.ctState == 0 ? "0" : Self.flagList(UInt32(v.ctState), FlowTextParser.ctStateNames)))
            } else {
                out.append("ct_state=" + Self.maskedFlags(UInt32(v.ctState), UInt32(m.ctState), FlowTextParser.ctStateNames))
            }
        }
        if m.ctZone != 0 {
            out.append(m.ctZone == 0xffff ? "ct_zone=\(v.ctZone)" : "ct_zone=\(Self.hex0x(UInt64(v.ctZone)))/\(Self.hex0x(UInt64(m.ctZone)))")
        }
        if m.ctMark != 0 { out.append(Self.masked32("ct_mark", v.ctMark, m.ctMark)) }

        // Protocol shorthand.
        var skipType = false, skipProto = false
        let type = v.dlType
        if m.dlType != 0 {
            skipType = true
            let protoKnown = m.nwProto != 0
            switch type {
            case 0x0800:
                let names: [UInt8: String] = [1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 132: "sctp"]
                if protoKnown, let n = names[v.nwProto] { out.append(n); skipProto = true } else { out.append("ip") }
            case 0x86dd:
                let names: [UInt8: String] = [58: "icmp6", 6: "tcp6", 17: "udp6", 132: "sctp6"]
                if protoKnown, let n = names[v.nwProto] { out.append(n); skipProto = true } else { out.append("ipv6") }
            case 0x0806: out.append("arp")
            case 0x8035: out.append("rarp")
            default: skipType = false
            }
        }
        for r in 0..<8 where m.reg(r) != 0 { out.append(Self.masked32("reg\(r)", v.reg(r), m.reg(r))) }
        if m.tunID != 0 { out.append(Self.masked64("tun_id", v.tunID, m.tunID, full: .max)) }
        if m.metadata != 0 { out.append(Self.masked64("metadata", UInt64(v.metadata), UInt64(m.metadata), full: 0xffff_ffff)) }
        if m.inPort != 0 { out.append("in_port=" + OpenFlowPort.name(v.inPort)) }

        if m.vlanTCI != 0 {
            let vidMask = m.vlanTCI & 0x0fff, pcpMask = m.vlanTCI & 0xe000, cfi = m.vlanTCI & 0x1000
            if cfi != 0 && v.vlanTCI & 0x1000 != 0 && (vidMask == 0 || vidMask == 0x0fff)
                && (pcpMask == 0 || pcpMask == 0xe000) && (vidMask != 0 || pcpMask != 0) {
                if vidMask != 0 { out.append("dl_vlan=\(v.vlanTCI & 0x0fff)") }
                if pcpMask != 0 { out.append("dl_vlan_pcp=\(v.vlanTCI >> 13)") }
            } else if m.vlanTCI == 0xffff {
                out.append("vlan_tci=" + Self.hex04(v.vlanTCI))
            } else {
                out.append("vlan_tci=" + Self.hex04(v.vlanTCI) + "/" + Self.hex04(m.vlanTCI))
            }
        }
        if m.dlSrc != 0 { out.append("dl_src=" + Self.maskedMAC(v.dlSrc, m.dlSrc)) }
        if m.dlDst != 0 { out.append("dl_dst=" + Self.maskedMAC(v.dlDst, m.dlDst)) }
        if !skipType && m.dlType != 0 { out.append("dl_type=" + Self.hex04(type)) }

        let arp = type == 0x0806 || type == 0x8035
        if type == 0x86dd {
            if m.ipv6SrcHi | m.ipv6SrcLo != 0 { out.append("ipv6_src=" + Self.maskedIPv6(v.ipv6SrcHi, v.ipv6SrcLo, m.ipv6SrcHi, m.ipv6SrcLo)) }
            if m.ipv6DstHi | m.ipv6DstLo != 0 { out.append("ipv6_dst=" + Self.maskedIPv6(v.ipv6DstHi, v.ipv6DstLo, m.ipv6DstHi, m.ipv6DstLo)) }
        } else {
            if m.nwSrc != 0 { out.append((arp ? "arp_spa=" : "nw_src=") + Self.maskedIPv4(v.nwSrc, m.nwSrc)) }
            if m.nwDst != 0 { out.append((arp ? "arp_tpa=" : "nw_dst=") + Self.maskedIPv4(v.nwDst, m.nwDst)) }
        }
        if !skipProto && m.nwProto != 0 { out.append((arp ? "arp_op=" : "nw_proto=") + String(v.nwProto)) }
        if arp {
            if m.arpSHA != 0 { out.append("arp_sha=" + Self.maskedMAC(v.arpSHA, m.arpSHA)) }
            if m.arpTHA != 0 { out.append("arp_tha=" + Self.maskedMAC(v.arpTHA, m.arpTHA)) }
        }
        if m.nwTOS & 0xfc != 0 { out.append("nw_tos=\(v.nwTOS & 0xfc)") }
        if m.nwTOS & 0x03 != 0 { out.append("nw_ecn=\(v.nwTOS & 0x03)") }
        if m.nwTTL != 0 { out.append("nw_ttl=\(v.nwTTL)") }
        let icmp = (type == 0x0800 && v.nwProto == 1) || (type == 0x86dd && v.nwProto == 58)
        if m.tpSrc != 0 { out.append((icmp ? "icmp_type=" : "tp_src=") + Self.masked16(v.tpSrc, m.tpSrc)) }
        if m.tpDst != 0 { out.append((icmp ? "icmp_code=" : "tp_dst=") + Self.masked16(v.tpDst, m.tpDst)) }
        if (type == 0x0800 || type == 0x86dd) && v.nwProto == 6 && m.tcpFlags & 0x0fff != 0 {
            let fm = UInt32(m.tcpFlags & 0x0fff), fv = UInt32(v.tcpFlags)
            out.append("tcp_flags=" + (fm == 0x0fff ? (fv == 0 ? "0" : Self.flagList(fv, FlowTextParser.tcpFlagNames))
                                                    : Self.maskedFlags(fv, fm, FlowTextParser.tcpFlagNames)))
        }
        return out.joined(separator: ",")
    }

    // MARK: Value formats (shared with the action printer)

    /// `%#x`: `0` for zero, else `0x…`.
    static func hex0x(_ v: UInt64) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }

    static func hex04(_ v: UInt16) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    static func masked16(_ v: UInt16, _ m: UInt16) -> String {
        m == 0xffff ? String(v) : "0x\(String(v, radix: 16))/0x\(String(m, radix: 16))"
    }

    static func masked32(_ name: String, _ v: UInt32, _ m: UInt32) -> String {
        "\(name)=\(hex0x(UInt64(v)))" + (m == 0xffff_ffff ? "" : "/\(hex0x(UInt64(m)))")
    }

    static func masked64(_ name: String, _ v: UInt64, _ m: UInt64, full: UInt64) -> String {
        "\(name)=\(hex0x(v))" + (m == full ? "" : "/\(hex0x(m))")
    }

    static func mac(_ v: UInt64) -> String { MACAddress(rawValue: v).description }

    static func maskedMAC(_ v: UInt64, _ m: UInt64) -> String {
        m == 0xffff_ffff_ffff ? mac(v) : mac(v) + "/" + mac(m)
    }

    static func ipv4(_ v: UInt32) -> String { IPv4Address(rawValue: v).description }

    static func maskedIPv4(_ v: UInt32, _ m: UInt32) -> String {
        if m == ~0 { return ipv4(v) }
        let inv = ~m
        if inv & (inv &+ 1) == 0 { return ipv4(v) + "/\(m.nonzeroBitCount)" }
        return ipv4(v) + "/" + ipv4(m)
    }

    static func ipv6(_ h: UInt64, _ l: UInt64) -> String { IPv6Address(high: h, low: l).description }

    static func maskedIPv6(_ h: UInt64, _ l: UInt64, _ mh: UInt64, _ ml: UInt64) -> String {
        if mh == ~0 && ml == ~0 { return ipv6(h, l) }
        let ih = ~mh, il = ~ml
        // CIDR: the inverted 128-bit mask is 2^k - 1.
        let cidr = mh == ~0 ? il & (il &+ 1) == 0 : (ml == 0 && ih & (ih &+ 1) == 0)
        if cidr { return ipv6(h, l) + "/\(mh.nonzeroBitCount + ml.nonzeroBitCount)" }
        return ipv6(h, l) + "/" + ipv6(mh, ml)
    }

    static func flagList(_ v: UInt32, _ names: [String]) -> String {
        var parts: [String] = []
        var rest = v
        for (i, n) in names.enumerated() where v & (1 << UInt32(i)) != 0 {
            parts.append(n)
            rest &= ~(1 << UInt32(i))
        }
        if rest != 0 { parts.append(hex0x(UInt64(rest))) }
        return parts.joined(separator: "|")
    }

    static func maskedFlags(_ v: UInt32, _ m: UInt32, _ names: [String]) -> String {
        var out = ""
        for i in 0..<32 where m & (1 << UInt32(i)) != 0 {
            out += (v & (1 << UInt32(i)) != 0 ? "+" : "-") + (i < names.count ? names[i] : "[Unknown]")
        }
        return out
    }
}

extension FlowRule: CustomStringConvertible {
    /// The match as `dump-flows` prints it: `priority=3,tun_id=0x2,dl_dst=…` (priority
    /// omitted when it is the default 32768).
    public var matchDescription: String { match.format(priority: priority) }

    /// The action list as `dump-flows` prints it; `drop` when empty.
    public var actionsDescription: String {
        actions.isEmpty ? "drop" : actions.map { describe($0) }.joined(separator: ",")
    }

    /// The flow as `ovs-ofctl dump-flows --no-stats` prints it: `cookie=` and `table=` when
    /// non-zero, timeouts when set, then the match and the actions. Parses back to `self`.
    public var description: String {
        var s = ""
        if cookie != 0 { s += "cookie=\(FlowMatch.hex0x(cookie)), " }
        if table != 0 { s += "table=\(table), " }
        s += timeoutsDescription
        let m = matchDescription
        return s + (m.isEmpty ? "" : m + " ") + "actions=" + actionsDescription
    }

    /// One line of `ovs-ofctl dump-flows` output, with its leading space:
    /// ` cookie=0x0, duration=1.500s, table=0, n_packets=3, n_bytes=180, idle_age=2, priority=3,tun_id=0x2 actions=NORMAL`.
    /// `duration` prints rounded to the millisecond as OVS does (`1s`, `1.500s`), `idleAge`
    /// in whole seconds (truncated); negative spans print as 0.
    /// `hard_age` is not printed (OVS omits it while it equals the duration).
    public func dumpLine(duration: Duration, nPackets: UInt64, nBytes: UInt64, idleAge: Duration) -> String {
        var s = " cookie=0x\(String(cookie, radix: 16)), duration="
        let durationSeconds = max(0, duration.secondsValue)
        var sec = Int(durationSeconds.rounded(.down))
        var msec = Int(((durationSeconds - Double(sec)) * 1000).rounded())
        if msec >= 1000 { sec += 1; msec -= 1000 }
        s += String(sec)
        if msec > 0 { s += "." + String(repeating: "0", count: 3 - String(msec).count) + String(msec) }
        s += "s, table=\(table), n_packets=\(nPackets), n_bytes=\(nBytes), "
        s += timeoutsDescription
        s += "idle_age=\(max(0, idleAge.components.seconds)), "
        let m = matchDescription
        return s + (m.isEmpty ? "" : m + " ") + "actions=" + actionsDescription
    }

    var timeoutsDescription: String {
        (idleTimeout != 0 ? "idle_timeout=\(idleTimeout), " : "") + (hardTimeout != 0 ? "hard_timeout=\(hardTimeout), " : "")
    }

    /// The text of one action (`actions`, or an `exec` action of a `ct`).
    public func describe(_ action: FlowAction) -> String {
        switch action {
        case .output(let p): return "output:\(p)"
        case .outputField(let sf): return "output:\(sf)"
        case .normal: return "NORMAL"
        case .flood: return "FLOOD"
        case .all: return "ALL"
        case .inPort: return "IN_PORT"
        case .local: return "LOCAL"
        case .controller(let n): return "CONTROLLER:\(n)"
        case .setVLANVID(let v): return "mod_vlan_vid:\(v)"
        case .setVLANPCP(let p): return "mod_vlan_pcp:\(p)"
        case .stripVLAN: return "strip_vlan"
        case .pushVLAN(let t): return "push_vlan:0x\(String(t, radix: 16))"
        case .setEthSrc(let m): return "mod_dl_src:" + FlowMatch.mac(m)
        case .setEthDst(let m): return "mod_dl_dst:" + FlowMatch.mac(m)
        case .setIPv4Src(let a): return "mod_nw_src:" + FlowMatch.ipv4(a)
        case .setIPv4Dst(let a): return "mod_nw_dst:" + FlowMatch.ipv4(a)
        case .setIPTOS(let t): return "mod_nw_tos:\(t)"
        case .setTransportSrc(let p): return "mod_tp_src:\(p)"
        case .setTransportDst(let p): return "mod_tp_dst:\(p)"
        case .decTTL: return "dec_ttl"
        case .setTunnel(let t, let wide):
            return (wide || t > 0xffff_ffff ? "set_tunnel64:" : "set_tunnel:") + FlowMatch.hex0x(t)
        case .load(let sf, let v): return "load:\(FlowMatch.hex0x(v))->\(sf)"
        case .move(let src, let dst): return "move:\(src)->\(dst)"
        case .resubmit(let port, let table):
            if port != OpenFlowPort.inPort && table == 255 { return "resubmit:" + OpenFlowPort.name(port) }
            return "resubmit(" + (port == OpenFlowPort.inPort ? "" : OpenFlowPort.name(port)) + ","
                + (table == 255 ? "" : String(table)) + ")"
        case .gotoTable(let t): return "goto_table:\(t)"
        case .note(let i):
            return "note:" + notes[Int(i)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ".")
        case .learn(let i): return describe(learn: learns[Int(i)])
        case .conntrack(let i): return describe(conntrack: conntrack[Int(i)])
        case .conjunction(let id, let clause, let clauses): return "conjunction(\(id),\(clause + 1)/\(clauses))"
        }
    }

    func describe(learn l: LearnAction) -> String {
        var s = "learn(table=\(l.table)"
        if l.idleTimeout != 0 { s += ",idle_timeout=\(l.idleTimeout)" }
        if l.hardTimeout != 0 { s += ",hard_timeout=\(l.hardTimeout)" }
        if l.finIdleTimeout != 0 { s += ",fin_idle_timeout=\(l.finIdleTimeout)" }
        if l.finHardTimeout != 0 { s += ",fin_hard_timeout=\(l.finHardTimeout)" }
        if l.priority != FlowRule.defaultPriority { s += ",priority=\(l.priority)" }
        if l.sendFlowRemoved { s += ",send_flow_rem" }
        if l.deleteLearned { s += ",delete_learned" }
        if l.cookie != 0 { s += ",cookie=\(FlowMatch.hex0x(l.cookie))" }
        if l.limit != 0 { s += ",limit=\(l.limit)" }
        for spec in l.specs {
            s += ","
            switch spec {
            case .matchImmediate(let dst, let value):
                if dst.isWholeField {
                    s += dst.field.name + "=" + Self.fieldValueText(dst.field, value)
                } else {
                    s += "\(dst)=\(FlowMatch.hex0x(value))"
                }
            case .matchField(let dst, let src):
                s += "\(dst)"
                if src.field != dst.field || src.offset != dst.offset { s += "=\(src)" }
            case .loadImmediate(let dst, let value): s += "load:\(FlowMatch.hex0x(value))->\(dst)"
            case .loadField(let dst, let src): s += "load:\(src)->\(dst)"
            case .output(let src): s += "output:\(src)"
            }
        }
        return s + ")"
    }

    /// A value of `field` (≤ 64 bits) in the field's own notation (OVS's `mf_format`).
    static func fieldValueText(_ field: FlowField, _ value: UInt64) -> String {
        switch field.format {
        case .ethernet: FlowMatch.mac(value)
        case .ipv4: FlowMatch.ipv4(UInt32(truncatingIfNeeded: value))
        case .port: OpenFlowPort.name(UInt16(truncatingIfNeeded: value))
        case .hexadecimal: FlowMatch.hex0x(value)
        default: String(value)
        }
    }

    func describe(conntrack ct: ConntrackAction) -> String {
        var parts: [String] = []
        if ct.commit { parts.append("commit") }
        if ct.force { parts.append("force") }
        if let t = ct.table { parts.append("table=\(t)") }
        if let zf = ct.zoneField {
            parts.append("zone=\(zf)")
        } else if ct.zone != 0 {
            parts.append("zone=\(ct.zone)")
        }
        if let nat = ct.nat { parts.append(Self.describe(nat: nat)) }
        if !ct.actions.isEmpty {
            let nested = nestedActions[Int(ct.actions.lowerBound)..<Int(ct.actions.upperBound)]
            parts.append("exec(" + nested.map { describe($0) }.joined(separator: ",") + ")")
        }
        switch ct.alg {
        case 0: break
        case 21: parts.append("alg=ftp")
        case 69: parts.append("alg=tftp")
        default: parts.append("alg=\(ct.alg)")
        }
        return "ct(" + parts.joined(separator: ",") + ")"
    }

    static func describe(nat: NATAction) -> String {
        guard nat.kind != .existing else { return "nat" }
        var parts = [nat.kind == .source ? "src" : "dst"]
        if nat.family != .none {
            var r = ""
            let bracket = nat.portMin != 0
            switch nat.family {
            case .ipv4:
                r = FlowMatch.ipv4(nat.ipv4Min)
                if nat.ipv4Max != 0 && nat.ipv4Max != nat.ipv4Min { r += "-" + FlowMatch.ipv4(nat.ipv4Max) }
            case .ipv6:
                let lo = FlowMatch.ipv6(nat.ipv6MinHi, nat.ipv6MinLo)
                r = bracket ? "[\(lo)]" : lo
                if (nat.ipv6MaxHi | nat.ipv6MaxLo) != 0 && (nat.ipv6MaxHi, nat.ipv6MaxLo) != (nat.ipv6MinHi, nat.ipv6MinLo) {
                    let hi = FlowMatch.ipv6(nat.ipv6MaxHi, nat.ipv6MaxLo)
                    r += "-" + (bracket ? "[\(hi)]" : hi)
                }
            case .none: break
            }
            if nat.portMin != 0 {
                r += ":\(nat.portMin)"
                if nat.portMax != 0 && nat.portMax != nat.portMin { r += "-\(nat.portMax)" }
            }
            parts[0] += "=" + r
            if nat.persistent { parts.append("persistent") }
            if nat.hash { parts.append("hash") }
            if nat.random { parts.append("random") }
        }
        return "nat(" + parts.joined(separator: ",") + ")"
    }
}
