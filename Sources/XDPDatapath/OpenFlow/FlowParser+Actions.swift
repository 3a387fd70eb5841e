import XDPPacket

// Action lists: `output:1,NORMAL`, `learn(...)`, `ct(commit,zone=NXM_NX_REG6[0..15],exec(...))`.
// Items are separated by top-level commas; an item is `name`, `name:arg` or `name(args)`.
// Action names and reserved port names are case-insensitive, as in OVS.
extension FlowTextParser {
    mutating func parseActionList(_ range: Range<Int>, nested: Bool) throws(FlowSyntaxError) -> [FlowAction] {
        let r = trimmed(range)
        if r.isEmpty { return [] }  // `actions=` is drop, as in OVS
        var out: [FlowAction] = []
        var dropAt: Int? = nil
        var gotoAt: Int? = nil
        var conjunctionAt: Int? = nil
        for item in try splitList(r) {
            guard !item.isEmpty else { throw fail(item.lowerBound, "expected an action before ','") }
            if gotoAt != nil { throw fail(item.lowerBound, "goto_table must be the last action") }
            var j = item.lowerBound
            while j < item.upperBound && bytes[j] != UInt8(ascii: ":") && bytes[j] != UInt8(ascii: "(") { j += 1 }
            let name = string(item.lowerBound..<j).lowercased()
            let colon = j < item.upperBound && bytes[j] == UInt8(ascii: ":")
            let paren = j < item.upperBound && bytes[j] == UInt8(ascii: "(")
            if paren && bytes[item.upperBound - 1] != UInt8(ascii: ")") {
                throw fail(item.upperBound, "\(name): expected ')' at the end")
            }
            let arg: Range<Int> = colon ? j + 1..<item.upperBound : paren ? j + 1..<item.upperBound - 1 : item.upperBound..<item.upperBound
            let at = item.lowerBound
            func needArg(_ what: String) throws(FlowSyntaxError) {
                if !colon || arg.isEmpty { throw fail(colon ? arg.lowerBound : item.upperBound, "\(name): expected \(what) (\(name):...)") }
            }
            func noArg() throws(FlowSyntaxError) {
                if colon || paren { throw fail(j, "\(name): takes no argument") }
            }
            if nested && name != "load" && name != "set_field" {
                throw fail(at, "ct: exec(...) allows only load and set_field actions on ct_mark")
            }
            switch name {
            case "drop":
                try noArg()
                dropAt = at
            case "output":
                try needArg("a port or a field")
                if find(UInt8(ascii: "["), in: arg) != nil || FlowField.nxmNamed(string(arg)) != nil {
                    let sf = try subfield(arg, "output")
                    if sf.bits > 32 { throw fail(arg.lowerBound, "output: the port field must be at most 32 bits wide") }
                    out.append(.outputField(sf))
                } else {
                    out.append(try portAction(try port(arg, "output"), at: arg.lowerBound, maxLength: 0xffff))
                }
            case "normal", "flood", "all", "in_port", "local":
                try noArg()
                out.append(try portAction(OpenFlowPort.named(name)!, at: at, maxLength: 0))
            case "controller":
                var maxLength: UInt64 = 0xffff
                if colon {
                    maxLength = try number(arg, "controller max_len", max: 0xffff)
                } else if paren {
                    for a in try splitList(arg) where !a.isEmpty {
                        guard let eq = find(UInt8(ascii: "="), in: a), string(a.lowerBound..<eq) == "max_len" else {
                            throw fail(a.lowerBound, "controller: only max_len=N is supported")
                        }
                        maxLength = try number(eq + 1..<a.upperBound, "controller max_len", max: 0xffff)
                    }
                }
                out.append(.controller(maxLength: UInt16(maxLength)))
            case "mod_vlan_vid", "set_vlan_vid":
                try needArg("a VLAN id")
                out.append(.setVLANVID(UInt16(try number(arg, name, max: 4095))))
            case "mod_vlan_pcp", "set_vlan_pcp":
                try needArg("a priority 0…7")
                out.append(.setVLANPCP(UInt8(try number(arg, name, max: 7))))
            case "strip_vlan", "pop_vlan":
                try noArg()
                out.append(.stripVLAN)
            case "push_vlan":
                try needArg("an ethertype")
                let t = try number(arg, name, max: 0xffff)
                guard t == 0x8100 || t == 0x88a8 else { throw fail(arg.lowerBound, "push_vlan: expected 0x8100 or 0x88a8") }
                out.append(.pushVLAN(UInt16(t)))
            case "mod_dl_src", "mod_dl_dst":
                try needArg("an Ethernet address")
                let m = try mac(arg, name)
                out.append(name == "mod_dl_src" ? .setEthSrc(m) : .setEthDst(m))
            case "mod_nw_src", "mod_nw_dst":
                try needArg("an IPv4 address")
                let a = try ipv4(arg, name)
                out.append(name == "mod_nw_src" ? .setIPv4Src(a) : .setIPv4Dst(a))
            case "mod_nw_tos":
                try needArg("a TOS value")
                let t = try number(arg, name, max: 0xff)
                if t & 3 != 0 { throw fail(arg.lowerBound, "mod_nw_tos: \(t) is not a valid TOS (the low 2 bits must be 0)") }
                out.append(.setIPTOS(UInt8(t)))
            case "mod_tp_src", "mod_tp_dst":
                try needArg("a port number")
                let p = UInt16(try number(arg, name, max: 0xffff))
                out.append(name == "mod_tp_src" ? .setTransportSrc(p) : .setTransportDst(p))
            case "dec_ttl":
                try noArg()
                out.append(.decTTL)
            case "set_tunnel", "set_tunnel64":
                try needArg("a tunnel id")
                let t = try number(arg, name)
                // OVS prints set_tunnel64 for ids above 32 bits whichever name was used.
                out.append(.setTunnel(t, wide: name == "set_tunnel64" || t > 0xffff_ffff))
            case "set_field":
                try needArg("VALUE[/MASK]->FIELD")
                try parseSetField(arg, into: &out, nested: nested)
            case "load":
                try needArg("VALUE->FIELD[a..b]")
                guard let arrow = findArrow(in: arg) else { throw fail(arg.upperBound, "load: expected '->' and a destination field") }
                let dst = try subfield(arrow + 2..<arg.upperBound, "load")
                if !dst.field.isWritable { throw fail(arrow + 2, "load: \(dst.field.name) is read-only") }
                if nested && dst.field != .ctMark { throw fail(arrow + 2, "ct: exec(...) may only set ct_mark") }
                let maxValue = dst.bits >= 64 ? UInt64.max : (1 << UInt64(dst.bits)) - 1
                let v = try number(arg.lowerBound..<arrow, "load", max: maxValue)
                try checkStorage(dst, v, at: arg.lowerBound)
                appendLoads(dst, high: 0, low: v, into: &out)
            case "move":
                try needArg("SRC[a..b]->DST[c..d]")
                guard let arrow = findArrow(in: arg) else { throw fail(arg.upperBound, "move: expected '->' and a destination field") }
                let src = try subfield(arg.lowerBound..<arrow, "move")
                let dst = try subfield(arrow + 2..<arg.upperBound, "move")
                if src.bits != dst.bits {
                    throw fail(arg.lowerBound, "move: source and destination widths differ (\(src.bits) and \(dst.bits) bits)")
                }
                if src.bits > 64 { throw fail(arg.lowerBound, "move: at most 64 bits are supported") }
                if !dst.field.isWritable { throw fail(arrow + 2, "move: \(dst.field.name) is read-only") }
                out.append(.move(src, dst))
            case "resubmit":
                if colon {
                    out.append(.resubmit(port: try port(arg, "resubmit"), table: 255))
                } else if paren {
                    let parts = try splitList(arg)
                    guard parts.count <= 2 else { throw fail(parts[2].lowerBound, "resubmit: expected (PORT,TABLE)") }
                    let p = parts[0].isEmpty ? OpenFlowPort.inPort : try port(parts[0], "resubmit")
                    let t = parts.count < 2 || parts[1].isEmpty ? 255 : UInt8(try number(parts[1], "resubmit table", max: 254))
                    out.append(.resubmit(port: p, table: t))
                } else {
                    throw fail(item.upperBound, "resubmit: expected :PORT or (PORT,TABLE)")
                }
            case "goto_table":
                try needArg("a table number")
                let t = UInt8(try number(arg, name, max: 254))
                if t <= rule.table { throw fail(arg.lowerBound, "goto_table: table \(t) is not after table \(rule.table)") }
                out.append(.gotoTable(t))
                gotoAt = at
            case "note":
                try needArg("hex bytes")
                rule.notes.append(try noteBytes(arg))
                out.append(.note(Int32(rule.notes.count - 1)))
            case "learn":
                guard paren else { throw fail(j, "learn: expected learn(...)") }
                rule.learns.append(try parseLearn(arg))
                out.append(.learn(Int32(rule.learns.count - 1)))
            case "conjunction":
                guard paren else { throw fail(j, "conjunction: expected conjunction(ID,K/N)") }
                out.append(try parseConjunction(arg))
                conjunctionAt = conjunctionAt ?? at
            case "ct":
                guard paren || j == item.upperBound else { throw fail(j, "ct: expected ct or ct(...)") }
                let ct = try parseConntrack(arg)
                rule.conntrack.append(ct)
                out.append(.conntrack(Int32(rule.conntrack.count - 1)))
            default:
                if bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9") && !colon && !paren {
                    out.append(try portAction(try port(item, "output"), at: at, maxLength: 0xffff))
                } else {
                    throw fail(at, "unknown action \"\(string(item.lowerBound..<j))\"")
                }
            }
        }
        if let d = dropAt, !out.isEmpty {
            throw fail(d, "drop must not be accompanied by any other action")
        }
        if let c = conjunctionAt, out.contains(where: { !$0.isConjunction }) {
            throw fail(c, "conjunction: a flow with conjunction actions can have no other kind of action")
        }
        return out
    }

    /// `ID,K/N` of `conjunction(ID,K/N)`: 1 ≤ K ≤ N, 2 ≤ N ≤ 64, as Open vSwitch requires.
    func parseConjunction(_ arg: Range<Int>) throws(FlowSyntaxError) -> FlowAction {
        let parts = try splitList(arg)
        guard parts.count == 2, let slash = find(UInt8(ascii: "/"), in: parts[1]) else {
            throw fail(arg.lowerBound, "conjunction: expected conjunction(ID,K/N)")
        }
        let id = try number(trimmed(parts[0]), "conjunction id", max: 0xffff_ffff)
        let k = try number(trimmed(parts[1].lowerBound..<slash), "conjunction clause", max: 64)
        let n = try number(trimmed(slash + 1..<parts[1].upperBound), "conjunction clauses", max: 64)
        guard n >= 2 else { throw fail(slash + 1, "conjunction: the number of clauses must be 2…64") }
        guard k >= 1 && k <= n else { throw fail(parts[1].lowerBound, "conjunction: clause \(k) is outside 1…\(n)") }
        return .conjunction(id: UInt32(id), clause: UInt8(k - 1), clauses: UInt8(n))
    }

    /// The action for `output:PORT`, normalized as OVS prints it.
    func portAction(_ port: UInt16, at: Int, maxLength: UInt16) throws(FlowSyntaxError) -> FlowAction {
        switch port {
        case OpenFlowPort.normal: return .normal
        case OpenFlowPort.flood: return .flood
        case OpenFlowPort.all: return .all
        case OpenFlowPort.inPort: return .inPort
        case OpenFlowPort.local: return .local
        case OpenFlowPort.controller: return .controller(maxLength: maxLength)
        case OpenFlowPort.table, OpenFlowPort.none: throw fail(at, "output: port \(OpenFlowPort.name(port)) is not usable in a flow")
        default:
            if port >= OpenFlowPort.max { throw fail(at, "output: port \(port) is reserved") }
            return .output(port)
        }
    }

    /// Rejects values that need bits the key does not store (`metadata` above 32 bits).
    func checkStorage(_ sf: FlowSubfield, _ value: UInt64, at: Int) throws(FlowSyntaxError) {
        let stored = sf.field.storage.bits
        let end = Int(sf.offset) + Int(sf.bits)
        guard stored < sf.field.bits, end > stored else { return }
        let usable = max(0, stored - Int(sf.offset))
        if usable < 64 && value >> UInt64(usable) != 0 {
            throw fail(at, "\(sf.field.name): only the low \(stored) bits are supported")
        }
    }

    /// One `.load` per ≤ 64-bit piece of `dst` (the value is the 128-bit `high:low`).
    func appendLoads(_ dst: FlowSubfield, high: UInt64, low: UInt64, into out: inout [FlowAction]) {
        if dst.bits <= 64 {
            out.append(.load(dst, low))
            return
        }
        var done = 0
        while done < Int(dst.bits) {
            let n = min(64, Int(dst.bits) - done)
            let v = Self.bits128(high: high, low: low, offset: done, count: n)
            out.append(.load(FlowSubfield(dst.field, offset: Int(dst.offset) + done, bits: n), v))
            done += n
        }
    }

    static func bits128(high: UInt64, low: UInt64, offset: Int, count: Int) -> UInt64 {
        var v: UInt64
        if offset >= 64 {
            v = high >> UInt64(offset - 64)
        } else if offset == 0 {
            v = low
        } else {
            v = low >> UInt64(offset) | high << UInt64(64 - offset)
        }
        return count >= 64 ? v : v & ((1 << UInt64(count)) - 1)
    }

    /// `set_field:V[/M]->FIELD`, normalized the way OVS encodes it for OpenFlow 1.0: a
    /// whole-field write of a field OpenFlow 1.0 can set becomes its `mod_*` action, any
    /// other write one `load` per contiguous run of mask bits.
    mutating func parseSetField(_ arg: Range<Int>, into out: inout [FlowAction], nested: Bool) throws(FlowSyntaxError) {
        guard let arrow = findArrow(in: arg) else { throw fail(arg.upperBound, "set_field: expected '->' and a field name") }
        let fr = arrow + 2..<arg.upperBound
        let fname = string(fr)
        guard let field = FlowField.named(fname) ?? FlowField.nxmNamed(fname) else {
            throw fail(fr.lowerBound, "set_field: unknown field \"\(fname)\"")
        }
        if !field.isWritable { throw fail(fr.lowerBound, "set_field: \(field.name) is read-only") }
        if nested && field != .ctMark { throw fail(fr.lowerBound, "ct: exec(...) may only set ct_mark") }
        if field == .ctState || field == .tcpFlags { throw fail(fr.lowerBound, "set_field: \(field.name) is read-only") }
        let vr = arg.lowerBound..<arrow
        let slash = find(UInt8(ascii: "/"), in: vr)
        let (vh, vl) = try fieldValue(field, vr.lowerBound..<(slash ?? vr.upperBound), "set_field")
        let fullLow: UInt64 = field.bits >= 64 ? .max : (1 << UInt64(field.bits)) - 1
        let fullHigh: UInt64 = field.bits > 64 ? .max : 0
        var (mh, ml) = (fullHigh, fullLow)
        if let s = slash { (mh, ml) = try fieldValue(field, s + 1..<vr.upperBound, "set_field mask") }
        try checkStorage(FlowSubfield(field), vl & ml, at: vr.lowerBound)
        if (mh, ml) == (fullHigh, fullLow) {
            switch field {
            case .ethSrc: out.append(.setEthSrc(vl)); return
            case .ethDst: out.append(.setEthDst(vl)); return
            case .ipv4Src: out.append(.setIPv4Src(UInt32(vl))); return
            case .ipv4Dst: out.append(.setIPv4Dst(UInt32(vl))); return
            case .ipDSCP:
                if vl & 3 != 0 { throw fail(vr.lowerBound, "set_field: \(vl) is not a valid TOS (the low 2 bits must be 0)") }
                out.append(.setIPTOS(UInt8(vl))); return
            case .ipDSCPShifted: out.append(.setIPTOS(UInt8(vl << 2))); return
            case .tcpSrc, .udpSrc: out.append(.setTransportSrc(UInt16(vl))); return
            case .tcpDst, .udpDst: out.append(.setTransportDst(UInt16(vl))); return
            case .vlanVID, .dlVLAN: out.append(.setVLANVID(UInt16(vl & 0xfff))); return
            case .vlanPCP, .dlVLANPCP: out.append(.setVLANPCP(UInt8(vl))); return
            case .vlanTCI:
                if vl & 0x1000 == 0 {
                    out.append(.stripVLAN)
                } else {
                    out.append(.setVLANVID(UInt16(vl & 0xfff)))
                    out.append(.setVLANPCP(UInt8(vl >> 13)))
                }
                return
            default:
                appendLoads(FlowSubfield(field), high: vh, low: vl, into: &out)
                return
            }
        }
        if field.nxmName == nil { throw fail(vr.lowerBound, "set_field: \(field.name) cannot be written under a mask") }
        // One load per contiguous run of mask bits (at most 64 bits each).
        var bit = 0
        while bit < field.bits {
            if Self.bits128(high: mh, low: ml, offset: bit, count: 1) == 0 { bit += 1; continue }
            var end = bit
            while end < field.bits && end - bit < 64 && Self.bits128(high: mh, low: ml, offset: end, count: 1) == 1 { end += 1 }
            let v = Self.bits128(high: vh, low: vl, offset: bit, count: end - bit)
            out.append(.load(FlowSubfield(field, offset: bit, bits: end - bit), v))
            bit = end
        }
    }

    /// `note:` hex bytes, optionally separated by dots.
    func noteBytes(_ r: Range<Int>) throws(FlowSyntaxError) -> [UInt8] {
        var out: [UInt8] = []
        var i = r.lowerBound
        while i < r.upperBound {
            if bytes[i] == UInt8(ascii: ".") { i += 1; continue }
            guard i + 1 < r.upperBound, let hi = Self.hexDigit(bytes[i]), let lo = Self.hexDigit(bytes[i + 1]) else {
                throw fail(i, "note: expected pairs of hex digits (note:01.02.ab)")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: learn

    /// `learn(table=20,hard_timeout=300,priority=1,cookie=0x…,NXM_OF_VLAN_TCI[0..11],
    /// NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],
    /// load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[])`
    func parseLearn(_ r: Range<Int>) throws(FlowSyntaxError) -> LearnAction {
        var l = LearnAction()
        for item in try splitList(r) {
            guard !item.isEmpty else { throw fail(item.lowerBound, "learn: expected an argument before ','") }
            let text = string(item)
            let eq = find(UInt8(ascii: "="), in: item)
            let key = eq.map { string(item.lowerBound..<$0) } ?? text
            let v = (eq.map { $0 + 1 } ?? item.upperBound)..<item.upperBound
            switch key {
            case "table": l.table = UInt8(try number(v, "learn table", max: 254))
            case "priority": l.priority = UInt16(try number(v, "learn priority", max: 0xffff))
            case "idle_timeout": l.idleTimeout = UInt16(try number(v, "learn idle_timeout", max: 0xffff))
            case "hard_timeout": l.hardTimeout = UInt16(try number(v, "learn hard_timeout", max: 0xffff))
            case "fin_idle_timeout": l.finIdleTimeout = UInt16(try number(v, "learn fin_idle_timeout", max: 0xffff))
            case "fin_hard_timeout": l.finHardTimeout = UInt16(try number(v, "learn fin_hard_timeout", max: 0xffff))
            case "cookie": l.cookie = try number(v, "learn cookie")
            case "limit": l.limit = UInt32(try number(v, "learn limit", max: 0xffff_ffff))
            case "send_flow_rem": l.sendFlowRemoved = true
            case "delete_learned": l.deleteLearned = true
            default:
                if text.hasPrefix("load:") {
                    let a = item.lowerBound + 5..<item.upperBound
                    guard let arrow = findArrow(in: a) else { throw fail(item.upperBound, "learn: load: expected '->' and a destination field") }
                    let dst = try subfield(arrow + 2..<a.upperBound, "learn load")
                    if dst.bits > 64 { throw fail(arrow + 2, "learn: at most 64 bits per load are supported") }
                    let src = a.lowerBound..<arrow
                    if isFieldReference(src) {
                        let s = try subfield(src, "learn load")
                        if s.bits != dst.bits { throw fail(src.lowerBound, "learn: load: source and destination widths differ (\(s.bits) and \(dst.bits) bits)") }
                        l.specs.append(.loadField(destination: dst, source: s))
                    } else {
                        let maxValue = dst.bits >= 64 ? UInt64.max : (1 << UInt64(dst.bits)) - 1
                        l.specs.append(.loadImmediate(destination: dst, value: try number(src, "learn load", max: maxValue)))
                    }
                } else if text.hasPrefix("output:") {
                    l.specs.append(.output(source: try subfield(item.lowerBound + 7..<item.upperBound, "learn output")))
                } else if let eq {
                    let dr = item.lowerBound..<eq
                    let dst = try subfield(dr, "learn")
                    if dst.bits > 64 { throw fail(dr.lowerBound, "learn: matches wider than 64 bits are not supported") }
                    if isFieldReference(v) {
                        let s = try subfield(v, "learn")
                        if s.bits != dst.bits { throw fail(v.lowerBound, "learn: source and destination widths differ (\(s.bits) and \(dst.bits) bits)") }
                        l.specs.append(.matchField(destination: dst, source: s))
                    } else if dst.isWholeField {
                        let (_, value) = try fieldValue(dst.field, v, "learn \(dst.field.name)")
                        l.specs.append(.matchImmediate(destination: dst, value: value))
                    } else {
                        let maxValue: UInt64 = (1 << UInt64(dst.bits)) - 1
                        l.specs.append(.matchImmediate(destination: dst, value: try number(v, "learn", max: maxValue)))
                    }
                } else {
                    let sf = try subfield(item, "learn")
                    if sf.bits > 64 { throw fail(item.lowerBound, "learn: matches wider than 64 bits are not supported") }
                    l.specs.append(.matchField(destination: sf, source: sf))
                }
            }
        }
        return l
    }

    /// Whether `r` reads as a field reference (`NXM_…[…]`, `reg0[]`) rather than a value.
    func isFieldReference(_ r: Range<Int>) -> Bool {
        if find(UInt8(ascii: "["), in: r) != nil { return true }
        let s = string(r)
        return FlowField.nxmNamed(s) != nil
    }

    // MARK: ct

    /// `ct(commit,force,table=T,zone=N|zone=FIELD[a..b],nat[(...)],exec(...),alg=ftp)`
    mutating func parseConntrack(_ r: Range<Int>) throws(FlowSyntaxError) -> ConntrackAction {
        var ct = ConntrackAction()
        if r.isEmpty { return ct }
        for item in try splitList(r) {
            guard !item.isEmpty else { throw fail(item.lowerBound, "ct: expected an argument before ','") }
            let eq = find(UInt8(ascii: "="), in: item)
            let paren = find(UInt8(ascii: "("), in: item)
            let keyEnd = min(eq ?? item.upperBound, paren ?? item.upperBound)
            let key = string(item.lowerBound..<keyEnd)
            let v = (eq.map { $0 + 1 } ?? item.upperBound)..<item.upperBound
            switch key {
            case "commit": ct.commit = true
            case "force": ct.force = true
            case "table": ct.table = UInt8(try number(v, "ct table", max: 254))
            case "zone":
                guard eq != nil, !v.isEmpty else { throw fail(item.upperBound, "ct: zone: expected a number or a 16-bit field") }
                let c = bytes[v.lowerBound]
                if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                    ct.zone = UInt16(try number(v, "ct zone", max: 0xffff))
                } else {
                    let sf = try subfield(v, "ct zone")
                    if sf.bits != 16 { throw fail(v.lowerBound, "ct: zone: the field must be 16 bits wide (e.g. NXM_NX_REG6[0..15])") }
                    ct.zoneField = sf
                }
            case "nat":
                if ct.nat != nil { throw fail(item.lowerBound, "ct: nat may be given only once") }
                ct.nat = try parseNAT(paren.map { $0 + 1..<item.upperBound - 1 }, at: item.lowerBound)
                if paren != nil && bytes[item.upperBound - 1] != UInt8(ascii: ")") { throw fail(item.upperBound, "ct: nat: expected ')'") }
            case "exec":
                guard let p = paren, bytes[item.upperBound - 1] == UInt8(ascii: ")") else {
                    throw fail(item.lowerBound, "ct: expected exec(ACTIONS)")
                }
                let nested = try parseActionList(p + 1..<item.upperBound - 1, nested: true)
                let start = Int32(rule.nestedActions.count)
                rule.nestedActions.append(contentsOf: nested)
                ct.actions = start..<Int32(rule.nestedActions.count)
            case "alg":
                let s = string(v)
                ct.alg = s == "ftp" ? 21 : s == "tftp" ? 69 : UInt16(try number(v, "ct alg", max: 0xffff))
            default:
                throw fail(item.lowerBound, "ct: unknown argument \"\(key)\" (expected commit, force, table, zone, nat, exec or alg)")
            }
        }
        return ct
    }

    /// `nat`, `nat(src)`, `nat(dst=IP[-IP][:PORT[-PORT]],persistent,hash,random)`;
    /// IPv6 addresses go in brackets when a port follows (`[fe80::1]-[fe80::2]:80`).
    func parseNAT(_ r: Range<Int>?, at: Int) throws(FlowSyntaxError) -> NATAction {
        var nat = NATAction()
        guard let r else { return nat }
        for item in try splitList(r) where !item.isEmpty {
            let eq = find(UInt8(ascii: "="), in: item)
            let key = string(item.lowerBound..<(eq ?? item.upperBound))
            switch key {
            case "src", "dst":
                if nat.kind != .existing { throw fail(item.lowerBound, "nat: give only one of src and dst") }
                nat.kind = key == "src" ? .source : .destination
                if let eq { try parseNATRange(eq + 1..<item.upperBound, into: &nat) }
            case "persistent": nat.persistent = true
            case "hash": nat.hash = true
            case "random": nat.random = true
            default: throw fail(item.lowerBound, "nat: unknown argument \"\(key)\" (expected src, dst, persistent, hash or random)")
            }
        }
        if nat.family == .none && (nat.persistent || nat.hash || nat.random) {
            // OVS prints these flags only with an address range, so they would not survive a dump.
            throw fail(at, "nat: persistent, hash and random need src=ADDRESS or dst=ADDRESS")
        }
        return nat
    }

    func parseNATRange(_ r: Range<Int>, into nat: inout NATAction) throws(FlowSyntaxError) {
        var rest = r
        if !r.isEmpty && bytes[r.lowerBound] == UInt8(ascii: "[") {
            // [v6]-[v6]:ports
            guard let close = find(UInt8(ascii: "]"), in: r.lowerBound + 1..<r.upperBound) else { throw fail(r.lowerBound, "nat: expected ']'") }
            (nat.ipv6MinHi, nat.ipv6MinLo) = try ipv6(r.lowerBound + 1..<close, "nat")
            (nat.ipv6MaxHi, nat.ipv6MaxLo) = (nat.ipv6MinHi, nat.ipv6MinLo)
            nat.family = .ipv6
            rest = close + 1..<r.upperBound
            if rest.count > 2 && bytes[rest.lowerBound] == UInt8(ascii: "-") && bytes[rest.lowerBound + 1] == UInt8(ascii: "[") {
                guard let close2 = find(UInt8(ascii: "]"), in: rest.lowerBound + 2..<rest.upperBound) else { throw fail(rest.lowerBound, "nat: expected ']'") }
                (nat.ipv6MaxHi, nat.ipv6MaxLo) = try ipv6(rest.lowerBound + 2..<close2, "nat")
                rest = close2 + 1..<rest.upperBound
            }
        } else if string(r).filter({ $0 == ":" }).count > 1 {
            // v6[-v6], no ports
            let dash = find(UInt8(ascii: "-"), in: r)
            (nat.ipv6MinHi, nat.ipv6MinLo) = try ipv6(r.lowerBound..<(dash ?? r.upperBound), "nat")
            (nat.ipv6MaxHi, nat.ipv6MaxLo) = (nat.ipv6MinHi, nat.ipv6MinLo)
            if let dash { (nat.ipv6MaxHi, nat.ipv6MaxLo) = try ipv6(dash + 1..<r.upperBound, "nat") }
            nat.family = .ipv6
            return
        } else {
            let colon = find(UInt8(ascii: ":"), in: r) ?? r.upperBound
            let ips = r.lowerBound..<colon
            let dash = find(UInt8(ascii: "-"), in: ips)
            nat.ipv4Min = try ipv4(ips.lowerBound..<(dash ?? ips.upperBound), "nat")
            nat.ipv4Max = nat.ipv4Min
            if let dash { nat.ipv4Max = try ipv4(dash + 1..<ips.upperBound, "nat") }
            nat.family = .ipv4
            rest = colon..<r.upperBound
        }
        if rest.isEmpty { return }
        guard bytes[rest.lowerBound] == UInt8(ascii: ":") else { throw fail(rest.lowerBound, "nat: expected ':PORT[-PORT]' after the addresses") }
        let ports = rest.lowerBound + 1..<rest.upperBound
        let dash = find(UInt8(ascii: "-"), in: ports)
        nat.portMin = UInt16(try number(ports.lowerBound..<(dash ?? ports.upperBound), "nat port", max: 0xffff))
        nat.portMax = nat.portMin
        if let dash { nat.portMax = UInt16(try number(dash + 1..<ports.upperBound, "nat port", max: 0xffff)) }
    }
}
