import XDPPacket

/// Parses the flow syntax of `ovs-ofctl add-flow`, `del-flows` and `mod-flows`.
///
/// A flow is a list of `key[=value]` items separated by commas or white space, then
/// `actions=` and a comma-separated action list that runs to the end of the text:
///
///     priority=4,in_port=1,dl_vlan=1 actions=mod_vlan_vid:101,NORMAL
///
/// The supported subset and its differences from OVS are in docs/flows.md. Every
/// failure throws a `FlowSyntaxError` naming the flow, the 1-based column where the
/// offending item starts and what was expected there. Parsing is control-path code: it
/// allocates freely. It is a pure function of its input and safe from any thread.
public enum FlowParser {
    /// Parses `add-flow` text: a match and a (required) action list.
    public static func parse(_ text: String) throws(FlowSyntaxError) -> FlowRule {
        var p = FlowTextParser(text)
        try p.parseFlow(selector: false)
        return p.rule
    }

    /// Parses `del-flows` / `mod-flows` text: a match with optional `table=` (absent: every
    /// table), `priority=` (absent: any, for non-strict commands), `cookie=V/M`,
    /// `out_port=`, and for `mod-flows` an optional `actions=` list (`replacement`).
    public static func parseSelector(_ text: String) throws(FlowSyntaxError) -> FlowSelector {
        var p = FlowTextParser(text)
        try p.parseFlow(selector: true)
        var s = FlowSelector()
        s.table = p.tableGiven ? p.rule.table : nil
        s.priority = p.priorityGiven ? p.rule.priority : nil
        s.cookie = p.rule.cookie
        s.cookieMask = p.cookieMask
        s.outPort = p.outPort
        s.match = p.rule.match
        if p.actionsGiven {
            var r = p.rule
            r.match = FlowMatch()
            s.replacement = r
        }
        return s
    }

    /// Parses an action list alone (the text after `actions=`) into a rule that matches
    /// everything; its side tables hold the actions' arguments.
    public static func parseActions(_ text: String) throws(FlowSyntaxError) -> FlowRule {
        var p = FlowTextParser(text)
        p.rule.actions = try p.parseActionList(0..<p.bytes.count, nested: false)
        return p.rule
    }
}

/// What a match item needs already matched (checked after the whole match is read, so
/// `tp_dst=80,tcp` is as good as `tcp,tp_dst=80`, as in OVS).
enum MatchPrerequisite {
    case ipv4OrARP, ipAnyOrARP, ipAny, ipv6, arp, tcp, udp, sctp, transport, icmpv4, icmpv6, icmpAny

    var explanation: String {
        switch self {
        case .ipv4OrARP: "needs ip or arp (dl_type=0x0800 or 0x0806)"
        case .ipAnyOrARP: "needs ip, ipv6 or arp"
        case .ipAny: "needs ip or ipv6 (dl_type=0x0800 or 0x86dd)"
        case .ipv6: "needs ipv6 (dl_type=0x86dd)"
        case .arp: "needs arp (dl_type=0x0806)"
        case .tcp: "needs tcp or tcp6 (nw_proto=6)"
        case .udp: "needs udp or udp6 (nw_proto=17)"
        case .sctp: "needs sctp or sctp6 (nw_proto=132)"
        case .transport: "needs tcp, udp or sctp (ip or ipv6 with nw_proto=6, 17 or 132)"
        case .icmpv4: "needs icmp (ip with nw_proto=1)"
        case .icmpv6: "needs icmp6 (ipv6 with nw_proto=58)"
        case .icmpAny: "needs icmp or icmp6"
        }
    }

    func isMet(by m: FlowMatch) -> Bool {
        let typeKnown = m.mask.dlType == 0xffff
        let t = typeKnown ? m.value.dlType : 0
        let protoKnown = m.mask.nwProto == 0xff
        let proto = protoKnown ? m.value.nwProto : 0
        let ip = t == 0x0800 || t == 0x86dd
        let arp = t == 0x0806 || t == 0x8035
        switch self {
        case .ipv4OrARP: return t == 0x0800 || arp
        case .ipAnyOrARP: return ip || arp
        case .ipAny: return ip
        case .ipv6: return t == 0x86dd
        case .arp: return arp
        case .tcp: return ip && protoKnown && proto == 6
        case .udp: return ip && protoKnown && proto == 17
        case .sctp: return ip && protoKnown && proto == 132
        case .transport: return ip && protoKnown && (proto == 6 || proto == 17 || proto == 132)
        case .icmpv4: return t == 0x0800 && protoKnown && proto == 1
        case .icmpv6: return t == 0x86dd && protoKnown && proto == 58
        case .icmpAny: return (t == 0x0800 && protoKnown && proto == 1) || (t == 0x86dd && protoKnown && proto == 58)
        }
    }
}

/// The parsing state for one flow text. Ranges are byte offsets into `bytes`.
struct FlowTextParser {
    let text: String
    let bytes: [UInt8]
    var rule = FlowRule()
    var tableGiven = false
    var priorityGiven = false
    var actionsGiven = false
    var cookieMask: UInt64 = 0
    var outPort: UInt16? = nil
    var prerequisites: [(MatchPrerequisite, String, Int)] = []

    init(_ text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }

    // MARK: Errors and scanning

    func fail(_ offset: Int, _ message: String) -> FlowSyntaxError {
        let column = String(decoding: bytes[0..<Swift.min(offset, bytes.count)], as: UTF8.self).count + 1
        return FlowSyntaxError(flow: text, column: column, message: message)
    }

    func string(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d }

    func trimmed(_ r: Range<Int>) -> Range<Int> {
        var lo = r.lowerBound, hi = r.upperBound
        while lo < hi && Self.isSpace(bytes[lo]) { lo += 1 }
        while hi > lo && Self.isSpace(bytes[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    /// The first offset of `byte` in `r` at bracket depth 0, or nil.
    func find(_ byte: UInt8, in r: Range<Int>) -> Int? {
        var depth = 0
        for i in r {
            let c = bytes[i]
            if c == byte && depth == 0 { return i }
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") { depth += 1 }
            if c == UInt8(ascii: ")") || c == UInt8(ascii: "]") { depth -= 1 }
        }
        return nil
    }

    /// The first offset of `->` in `r`, or nil.
    func findArrow(in r: Range<Int>) -> Int? {
        var i = r.lowerBound
        while i + 1 < r.upperBound {
            if bytes[i] == UInt8(ascii: "-") && bytes[i + 1] == UInt8(ascii: ">") { return i }
            i += 1
        }
        return nil
    }

    /// Splits `r` at top-level commas (not inside parentheses or brackets), trimming items.
    func splitList(_ r: Range<Int>) throws(FlowSyntaxError) -> [Range<Int>] {
        var items: [Range<Int>] = []
        var depth = 0
        var start = r.lowerBound
        for i in r {
            let c = bytes[i]
            if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") { depth += 1 }
            if c == UInt8(ascii: ")") || c == UInt8(ascii: "]") {
                depth -= 1
                if depth < 0 { throw fail(i, "unbalanced '\(Character(UnicodeScalar(c)))'") }
            }
            if c == UInt8(ascii: ",") && depth == 0 {
                items.append(trimmed(start..<i))
                start = i + 1
            }
        }
        if depth != 0 { throw fail(r.upperBound, "expected ')' or ']' before the end") }
        items.append(trimmed(start..<r.upperBound))
        return items
    }

    // MARK: Values

    /// A number: `0x` + hex digits, or decimal digits.
    func number(_ r: Range<Int>, _ what: String, max: UInt64 = .max) throws(FlowSyntaxError) -> UInt64 {
        let expected = "\(what): expected a number (0x... or decimal)"
        guard !r.isEmpty else { throw fail(r.lowerBound, expected) }
        var i = r.lowerBound
        var radix: UInt64 = 10
        if r.count > 2 && bytes[i] == UInt8(ascii: "0") && (bytes[i + 1] | 0x20) == UInt8(ascii: "x") {
            radix = 16
            i += 2
        }
        var value: UInt64 = 0
        while i < r.upperBound {
            let c = bytes[i]
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: d = UInt64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: d = UInt64(c - UInt8(ascii: "A") + 10)
            default: throw fail(i == r.lowerBound || radix == 10 ? r.lowerBound : r.lowerBound, expected)
            }
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (s, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { throw fail(r.lowerBound, "\(what): \(string(r)) does not fit in 64 bits") }
            value = s
            i += 1
        }
        if value > max { throw fail(r.lowerBound, "\(what): \(string(r)) is out of range (maximum \(max))") }
        return value
    }

    /// A number with an optional `/mask`; the mask defaults to `full`.
    func maskedNumber(_ r: Range<Int>, _ what: String, full: UInt64) throws(FlowSyntaxError) -> (UInt64, UInt64) {
        if let slash = find(UInt8(ascii: "/"), in: r) {
            return (try number(r.lowerBound..<slash, what, max: full),
                    try number(slash + 1..<r.upperBound, what + " mask", max: full))
        }
        return (try number(r, what, max: full), full)
    }

    func mac(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> UInt64 {
        guard let m = MACAddress(string(r)) else {
            throw fail(r.lowerBound, "\(what): expected an Ethernet address (xx:xx:xx:xx:xx:xx)")
        }
        return m.rawValue
    }

    func maskedMAC(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> (UInt64, UInt64) {
        if let slash = find(UInt8(ascii: "/"), in: r) {
            return (try mac(r.lowerBound..<slash, what), try mac(slash + 1..<r.upperBound, what + " mask"))
        }
        return (try mac(r, what), 0xffff_ffff_ffff)
    }

    func ipv4(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> UInt32 {
        guard let a = IPv4Address(string(r)) else {
            throw fail(r.lowerBound, "\(what): expected an IPv4 address (a.b.c.d)")
        }
        return a.rawValue
    }

    /// `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/m.m.m.m`.
    func maskedIPv4(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> (UInt32, UInt32) {
        guard let slash = find(UInt8(ascii: "/"), in: r) else { return (try ipv4(r, what), ~0) }
        let addr = try ipv4(r.lowerBound..<slash, what)
        let m = slash + 1..<r.upperBound
        if find(UInt8(ascii: "."), in: m) != nil { return (addr, try ipv4(m, what + " mask")) }
        let len = try number(m, what + " prefix length", max: 32)
        return (addr, len == 0 ? 0 : ~UInt32(0) << UInt32(32 - len))
    }

    func ipv6(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> (UInt64, UInt64) {
        guard let a = IPv6Address(string(r)) else {
            throw fail(r.lowerBound, "\(what): expected an IPv6 address")
        }
        return (a.high, a.low)
    }

    /// An IPv6 address with an optional `/len` or `/mask`: (high, low, maskHigh, maskLow).
    func maskedIPv6(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> (UInt64, UInt64, UInt64, UInt64) {
        guard let slash = find(UInt8(ascii: "/"), in: r) else {
            let (h, l) = try ipv6(r, what)
            return (h, l, ~0, ~0)
        }
        let (h, l) = try ipv6(r.lowerBound..<slash, what)
        let m = slash + 1..<r.upperBound
        if find(UInt8(ascii: ":"), in: m) != nil {
            let (mh, ml) = try ipv6(m, what + " mask")
            return (h, l, mh, ml)
        }
        let len = Int(try number(m, what + " prefix length", max: 128))
        let mh: UInt64 = len == 0 ? 0 : len >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - len)
        let ml: UInt64 = len <= 64 ? 0 : len == 128 ? ~0 : ~UInt64(0) << UInt64(128 - len)
        return (h, l, mh, ml)
    }

    /// A port number or a reserved name (`LOCAL`, `IN_PORT`, …).
    func port(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> UInt16 {
        if let p = OpenFlowPort.named(string(r)) { return p }
        guard !r.isEmpty, bytes[r.lowerBound] >= UInt8(ascii: "0"), bytes[r.lowerBound] <= UInt8(ascii: "9") else {
            throw fail(r.lowerBound, "\(what): expected a port number or LOCAL, IN_PORT, NORMAL, FLOOD, ALL, CONTROLLER")
        }
        return UInt16(try number(r, what, max: 0xffff))
    }

    /// A value of `field` in its text format, as (high, low) 64-bit halves.
    func fieldValue(_ field: FlowField, _ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> (UInt64, UInt64) {
        switch field.format {
        case .ethernet: return (0, try mac(r, what))
        case .ipv4: return (0, UInt64(try ipv4(r, what)))
        case .ipv6: return try ipv6(r, what)
        case .port: return (0, UInt64(try port(r, what)))
        default:
            let maxValue = field.bits >= 64 ? UInt64.max : (1 << UInt64(field.bits)) - 1
            return (0, try number(r, what, max: maxValue))
        }
    }

    /// A subfield reference: `NAME[]`, `NAME[a..b]`, `NAME[n]`, or a bare field name
    /// (the whole field). NAME is an NXM/OXM name or an OVS field name.
    func subfield(_ r: Range<Int>, _ what: String) throws(FlowSyntaxError) -> FlowSubfield {
        let expected = "\(what): expected a field reference like NXM_NX_REG0[] or NXM_NX_REG6[0..15]"
        let open = find(UInt8(ascii: "["), in: r) ?? r.upperBound
        let name = string(r.lowerBound..<open)
        guard let field = FlowField.nxmNamed(name) ?? FlowField.named(name) else {
            throw fail(r.lowerBound, name.isEmpty ? expected : "\(what): unknown field \(name)")
        }
        if open == r.upperBound { return FlowSubfield(field) }
        guard bytes[r.upperBound - 1] == UInt8(ascii: "]") else { throw fail(open, expected) }
        let inner = open + 1..<r.upperBound - 1
        if inner.isEmpty { return FlowSubfield(field) }
        var lo: Int, hi: Int
        if let dots = findDots(in: inner) {
            lo = Int(try number(inner.lowerBound..<dots, what + " start bit", max: 127))
            hi = Int(try number(dots + 2..<inner.upperBound, what + " end bit", max: 127))
        } else {
            lo = Int(try number(inner, what + " bit", max: 127))
            hi = lo
        }
        if hi < lo { throw fail(inner.lowerBound, "\(what): bit range \(lo)..\(hi) is reversed") }
        if hi >= field.bits {
            throw fail(inner.lowerBound, "\(what): bit \(hi) is past the end of \(name) (\(field.bits) bits)")
        }
        return FlowSubfield(field, offset: lo, bits: hi - lo + 1)
    }

    func findDots(in r: Range<Int>) -> Int? {
        var i = r.lowerBound
        while i + 1 < r.upperBound {
            if bytes[i] == UInt8(ascii: ".") && bytes[i + 1] == UInt8(ascii: ".") { return i }
            i += 1
        }
        return nil
    }

    /// `+new-est`, `new|trk`, `0x21/0x21` or `0x21` flag syntax (OVS's `parse_flags`).
    func flags(_ r: Range<Int>, _ what: String, names: [String], allowed: UInt32) throws(FlowSyntaxError) -> (UInt32, UInt32) {
        guard !r.isEmpty else { throw fail(r.lowerBound, "\(what): expected flags") }
        let first = bytes[r.lowerBound]
        if first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") {
            let (v, m) = try maskedNumber(r, what, full: UInt64(allowed))
            return (UInt32(v), UInt32(m))
        }
        func bit(_ nr: Range<Int>) throws(FlowSyntaxError) -> UInt32 {
            let n = string(nr)
            guard let i = names.firstIndex(of: n) else {
                throw fail(nr.lowerBound, "\(what): unknown flag \"\(n)\" (expected \(names.joined(separator: ", ")))")
            }
            return 1 << UInt32(i)
        }
        if first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            var value: UInt32 = 0, mask: UInt32 = 0
            var i = r.lowerBound
            while i < r.upperBound {
                let set = bytes[i] == UInt8(ascii: "+")
                guard set || bytes[i] == UInt8(ascii: "-") else {
                    throw fail(i, "\(what): each flag must be preceded by '+' (set) or '-' (not set)")
                }
                var j = i + 1
                while j < r.upperBound && bytes[j] != UInt8(ascii: "+") && bytes[j] != UInt8(ascii: "-") { j += 1 }
                let b = try bit(i + 1..<j)
                if mask & b != 0 { throw fail(i, "\(what): each flag can be given only once") }
                mask |= b
                if set { value |= b }
                i = j
            }
            return (value, mask)
        }
        var value: UInt32 = 0
        var start = r.lowerBound
        for i in r.lowerBound...r.upperBound where i == r.upperBound || bytes[i] == UInt8(ascii: "|") {
            value |= try bit(start..<i)
            start = i + 1
        }
        return (value, allowed)
    }

    static let ctStateNames = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"]
    static let tcpFlagNames = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]"]

    // MARK: The flow

    mutating func parseFlow(selector: Bool) throws(FlowSyntaxError) {
        // Find "actions=" at the start of an item.
        var actionsAt: Int? = nil
        let key = Array("actions=".utf8)
        var i = 0
        while i + key.count <= bytes.count {
            if (i == 0 || bytes[i - 1] == UInt8(ascii: ",") || Self.isSpace(bytes[i - 1]))
                && bytes[i..<i + key.count].elementsEqual(key) {
                actionsAt = i
                break
            }
            i += 1
        }
        let matchEnd = actionsAt ?? bytes.count
        try parseMatch(0..<matchEnd, selector: selector)
        if let a = actionsAt {
            actionsGiven = true
            rule.actions = try parseActionList(a + key.count..<bytes.count, nested: false)
            if rule.match.conjunctionID != 0, rule.actions.contains(where: \.isConjunction) {
                throw fail(a, "conjunction: a flow matching conj_id cannot be part of a conjunction")
            }
        } else if !selector {
            throw fail(bytes.count, "expected actions=... (add-flow needs an action list; actions=drop for none)")
        }
    }

    mutating func parseMatch(_ r: Range<Int>, selector: Bool) throws(FlowSyntaxError) {
        var i = r.lowerBound
        while i < r.upperBound {
            let c = bytes[i]
            if c == UInt8(ascii: ",") || Self.isSpace(c) { i += 1; continue }
            var j = i
            while j < r.upperBound && bytes[j] != UInt8(ascii: ",") && !Self.isSpace(bytes[j]) { j += 1 }
            try parseMatchItem(i..<j, selector: selector)
            i = j
        }
        for (need, name, offset) in prerequisites where !need.isMet(by: rule.match) {
            throw fail(offset, "\(name): prerequisites not met: \(need.explanation)")
        }
    }

    mutating func parseMatchItem(_ item: Range<Int>, selector: Bool) throws(FlowSyntaxError) {
        let eq = find(UInt8(ascii: "="), in: item)
        let key = string(item.lowerBound..<(eq ?? item.upperBound))
        let v = (eq.map { $0 + 1 } ?? item.upperBound)..<item.upperBound

        // Protocol shorthands take no value.
        let shorthand: (UInt16, UInt8?)? = switch key {
        case "ip", "ipv4": (0x0800, nil)
        case "icmp": (0x0800, 1)
        case "igmp": (0x0800, 2)
        case "tcp": (0x0800, 6)
        case "udp": (0x0800, 17)
        case "sctp": (0x0800, 132)
        case "ipv6": (0x86dd, nil)
        case "tcp6": (0x86dd, 6)
        case "udp6": (0x86dd, 17)
        case "sctp6": (0x86dd, 132)
        case "icmp6": (0x86dd, 58)
        case "arp": (0x0806, nil)
        case "rarp": (0x8035, nil)
        default: nil
        }
        if let (type, proto) = shorthand {
            if eq != nil { throw fail(item.lowerBound, "\(key): takes no value") }
            rule.match.set(.ethType, UInt64(type))
            if let p = proto { rule.match.set(.ipProto, UInt64(p)) }
            return
        }
        guard eq != nil else {
            if FlowField.named(key) != nil || Self.valueKeys.contains(key) {
                throw fail(item.upperBound, "\(key): expected a value (\(key)=...)")
            }
            throw fail(item.lowerBound, "unknown field \"\(key)\"")
        }
        guard !v.isEmpty else { throw fail(v.lowerBound, "\(key): expected a value after '='") }
        let at = item.lowerBound
        func need(_ p: MatchPrerequisite) { prerequisites.append((p, key, at)) }

        switch key {
        case "table":
            rule.table = UInt8(try number(v, key, max: 254))
            tableGiven = true
        case "priority":
            rule.priority = UInt16(try number(v, key, max: 0xffff))
            priorityGiven = true
        case "cookie":
            let (c, m) = try maskedNumber(v, key, full: .max)
            if m != .max && !selector {
                throw fail(v.lowerBound, "cookie: a mask is allowed only in del-flows and mod-flows")
            }
            rule.cookie = c
            cookieMask = m
        case "idle_timeout": rule.idleTimeout = UInt16(try number(v, key, max: 0xffff))
        case "hard_timeout": rule.hardTimeout = UInt16(try number(v, key, max: 0xffff))
        case "out_port":
            guard selector else { throw fail(at, "out_port: allowed only in del-flows and mod-flows") }
            outPort = try port(v, key)
        case "duration", "n_packets", "n_bytes", "idle_age", "hard_age":
            break  // statistics from dump-flows output: accepted and ignored
        case "in_port":
            rule.match.set(.inPort, UInt64(try port(v, key)))
        case "dl_src", "eth_src":
            let (a, m) = try maskedMAC(v, key)
            rule.match.set(.ethSrc, a, mask: m)
        case "dl_dst", "eth_dst":
            let (a, m) = try maskedMAC(v, key)
            rule.match.set(.ethDst, a, mask: m)
        case "dl_type", "eth_type":
            rule.match.set(.ethType, try number(v, key, max: 0xffff))
        case "dl_vlan":
            let vid = try number(v, key, max: 0xffff)
            if vid == 0xffff {
                rule.match.set(.vlanTCI, 0)  // no 802.1Q header: vlan_tci=0x0000
            } else {
                guard vid <= 0xfff else { throw fail(v.lowerBound, "dl_vlan: expected 0…4095 or 0xffff (no tag)") }
                let tci = UInt64(rule.match.value.vlanTCI) & 0xe000 | 0x1000 | vid
                let mask = UInt64(rule.match.mask.vlanTCI) | 0x1fff
                rule.match.set(.vlanTCI, tci, mask: mask)
            }
        case "dl_vlan_pcp":
            let pcp = try number(v, key, max: 7)
            let tci = UInt64(rule.match.value.vlanTCI) & 0x0fff | 0x1000 | pcp << 13
            let mask = UInt64(rule.match.mask.vlanTCI) | 0xf000
            rule.match.set(.vlanTCI, tci, mask: mask)
        case "vlan_tci":
            let (t, m) = try maskedNumber(v, key, full: 0xffff)
            rule.match.set(.vlanTCI, t, mask: m)
        case "nw_src", "ip_src", "nw_dst", "ip_dst", "arp_spa", "arp_tpa":
            let (a, m) = try maskedIPv4(v, key)
            let src = key.hasSuffix("src") || key == "arp_spa"
            rule.match.set(src ? .ipv4Src : .ipv4Dst, UInt64(a), mask: UInt64(m))
            need(key.hasPrefix("arp") ? .arp : .ipv4OrARP)
        case "nw_proto", "ip_proto":
            rule.match.set(.ipProto, try number(v, key, max: 0xff))
            need(.ipAnyOrARP)
        case "arp_op":
            rule.match.set(.arpOp, try number(v, key, max: 0xff))
            need(.arp)
        case "nw_ttl":
            rule.match.set(.ipTTL, try number(v, key, max: 0xff))
            need(.ipAny)
        case "nw_tos":
            let tos = try number(v, key, max: 0xff)
            if tos & 3 != 0 { throw fail(v.lowerBound, "nw_tos: \(tos) is not a valid TOS (the low 2 bits are ECN and must be 0)") }
            rule.match.set(.ipDSCP, tos, mask: 0xfc | UInt64(rule.match.mask.nwTOS & 3))
            need(.ipAny)
        case "ip_dscp":
            rule.match.set(.ipDSCPShifted, try number(v, key, max: 63))
            need(.ipAny)
        case "nw_ecn", "ip_ecn":
            rule.match.set(.ipECN, try number(v, key, max: 3))
            need(.ipAny)
        case "tp_src", "tp_dst", "tcp_src", "tcp_dst", "udp_src", "udp_dst", "sctp_src", "sctp_dst":
            let (p, m) = try maskedNumber(v, key, full: 0xffff)
            rule.match.set(key.hasSuffix("src") ? .tcpSrc : .tcpDst, p, mask: m)
            need(key.hasPrefix("tp") ? .transport : key.hasPrefix("tcp") ? .tcp : key.hasPrefix("udp") ? .udp : .sctp)
        case "icmp_type", "icmp_code", "icmpv6_type", "icmpv6_code":
            // Kept in tp_src/tp_dst with a 16-bit mask, as OVS does.
            rule.match.set(key.hasSuffix("type") ? .tcpSrc : .tcpDst, try number(v, key, max: 0xff))
            need(key.hasPrefix("icmpv6") ? .icmpv6 : .icmpAny)
        case "tcp_flags":
            let (f, m) = try flags(v, key, names: Self.tcpFlagNames, allowed: 0x0fff)
            rule.match.set(.tcpFlags, UInt64(f), mask: UInt64(m))
            need(.tcp)
        case "arp_sha", "arp_tha":
            let (a, m) = try maskedMAC(v, key)
            rule.match.set(key == "arp_sha" ? .arpSHA : .arpTHA, a, mask: m)
            need(.arp)
        case "ipv6_src", "ipv6_dst":
            let (h, l, mh, ml) = try maskedIPv6(v, key)
            rule.match.set(key == "ipv6_src" ? .ipv6Src : .ipv6Dst, high: h, low: l, maskHigh: mh, maskLow: ml)
            need(.ipv6)
        case "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7":
            let (r, m) = try maskedNumber(v, key, full: 0xffff_ffff)
            rule.match.set(FlowField.named(key)!, r, mask: m)
        case "metadata":
            let (d, m) = try maskedNumber(v, key, full: .max)
            if d >> 32 != 0 || (m >> 32 != 0 && m != .max) {
                throw fail(v.lowerBound, "metadata: only the low 32 bits are supported")
            }
            rule.match.set(.metadata, d, mask: m)
        case "tun_id", "tunnel_id":
            let (t, m) = try maskedNumber(v, key, full: .max)
            rule.match.set(.tunID, t, mask: m)
        case "ct_state":
            let (s, m) = try flags(v, key, names: Self.ctStateNames, allowed: 0xff)
            rule.match.set(.ctState, UInt64(s), mask: UInt64(m))
        case "ct_zone":
            let (z, m) = try maskedNumber(v, key, full: 0xffff)
            rule.match.set(.ctZone, z, mask: m)
        case "ct_mark":
            let (c, m) = try maskedNumber(v, key, full: 0xffff_ffff)
            rule.match.set(.ctMark, c, mask: m)
        case "conj_id":
            let id = try number(v, key, max: 0xffff_ffff)
            // A packet's conjunction id is 0 until a conjunctive match sets it, so
            // `conj_id=0` would match every packet that no conjunction matched.
            guard id != 0 else { throw fail(v.lowerBound, "conj_id: 0 is no conjunction's id (expected 1…4294967295)") }
            rule.match.conjunctionID = UInt32(id)
        default:
            throw fail(item.lowerBound, "unknown field \"\(key)\"")
        }
    }

    static let valueKeys: Set<String> = [
        "table", "priority", "cookie", "idle_timeout", "hard_timeout", "out_port", "in_port", "dl_vlan",
        "dl_vlan_pcp", "tp_src", "tp_dst", "icmp_type", "icmp_code", "conj_id", "duration", "n_packets", "n_bytes", "idle_age",
    ]
}
