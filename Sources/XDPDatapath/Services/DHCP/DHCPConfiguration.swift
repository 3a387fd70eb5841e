import XDPPacket

/// What a `DHCPResponder` is built from: the reference design's `qdhcp-<network>` namespace (dnsmasq with
/// a hosts file of static leases) as data, one per Neutron network.
///
/// ```swift
/// let net1 = DHCPConfiguration(network: "net1", mac: MACAddress("fa:16:3e:00:00:03")!, subnets: [
///     .init(name: "subnet1", cidr: IPv4Prefix("10.1.0.0/24")!, serverAddress: IPv4Address(10, 1, 0, 3),
///           gateway: IPv4Address(10, 1, 0, 1), dnsServers: [IPv4Address(8, 8, 8, 8)]),
/// ], hosts: [.init(mac: MACAddress("fa:16:3e:aa:00:05")!, address: IPv4Address(10, 1, 0, 5))])
/// ```
///
/// The server has one MAC (its tap port's, `ns-…` in the namespace) and one address per
/// subnet (the DHCP port's fixed IP there). A host's subnet is the one holding its
/// address; the options it gets come from that subnet. Only hosts listed here are
/// answered, as dnsmasq with `--dhcp-hostsfile` and static ranges does in Neutron.
public struct DHCPConfiguration: Sendable, Equatable {
    /// A static route handed out in option 121 (RFC 3442) and 249 (Microsoft's copy).
    public struct HostRoute: Sendable, Equatable {
        /// The destinations.
        public var destination: IPv4Prefix
        /// The router; 0.0.0.0 means on-link (Neutron uses it for the other subnets of a network).
        public var nextHop: IPv4Address

        /// `destination via nextHop`.
        public init(destination: IPv4Prefix, nextHop: IPv4Address) {
            self.destination = destination
            self.nextHop = nextHop
        }
    }

    /// One IPv4 subnet of the network (Neutron's subnet attributes).
    public struct Subnet: Sendable, Equatable {
        /// The subnet's name or id; errors and stats carry it.
        public var name: String
        /// The subnet (`cidr`).
        public var cidr: IPv4Prefix
        /// The DHCP port's address in this subnet: the replies' source and server identifier (option 54).
        public var serverAddress: IPv4Address
        /// `gateway_ip`: option 3, and the default route in option 121 when there are host routes.
        public var gateway: IPv4Address?
        /// `dns_nameservers`: option 6 (at most 8).
        public var dnsServers: [IPv4Address]
        /// `host_routes`: options 121 and 249.
        public var hostRoutes: [HostRoute]
        /// `enable_dhcp`: hosts of a subnet without DHCP get no answer.
        public var enableDHCP: Bool

        /// A subnet; the server answers for its hosts unless `enableDHCP` is false.
        public init(name: String, cidr: IPv4Prefix, serverAddress: IPv4Address, gateway: IPv4Address? = nil,
                    dnsServers: [IPv4Address] = [], hostRoutes: [HostRoute] = [], enableDHCP: Bool = true) {
            self.name = name
            self.cidr = cidr
            self.serverAddress = serverAddress
            self.gateway = gateway
            self.dnsServers = dnsServers
            self.hostRoutes = hostRoutes
            self.enableDHCP = enableDHCP
        }
    }

    /// One port of the network: a static lease (a line of dnsmasq's hosts file).
    public struct Host: Sendable, Equatable {
        /// The port's MAC: DHCP requests are matched on `chaddr`.
        public var mac: MACAddress
        /// The port's fixed IP.
        public var address: IPv4Address
        /// Option 12. nil: `host-<address with dashes>` as Neutron writes in the hosts
        /// file (`host-10-1-0-5`); empty: no option 12.
        public var hostname: String?

        /// A static lease of `address` for `mac`.
        public init(mac: MACAddress, address: IPv4Address, hostname: String? = nil) {
            self.mac = mac
            self.address = address
            self.hostname = hostname
        }

        /// The hostname option 12 carries, nil for none.
        public var effectiveHostname: String? {
            if let hostname { return hostname.isEmpty ? nil : hostname }
            let o = address.octets
            return "host-\(o.0)-\(o.1)-\(o.2)-\(o.3)"
        }
    }

    /// The network's name or id (`qdhcp-<network>`); errors and stats carry it.
    public var network: String
    /// The DHCP port's MAC: the replies' source, the ARP answers' address.
    public var mac: MACAddress
    /// The network's IPv4 subnets (at most 16).
    public var subnets: [Subnet]
    /// The static leases.
    public var hosts: [Host]
    /// Option 15 (dnsmasq `--domain`, Neutron's `dns_domain`): `openstacklocal` by default; empty: none.
    public var domain: String
    /// Option 51 in seconds (Neutron's `dhcp_lease_duration`, 120 s in the reference design); T1 (58)
    /// is half of it and T2 (59) seven eighths. `UInt32.max`: infinite, without T1 and T2.
    public var leaseSeconds: UInt32
    /// Option 26, the network's MTU (68–65535); nil: not sent.
    public var mtu: Int?

    /// A network's DHCP service; see the type's documentation.
    public init(network: String, mac: MACAddress, subnets: [Subnet], hosts: [Host] = [],
                domain: String = "openstacklocal", leaseSeconds: UInt32 = 120, mtu: Int? = nil) {
        self.network = network
        self.mac = mac
        self.subnets = subnets
        self.hosts = hosts
        self.domain = domain
        self.leaseSeconds = leaseSeconds
        self.mtu = mtu
    }

    /// The index in `subnets` of the subnet holding `address`.
    public func subnetIndex(of address: IPv4Address) -> Int? {
        subnets.firstIndex { $0.cidr.contains(address) }
    }

    /// Checks every field and that each host's options fit a 576-byte reply.
    /// Errors name the network, the subnet or host, and the key.
    public func validate() throws(DatapathConfigurationError) {
        guard !network.isEmpty else { throw error(nil, "network", "a DHCP service needs a network name") }
        guard !mac.isMulticast, mac != .zero else { throw error(nil, "mac", "\(mac) is not a unicast MAC") }
        guard !subnets.isEmpty, subnets.count <= DHCPResponder.maximumSubnets else {
            throw error(nil, "subnets", "expected 1 to \(DHCPResponder.maximumSubnets) subnets, found \(subnets.count)")
        }
        guard domain.utf8.count <= 255 else { throw error(nil, "domain", "longer than 255 bytes") }
        guard leaseSeconds >= 1 else { throw error(nil, "lease_time", "must be at least 1 second") }
        if let mtu { guard (68...65535).contains(mtu) else { throw error(nil, "mtu", "expected 68 to 65535, found \(mtu)") } }
        for (i, subnet) in subnets.enumerated() {
            let subject = subnet.name.isEmpty ? "subnets[\(i)]" : subnet.name
            guard !subnet.name.isEmpty else { throw error(subject, "name", "a subnet needs a name") }
            guard !subnets[..<i].contains(where: { $0.name == subnet.name }) else {
                throw error(subject, "name", "two subnets are named \(subnet.name)")
            }
            guard (1...30).contains(subnet.cidr.length) else {
                throw error(subject, "cidr", "expected a prefix length of 1 to 30, found \(subnet.cidr)")
            }
            for other in subnets[..<i] where other.cidr.contains(subnet.cidr.address) || subnet.cidr.contains(other.cidr.address) {
                throw error(subject, "cidr", "\(subnet.cidr) overlaps \(other.cidr) of \(other.name)")
            }
            try checkHostAddress(subnet.serverAddress, in: subnet, subject: subject, key: "server_address")
            if let gateway = subnet.gateway {
                guard PathMTU.isUnicastHost(gateway.rawValue) else {
                    throw error(subject, "gateway", "\(gateway) is not a unicast host address")
                }
                guard gateway != subnet.serverAddress else {
                    throw error(subject, "gateway", "\(gateway) is the server's own address")
                }
            }
            guard subnet.dnsServers.count <= 8 else {
                throw error(subject, "dns_servers", "at most 8, found \(subnet.dnsServers.count)")
            }
            for dns in subnet.dnsServers where !PathMTU.isUnicastHost(dns.rawValue) {
                throw error(subject, "dns_servers", "\(dns) is not a unicast host address")
            }
            for (r, route) in subnet.hostRoutes.enumerated() {
                guard route.nextHop == .any || PathMTU.isUnicastHost(route.nextHop.rawValue) else {
                    throw error(subject, "host_routes[\(r)]", "next hop \(route.nextHop) is not a unicast host address")
                }
            }
            guard DHCPOptionBlock.classlessRoutes(subnet).count <= 255 else {
                throw error(subject, "host_routes", "\(subnet.hostRoutes.count) routes do not fit one option 121 (255 bytes)")
            }
        }
        var macs = Set<MACAddress>()
        var addresses = Set<IPv4Address>()
        for (i, host) in hosts.enumerated() {
            let subject = "hosts[\(i)] (\(host.mac))"
            guard !host.mac.isMulticast, host.mac != .zero else { throw error(subject, "mac", "\(host.mac) is not a unicast MAC") }
            guard macs.insert(host.mac).inserted else { throw error(subject, "mac", "\(host.mac) has another host already") }
            guard addresses.insert(host.address).inserted else {
                throw error(subject, "address", "\(host.address) is given to another host already")
            }
            guard let s = subnetIndex(of: host.address) else {
                throw error(subject, "address", "\(host.address) is in none of the network's subnets")
            }
            let subnet = subnets[s]
            try checkHostAddress(host.address, in: subnet, subject: subject, key: "address")
            guard host.address != subnet.serverAddress else {
                throw error(subject, "address", "\(host.address) is the DHCP server's address")
            }
            if let name = host.effectiveHostname {
                guard name.utf8.count <= 63 else { throw error(subject, "hostname", "longer than 63 bytes") }
            }
            let length = DHCPOptionBlock.build(configuration: self, subnet: s, host: host).bytes.count
            guard length <= DHCPResponder.optionBudget else {
                throw error(subject, "options", "the reply's options take \(length) bytes, more than the \(DHCPResponder.optionBudget) a 576-byte reply holds (fewer host routes or DNS servers, or a shorter domain)")
            }
        }
    }

    private func checkHostAddress(_ address: IPv4Address, in subnet: Subnet, subject: String, key: String) throws(DatapathConfigurationError) {
        guard PathMTU.isUnicastHost(address.rawValue), subnet.cidr.contains(address),
              address != subnet.cidr.address, address != subnet.cidr.broadcast else {
            throw error(subject, key, "\(address) is not a host address of \(subnet.cidr)")
        }
    }

    private func error(_ subject: String?, _ key: String, _ message: String) -> DatapathConfigurationError {
        DatapathConfigurationError(element: network.isEmpty ? "(unnamed)" : network, part: subject, key: key, message: message)
    }
}

