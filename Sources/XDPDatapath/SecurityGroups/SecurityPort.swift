import XDPPacket

/// A Neutron port bound to a port of the security-group bridge (br-int): the VM's
/// addresses and the groups that filter its traffic.
public struct SecurityPort: Sendable, Equatable {
    /// The bridge port the VM is plugged into (`qvo-…`, `tap…`).
    public var name: String
    /// The port's MAC (`mac_address`): the only source MAC allowed, besides the
    /// allowed address pairs' MACs.
    public var mac: MACAddress
    /// `fixed_ips`: the source addresses allowed (with `mac`).
    public var fixedIPs: [AddressPrefix]
    /// `allowed_address_pairs`: more source addresses (prefixes allowed), each with its
    /// own MAC or the port's.
    public var allowedAddressPairs: [AllowedAddressPair]
    /// `port_security_enabled`: false turns every check off for this port (no
    /// anti-spoofing, no groups).
    public var portSecurityEnabled: Bool
    /// Ids of the groups whose rules allow traffic (`security_groups`).
    public var securityGroups: [String]
    /// The network's DHCP servers: DHCP replies (UDP 67→68, 547→546) reach the VM only
    /// from these. Empty: from any address (as Neutron's OVS firewall).
    public var dhcpServers: [DHCPServer]

    /// A binding; by default with port security on, no groups (so nothing is allowed but
    /// DHCP, ARP and neighbour discovery) and DHCP replies from anyone.
    public init(name: String, mac: MACAddress, fixedIPs: [AddressPrefix] = [], allowedAddressPairs: [AllowedAddressPair] = [],
                portSecurityEnabled: Bool = true, securityGroups: [String] = [], dhcpServers: [DHCPServer] = []) {
        self.name = name
        self.mac = mac
        self.fixedIPs = fixedIPs
        self.allowedAddressPairs = allowedAddressPairs
        self.portSecurityEnabled = portSecurityEnabled
        self.securityGroups = securityGroups
        self.dhcpServers = dhcpServers
    }

    /// The MAC → source prefixes the port may send from: `mac` with the fixed IPs and
    /// the IPv6 link-local address of `mac`, each pair's MAC with its prefix.
    public var allowedSources: [(mac: MACAddress, prefix: AddressPrefix)] {
        var out: [(MACAddress, AddressPrefix)] = fixedIPs.map { (mac, $0) }
        var macs: [MACAddress] = [mac]
        for pair in allowedAddressPairs {
            let m = pair.mac ?? mac
            out.append((m, pair.prefix))
            if !macs.contains(m) { macs.append(m) }
        }
        // Neutron allows each MAC's EUI-64 link-local address (needed for neighbour
        // discovery and router solicitations).
        for m in macs { out.append((m, AddressPrefix(SecurityPort.linkLocal(m)))) }
        var seen = Set<String>()
        return out.filter { seen.insert("\($0.0)|\($0.1)").inserted }
    }

    /// Every MAC the port may use: its own, then the address pairs' others.
    public var macs: [MACAddress] {
        var out = [mac]
        for pair in allowedAddressPairs { if let m = pair.mac, !out.contains(m) { out.append(m) } }
        return out
    }

    /// The addresses others see the port by (fixed IPs and address pairs): what a
    /// `remote_group_id` naming one of its groups expands to.
    public var memberPrefixes: [AddressPrefix] {
        var out = fixedIPs
        for pair in allowedAddressPairs where !out.contains(pair.prefix) { out.append(pair.prefix) }
        return out
    }

    /// The EUI-64 link-local address of `mac` (RFC 4291 appendix A).
    public static func linkLocal(_ mac: MACAddress) -> IPv6Address {
        let m = mac.rawValue
        let upper = (m >> 24) ^ 0x02_0000   // flip the universal/local bit of the first byte
        let iid = upper << 40 | 0xFF_FE << 24 | (m & 0xFF_FFFF)
        return IPv6Address(high: 0xFE80_0000_0000_0000, low: iid)
    }
}

/// One of a port's `allowed_address_pairs`: a prefix and, optionally, another MAC.
public struct AllowedAddressPair: Sendable, Hashable {
    /// The additional source prefix (`ip_address`, a host or a whole prefix).
    public var prefix: AddressPrefix
    /// The MAC to send it from (`mac_address`); nil: the port's own.
    public var mac: MACAddress?

    /// A pair; `mac` nil means the port's MAC.
    public init(prefix: AddressPrefix, mac: MACAddress? = nil) {
        self.prefix = prefix
        self.mac = mac
    }
}

/// A network's DHCP server as a port's ingress filter sees it.
public struct DHCPServer: Sendable, Hashable {
    /// The server's address (IPv4 or IPv6, usually a host prefix): DHCP replies must come from it.
    public var address: AddressPrefix
    /// The server's MAC, when known: replies must also come from it. nil: any MAC.
    public var mac: MACAddress?

    /// A server; `mac` nil checks the address only.
    public init(address: AddressPrefix, mac: MACAddress? = nil) {
        self.address = address
        self.mac = mac
    }
}
