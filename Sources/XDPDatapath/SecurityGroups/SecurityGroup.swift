import XDPPacket

/// A Neutron security group: a named list of allow rules. Traffic a port's groups do
/// not allow is dropped (docs/security-groups.md).
public struct SecurityGroup: Sendable, Equatable {
    /// Unique id; other rules name the group by it (`remote_group_id`) and ports list it.
    public var id: String
    /// Free text (Neutron's `name`); the id when not given.
    public var name: String
    /// The allow rules, in no particular order: a packet passes when any rule of any of its port's groups allows it.
    public var rules: [SecurityGroupRule]
    /// Addresses of the group's members that are not bound on this bridge (ports on other
    /// hosts, Neutron's `remote_group_id` members): with the bound ports' own addresses,
    /// what a rule naming the group as its remote group admits.
    public var members: [AddressPrefix]

    /// A group with `rules`; `name` nil takes the id.
    public init(id: String, name: String? = nil, rules: [SecurityGroupRule] = [], members: [AddressPrefix] = []) {
        self.id = id
        self.name = name ?? id
        self.rules = rules
        self.members = members
    }
}

/// One allow rule of a security group, with Neutron's fields.
///
/// `portRangeMin`/`portRangeMax` are the destination port range for TCP, UDP, SCTP,
/// DCCP and UDP-Lite, and the ICMP type and code for ICMP / ICMPv6 (as in Neutron).
/// `remoteIPPrefix` and `remoteGroupID` say who the other end is (the source of ingress
/// traffic, the destination of egress traffic); nil for both means anyone.
public struct SecurityGroupRule: Sendable, Hashable, CustomStringConvertible {
    /// Which way the traffic a rule allows flows, seen from the port (Neutron's `direction`).
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        /// `ingress`: into the port (to the VM); `egress`: out of it (from the VM).
        case ingress, egress
    }

    /// The IP version a rule applies to, spelt as Neutron's `ethertype` field.
    public enum EtherType: String, Sendable, Hashable, CaseIterable {
        /// IPv4 traffic.
        case ipv4 = "IPv4"
        /// IPv6 traffic.
        case ipv6 = "IPv6"

        /// The IP version as a number: 4 or 6.
        public var family: UInt8 { self == .ipv4 ? 4 : 6 }
    }

    /// Optional id, only for messages.
    public var id: String?
    /// Whether the rule allows traffic into or out of the port.
    public var direction: Direction
    /// The IP version the rule applies to.
    public var ethertype: EtherType
    /// IP protocol number; nil: any protocol. ICMP in an IPv6 rule is 58 (ICMPv6).
    public var ipProtocol: UInt8?
    /// First destination port (or the ICMP type); nil: any.
    public var portRangeMin: Int?
    /// Last destination port (or the ICMP code; nil: any code). Ports need both ends, 1...65535.
    public var portRangeMax: Int?
    /// The addresses of the other end (source for ingress, destination for egress); nil: any.
    public var remoteIPPrefix: AddressPrefix?
    /// The group whose members are the other end (Neutron's `remote_group_id`); nil: any.
    public var remoteGroupID: String?

    /// A rule with the protocol given by number (nil: any). Values are taken as given;
    /// `SecurityGroupConfiguration.validate()` checks them.
    public init(id: String? = nil, direction: Direction, ethertype: EtherType = .ipv4, ipProtocol: UInt8? = nil,
                portRangeMin: Int? = nil, portRangeMax: Int? = nil, remoteIPPrefix: AddressPrefix? = nil,
                remoteGroupID: String? = nil) {
        self.id = id
        self.direction = direction
        self.ethertype = ethertype
        self.ipProtocol = ipProtocol
        self.portRangeMin = portRangeMin
        self.portRangeMax = portRangeMax
        self.remoteIPPrefix = remoteIPPrefix
        self.remoteGroupID = remoteGroupID
    }

    /// A rule with the protocol given by name (`tcp`, `udp`, `icmp`, `icmpv6`, …),
    /// number (`"6"`) or `any`, as Neutron accepts it. `icmp` in an IPv6 rule means
    /// ICMPv6. Returns nil for an unknown name.
    public init?(direction: Direction, ethertype: EtherType = .ipv4, protocol name: String?, portRangeMin: Int? = nil,
                 portRangeMax: Int? = nil, remoteIPPrefix: AddressPrefix? = nil, remoteGroupID: String? = nil) {
        var number: UInt8?
        if let name {
            guard let n = SecurityGroupRule.protocolNumber(name) else { return nil }
            number = n
        }
        if ethertype == .ipv6 && number == 1 { number = 58 }
        self.init(direction: direction, ethertype: ethertype, ipProtocol: number, portRangeMin: portRangeMin,
                  portRangeMax: portRangeMax, remoteIPPrefix: remoteIPPrefix, remoteGroupID: remoteGroupID)
    }

    /// Neutron's protocol names (neutron-lib `IP_PROTOCOL_MAP`) and numbers 0-255;
    /// nil for `any`/empty means "any" and is returned as nil too — callers check the
    /// text first. Returns nil for unknown names.
    public static func protocolNumber(_ text: String) -> UInt8? {
        if let n = UInt8(text) { return n }
        return protocolNames[text.lowercased()]
    }

    /// Whether `text` means "any protocol" (`any`, empty, `null`).
    public static func isAnyProtocol(_ text: String) -> Bool {
        ["any", "", "null"].contains(text.lowercased())
    }

    static let protocolNames: [String: UInt8] = [
        "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6-encap": 41,
        "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58,
        "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "pgm": 113, "vrrp": 112, "l2tp": 115, "sctp": 132,
        "udplite": 136, "dccp": 33,
    ]

    /// True for the protocols whose port range is a transport port range.
    public var hasTransportPorts: Bool {
        switch ipProtocol {
        case 6, 17, 33, 132, 136: true
        default: false
        }
    }

    /// True for ICMP in an IPv4 rule and ICMPv6 in an IPv6 rule.
    public var isICMP: Bool { ipProtocol == (ethertype == .ipv4 ? 1 : 58) }

    /// One line for messages: `ingress IPv4 proto 6 22-22 remote 10.0.0.0/8 group web`.
    public var description: String {
        var s = "\(direction.rawValue) \(ethertype.rawValue)"
        if let p = ipProtocol { s += " proto \(p)" }
        if let lo = portRangeMin { s += " \(lo)" + (portRangeMax.map { "-\($0)" } ?? "") }
        if let r = remoteIPPrefix { s += " remote \(r)" }
        if let g = remoteGroupID { s += " group \(g)" }
        return s
    }
}

/// An IPv4 or IPv6 prefix (`10.1.0.0/24`, `fd00::/64`; a bare address is a host
/// prefix). Host bits are cleared.
public enum AddressPrefix: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 prefix.
    case v4(IPv4Prefix)
    /// An IPv6 address, host bits cleared, and its prefix length (0...128).
    case v6(IPv6Address, length: Int)

    /// Parses `ADDRESS[/LEN]`, IPv4 or IPv6.
    public init?(_ text: some StringProtocol) {
        if let p = IPv4Prefix(text) { self = .v4(p); return }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPv6Address(parts[0]) else { return nil }
        var length = 128
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), (0...128).contains(n) else { return nil }
            length = n
        }
        self.init(address, length: length)
    }

    /// The host prefix of an IPv4 address (`/32`).
    public init(_ address: IPv4Address) { self = .v4(IPv4Prefix(address, length: 32)!) }

    /// The IPv6 prefix of `length` bits (0...128) containing `address`; host bits are cleared.
    public init(_ address: IPv6Address, length: Int = 128) {
        let (hi, lo) = AddressPrefix.mask6(length)
        self = .v6(IPv6Address(high: address.high & hi, low: address.low & lo), length: length)
    }

    static func mask6(_ length: Int) -> (UInt64, UInt64) {
        let hi: UInt64 = length <= 0 ? 0 : length >= 64 ? .max : UInt64.max << UInt64(64 - length)
        let lo: UInt64 = length <= 64 ? 0 : length >= 128 ? .max : UInt64.max << UInt64(128 - length)
        return (hi, lo)
    }

    /// 4 or 6.
    public var family: UInt8 {
        if case .v4 = self { return 4 }
        return 6
    }

    /// The prefix length in bits (0...32 for IPv4, 0...128 for IPv6).
    public var length: Int {
        switch self {
        case .v4(let p): p.length
        case .v6(_, let n): n
        }
    }

    /// Whether the address `(hi, lo)` of `family` (IPv4 in `lo`, as `ConntrackKey`
    /// holds it) is inside the prefix.
    public func contains(family f: UInt8, hi: UInt64, lo: UInt64) -> Bool {
        switch self {
        case .v4(let p):
            return f == 4 && hi == 0 && p.contains(IPv4Address(rawValue: UInt32(truncatingIfNeeded: lo)))
        case .v6(let a, let n):
            let (mh, ml) = AddressPrefix.mask6(n)
            return f == 6 && hi & mh == a.high && lo & ml == a.low
        }
    }

    /// Whether `other` lies inside this prefix (every address of it).
    public func covers(_ other: AddressPrefix) -> Bool {
        guard other.family == family, other.length >= length else { return false }
        switch other {
        case .v4(let p): return contains(family: 4, hi: 0, lo: UInt64(p.address.rawValue))
        case .v6(let a, _): return contains(family: 6, hi: a.high, lo: a.low)
        }
    }

    /// The prefix in flow syntax: `a.b.c.d` / `a.b.c.d/len`, IPv6 likewise.
    public var flowText: String {
        switch self {
        case .v4(let p): p.length == 32 ? "\(p.address)" : "\(p.address)/\(p.length)"
        case .v6(let a, let n): n == 128 ? "\(a)" : "\(a)/\(n)"
        }
    }

    /// `ADDRESS/LEN` always, even for a host prefix (`10.0.0.1/32`).
    public var description: String {
        switch self {
        case .v4(let p): "\(p.address)/\(p.length)"
        case .v6(let a, let n): "\(a)/\(n)"
        }
    }
}
