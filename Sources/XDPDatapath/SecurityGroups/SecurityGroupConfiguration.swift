import XDPPacket

/// Everything the firewall of one bridge needs: the security groups and the ports they
/// are bound to. A value: build it, change it (`upsert`, `bind`, …) and hand the whole
/// thing to `Datapath.applySecurityGroups(_:now:)`, which compiles it to flows and
/// swaps them in at once (docs/security-groups.md).
public struct SecurityGroupConfiguration: Sendable, Equatable {
    /// The bridge the VM ports are on (Neutron's integration bridge).
    public var bridge: String
    /// The security groups, each with its rules; ids must be unique (`validate()` refuses duplicates).
    public var groups: [SecurityGroup]
    /// The bindings of the bridge's VM ports, one per port name.
    public var ports: [SecurityPort]

    /// A configuration as given; `validate()` checks it (and the compiler does before compiling).
    public init(bridge: String = "br-int", groups: [SecurityGroup] = [], ports: [SecurityPort] = []) {
        self.bridge = bridge
        self.groups = groups
        self.ports = ports
    }

    /// The group with `id`.
    public func group(_ id: String) -> SecurityGroup? { groups.first { $0.id == id } }

    /// The binding of bridge port `name`.
    public func port(_ name: String) -> SecurityPort? { ports.first { $0.name == name } }

    /// Adds `group`, or replaces the group with its id.
    public mutating func upsert(_ group: SecurityGroup) {
        if let i = groups.firstIndex(where: { $0.id == group.id }) { groups[i] = group } else { groups.append(group) }
    }

    /// Removes the group `id` (ports keep naming it until they are rebound; `validate`
    /// refuses that).
    public mutating func removeGroup(_ id: String) { groups.removeAll { $0.id == id } }

    /// Binds `port` (replacing an earlier binding of the same bridge port).
    public mutating func bind(_ port: SecurityPort) {
        if let i = ports.firstIndex(where: { $0.name == port.name }) { ports[i] = port } else { ports.append(port) }
    }

    /// Removes the binding of bridge port `name`: it is no longer filtered.
    public mutating func unbind(_ name: String) { ports.removeAll { $0.name == name } }

    /// The addresses `remote_group_id` = `groupID` stands for: every address of every
    /// bound port with port security that is in the group, then the group's `members`
    /// from elsewhere, of `family`, each once.
    public func members(of groupID: String, family: UInt8) -> [AddressPrefix] {
        var out: [AddressPrefix] = []
        var seen = Set<AddressPrefix>()
        for port in ports where port.portSecurityEnabled && port.securityGroups.contains(groupID) {
            for p in port.memberPrefixes where p.family == family && seen.insert(p).inserted { out.append(p) }
        }
        for p in group(groupID)?.members ?? [] where p.family == family && seen.insert(p).inserted { out.append(p) }
        return out
    }

    /// Checks ids, references and every rule's fields as Neutron's API does.
    public func validate() throws(DatapathConfigurationError) {
        var ids = Set<String>()
        for group in groups {
            guard !group.id.isEmpty else { throw DatapathConfigurationError(subject: "security group", key: "id", message: "a group needs an id") }
            guard ids.insert(group.id).inserted else {
                throw DatapathConfigurationError(subject: group.id, key: "id", message: "duplicate security group id")
            }
        }
        for group in groups {
            for (n, rule) in group.rules.enumerated() {
                try validate(rule, subject: "\(group.id)", key: "rules[\(n)]")
            }
        }
        var names = Set<String>()
        for port in ports {
            guard names.insert(port.name).inserted else {
                throw DatapathConfigurationError(subject: port.name, key: "name", message: "port bound twice")
            }
            for g in port.securityGroups where !ids.contains(g) {
                throw DatapathConfigurationError(subject: port.name, key: "security_groups", message: "no security group \(g)")
            }
            if port.portSecurityEnabled && port.mac.isMulticast {
                throw DatapathConfigurationError(subject: port.name, key: "mac_address", message: "\(port.mac) is a multicast address")
            }
            if !port.portSecurityEnabled && (!port.securityGroups.isEmpty || !port.allowedAddressPairs.isEmpty) {
                // Neutron refuses both on a port without port security.
                throw DatapathConfigurationError(subject: port.name, key: "port_security_enabled",
                                         message: "a port without port security has no security groups or allowed address pairs")
            }
        }
    }

    private func validate(_ rule: SecurityGroupRule, subject: String, key: String) throws(DatapathConfigurationError) {
        func fail(_ message: String) -> DatapathConfigurationError { DatapathConfigurationError(subject: subject, key: key, message: message) }
        if rule.remoteIPPrefix != nil && rule.remoteGroupID != nil {
            throw fail("remote_ip_prefix and remote_group_id are mutually exclusive")
        }
        if let prefix = rule.remoteIPPrefix, prefix.family != rule.ethertype.family {
            throw fail("remote_ip_prefix \(prefix) does not match ethertype \(rule.ethertype.rawValue)")
        }
        if let g = rule.remoteGroupID, group(g) == nil { throw fail("remote_group_id: no security group \(g)") }
        if rule.ethertype == .ipv4 && rule.ipProtocol == 58 { throw fail("protocol icmpv6 needs ethertype IPv6") }
        let lo = rule.portRangeMin, hi = rule.portRangeMax
        if lo == nil && hi == nil { return }
        if rule.hasTransportPorts {
            guard let lo, let hi else { throw fail("port_range_min and port_range_max go together for this protocol") }
            guard (1...65535).contains(lo), (1...65535).contains(hi) else { throw fail("ports are 1-65535") }
            guard lo <= hi else { throw fail("port_range_min \(lo) is above port_range_max \(hi)") }
        } else if rule.isICMP {
            guard let lo else { throw fail("an ICMP code (port_range_max) needs a type (port_range_min)") }
            guard (0...255).contains(lo) else { throw fail("ICMP type \(lo) outside 0-255") }
            if let hi, !(0...255).contains(hi) { throw fail("ICMP code \(hi) outside 0-255") }
        } else {
            throw fail("port ranges need protocol tcp, udp, sctp, dccp, udplite, icmp or icmpv6")
        }
    }
}
