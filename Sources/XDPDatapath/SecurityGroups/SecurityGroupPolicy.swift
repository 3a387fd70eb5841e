/// The same decisions as the compiled flows, asked of a tracked connection: would the
/// rules allow its first packet? Used when the rules change, to cut the connections the
/// new rules no longer allow (their conntrack entries are removed, so the next packet
/// is judged by the new rules: a mid-stream TCP segment without an entry is +inv and
/// dropped; a UDP or ICMP packet is +new and meets the rules).
///
/// Zones are per filtered port (its OpenFlow number, SecurityGroupCompiler.swift). A
/// connection in port P's zone from address S to D must be allowed by the egress rules
/// of every filtered port of P's network that owns S, and by the ingress rules of every
/// filtered port of P's network that owns D — so both zones' copies of a connection
/// between two local ports are cut when either side's rules stop allowing it. Zones
/// that are no filtered port's, and endpoints that are no filtered port, put no
/// condition.
public struct SecurityGroupPolicy: Sendable {
    let configuration: SecurityGroupConfiguration
    /// Filtered ports with their OpenFlow number (their zone) and network (local VLAN).
    let ports: [(port: SecurityPort, zone: UInt16, network: UInt16)]

    /// The policy of `configuration` on a bridge with `bridgePorts`; ports with port security
    /// off put no condition.
    public init(configuration: SecurityGroupConfiguration, bridgePorts: [FirewallBridgePort]) {
        self.configuration = configuration
        var ports: [(SecurityPort, UInt16, UInt16)] = []
        for p in configuration.ports where p.portSecurityEnabled {
            guard let bp = bridgePorts.first(where: { $0.name == p.name }) else { continue }
            ports.append((p, UInt16(truncatingIfNeeded: bp.ofport), bp.tag))
        }
        self.ports = ports
    }

    /// Whether the rules allow the connection whose original direction is `key`.
    public func allows(_ key: ConntrackKey) -> Bool {
        guard let owner = ports.first(where: { $0.zone == key.zone }) else { return true }
        for (port, _, network) in ports where network == owner.network {
            let owned = port.allowedSources.map(\.prefix)
            if owned.contains(where: { $0.contains(family: key.family, hi: key.srcHi, lo: key.srcLo) }),
               !rulesAllow(port, direction: .egress, key) {
                return false
            }
            if owned.contains(where: { $0.contains(family: key.family, hi: key.dstHi, lo: key.dstLo) }),
               !rulesAllow(port, direction: .ingress, key) {
                return false
            }
        }
        return true
    }

    func rulesAllow(_ port: SecurityPort, direction: SecurityGroupRule.Direction, _ key: ConntrackKey) -> Bool {
        for id in port.securityGroups {
            guard let group = configuration.group(id) else { continue }
            for rule in group.rules where rule.direction == direction && matches(rule, direction: direction, key) {
                return true
            }
        }
        return false
    }

    func matches(_ rule: SecurityGroupRule, direction: SecurityGroupRule.Direction, _ key: ConntrackKey) -> Bool {
        guard rule.ethertype.family == key.family else { return false }
        if let p = rule.ipProtocol, p != key.proto { return false }
        if let lo = rule.portRangeMin {
            if rule.isICMP {
                guard key.isICMP, Int(key.icmpType) == lo else { return false }
                if let code = rule.portRangeMax, Int(key.icmpCode) != code { return false }
            } else if [6, 17, 132].contains(rule.ipProtocol), let hi = rule.portRangeMax {
                guard key.hasPorts, (lo...hi).contains(Int(key.destinationPort)) else { return false }
            }
        }
        let (hi, lo) = direction == .egress ? (key.dstHi, key.dstLo) : (key.srcHi, key.srcLo)
        if let g = rule.remoteGroupID {
            return configuration.members(of: g, family: key.family).contains { $0.contains(family: key.family, hi: hi, lo: lo) }
        }
        if let p = rule.remoteIPPrefix { return p.contains(family: key.family, hi: hi, lo: lo) }
        return true
    }
}
