// The host view: what one node must know of the Neutron model to build its datapath,
// the document the node agent reads (docs/agent-protocol.md is its specification).
//
// It plays the part of the RPC messages Neutron's Open vSwitch, L3 and DHCP agents
// receive from the server (get_devices_details_list, l2population's fdb_add, the L3
// agent's router sync, the DHCP agent's network sync), folded into one document per host
// with a revision: a producer (the API server's per-host feed, or an ML2 mechanism driver
// inside a real Neutron) writes the whole desired state of the host each time; the agent
// compiles it (`NodeCompiler`) into the node's YAML configuration.
//
// The types mirror Neutron's resources with Neutron's field names in JSON (snake_case);
// every optional field has the default Neutron gives it. Decoding (`HostView.decode`) checks
// the format version first, then the shape; `HostView.validate()` checks the meaning
// (identifiers, addresses, ranges, references between objects). A view that fails either
// is refused whole: the agent keeps what it runs.
import Foundation

/// One host's share of the Neutron model (format version `HostView.currentFormatVersion`).
public struct HostView: Codable, Sendable, Equatable {
    /// The format this document follows; the agent refuses any other.
    public var formatVersion: Int
    /// The model's revision this view was made from; grows with every change that concerns the host.
    public var revision: UInt64
    public var host: Host
    /// The networks present on the host: those of its ports, routers and DHCP services, and
    /// the external networks of its routers' gateways.
    public var networks: [Network]
    /// The ports bound to the host (`binding:host_id`) that the agent plugs: VM interfaces.
    /// Ports whose `device_owner` is `network:dhcp` or `network:router_*` are served by
    /// `dhcp` and `routers` and are not plugged as taps.
    public var ports: [Port]
    /// Every security group a port of the host uses, and every group a rule names as its
    /// remote group (with `members`).
    public var securityGroups: [SecurityGroup]
    /// A network node's routers (role `network` or `all`).
    public var routers: [Router]
    /// A network node's DHCP services, one per network (role `network` or `all`).
    public var dhcp: [DHCPService]

    /// The format version this agent reads.
    public static let currentFormatVersion = 1

    public init(revision: UInt64, host: Host, networks: [Network] = [], ports: [Port] = [],
                securityGroups: [SecurityGroup] = [], routers: [Router] = [], dhcp: [DHCPService] = []) {
        self.formatVersion = Self.currentFormatVersion
        self.revision = revision
        self.host = host
        self.networks = networks
        self.ports = ports
        self.securityGroups = securityGroups
        self.routers = routers
        self.dhcp = dhcp
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", revision, host, networks, ports
        case securityGroups = "security_groups", routers, dhcp
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        let revision = try c.decode(Int64.self, forKey: .revision)
        guard revision >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .revision, in: c, debugDescription: "expected a whole number ≥ 0, found \(revision)")
        }
        self.revision = UInt64(revision)
        host = try c.decode(Host.self, forKey: .host)
        networks = try c.decodeIfPresent([Network].self, forKey: .networks) ?? []
        ports = try c.decodeIfPresent([Port].self, forKey: .ports) ?? []
        securityGroups = try c.decodeIfPresent([SecurityGroup].self, forKey: .securityGroups) ?? []
        routers = try c.decodeIfPresent([Router].self, forKey: .routers) ?? []
        dhcp = try c.decodeIfPresent([DHCPService].self, forKey: .dhcp) ?? []
    }

    /// The node itself, as its agent registers (Neutron's agent `configurations`).
    public struct Host: Codable, Sendable, Equatable {
        public var name: String
        public var role: Role
        /// The tunnel endpoint (Neutron's `local_ip`) and the underlay it lives on; absent:
        /// no br-tun (a node with provider networks only).
        public var tunnel: Tunnel?
        /// Physical network → the host interface that carries it (`physnet1: eth1`), Neutron's
        /// `bridge_mappings` with the interface instead of the bridge: the agent makes
        /// `br-IFACE` with the interface and the patch pair `int-br-IFACE`/`phy-br-IFACE`.
        public var bridgeMappings: [String: String]
        /// The interface of br-ex, where routers' `qg-` ports live (Neutron's external
        /// bridge); required when a router has a gateway.
        public var externalInterface: String?

        public init(name: String, role: Role, tunnel: Tunnel? = nil, bridgeMappings: [String: String] = [:],
                    externalInterface: String? = nil) {
            self.name = name
            self.role = role
            self.tunnel = tunnel
            self.bridgeMappings = bridgeMappings
            self.externalInterface = externalInterface
        }

        enum CodingKeys: String, CodingKey {
            case name, role, tunnel, bridgeMappings = "bridge_mappings", externalInterface = "external_interface"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            role = try c.decode(Role.self, forKey: .role)
            tunnel = try c.decodeIfPresent(Tunnel.self, forKey: .tunnel)
            bridgeMappings = try c.decodeIfPresent([String: String].self, forKey: .bridgeMappings) ?? [:]
            externalInterface = try c.decodeIfPresent(String.self, forKey: .externalInterface)
        }
    }

    /// What the node does: Neutron's Open vSwitch agent alone (`compute`), with the L3 and
    /// DHCP agents (`network`), or both kinds of work (`all`, a single-node cloud).
    public enum Role: String, Codable, Sendable {
        case compute, network, all

        /// Whether routers and DHCP services run here.
        public var servesNetworks: Bool { self != .compute }
    }

    /// The node's tunnel endpoint.
    public struct Tunnel: Codable, Sendable, Equatable {
        /// Our address on the underlay (Neutron's `local_ip`); GRE from other hosts is sent to it.
        public var ip: String
        /// The underlay subnet's prefix length.
        public var prefixLength: Int
        /// The interface carrying the tunnels (owned by the datapath).
        public var interface: String
        /// Next hop for remote endpoints outside the underlay subnet.
        public var gateway: String?
        /// The underlay MTU (1500).
        public var mtu: Int?

        public init(ip: String, prefixLength: Int, interface: String, gateway: String? = nil, mtu: Int? = nil) {
            self.ip = ip
            self.prefixLength = prefixLength
            self.interface = interface
            self.gateway = gateway
            self.mtu = mtu
        }

        enum CodingKeys: String, CodingKey { case ip, prefixLength = "prefix_length", interface, gateway, mtu }
    }

    /// Neutron's `provider:network_type`.
    public enum NetworkType: String, Codable, Sendable {
        case flat, vlan, gre, vxlan

        /// Carried between hosts by tunnels through br-tun.
        public var isTunnelled: Bool { self == .gre || self == .vxlan }
    }

    /// A network, with its provider attributes and subnets.
    public struct Network: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        /// `provider:network_type`.
        public var networkType: NetworkType
        /// `provider:physical_network` (flat and vlan).
        public var physicalNetwork: String?
        /// `provider:segmentation_id`: the VLAN id (vlan), the GRE key or VNI (gre, vxlan); none for flat.
        public var segmentationID: UInt64?
        public var mtu: Int?
        /// `router:external`: a network routers' gateways attach to (br-ex), given no local VLAN.
        public var routerExternal: Bool
        public var subnets: [Subnet]
        /// l2population: the other hosts that have a port on this network, with their tunnel
        /// endpoint and those ports' addresses (tunnelled networks only).
        public var remoteHosts: [RemoteHost]

        public init(id: String, name: String? = nil, networkType: NetworkType, physicalNetwork: String? = nil,
                    segmentationID: UInt64? = nil, mtu: Int? = nil, routerExternal: Bool = false,
                    subnets: [Subnet] = [], remoteHosts: [RemoteHost] = []) {
            self.id = id
            self.name = name
            self.networkType = networkType
            self.physicalNetwork = physicalNetwork
            self.segmentationID = segmentationID
            self.mtu = mtu
            self.routerExternal = routerExternal
            self.subnets = subnets
            self.remoteHosts = remoteHosts
        }

        enum CodingKeys: String, CodingKey {
            case id, name, networkType = "network_type", physicalNetwork = "physical_network"
            case segmentationID = "segmentation_id", mtu, routerExternal = "router_external", subnets
            case remoteHosts = "remote_hosts"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            networkType = try c.decode(NetworkType.self, forKey: .networkType)
            physicalNetwork = try c.decodeIfPresent(String.self, forKey: .physicalNetwork)
            segmentationID = try c.decodeIfPresent(UInt64.self, forKey: .segmentationID)
            mtu = try c.decodeIfPresent(Int.self, forKey: .mtu)
            routerExternal = try c.decodeIfPresent(Bool.self, forKey: .routerExternal) ?? false
            subnets = try c.decodeIfPresent([Subnet].self, forKey: .subnets) ?? []
            remoteHosts = try c.decodeIfPresent([RemoteHost].self, forKey: .remoteHosts) ?? []
        }
    }

    /// An IPv4 subnet.
    public struct Subnet: Codable, Sendable, Equatable {
        public var id: String
        public var cidr: String
        public var gatewayIP: String?
        public var enableDHCP: Bool
        public var dnsNameservers: [String]
        public var hostRoutes: [Route]

        public init(id: String, cidr: String, gatewayIP: String? = nil, enableDHCP: Bool = true,
                    dnsNameservers: [String] = [], hostRoutes: [Route] = []) {
            self.id = id
            self.cidr = cidr
            self.gatewayIP = gatewayIP
            self.enableDHCP = enableDHCP
            self.dnsNameservers = dnsNameservers
            self.hostRoutes = hostRoutes
        }

        enum CodingKeys: String, CodingKey {
            case id, cidr, gatewayIP = "gateway_ip", enableDHCP = "enable_dhcp", dnsNameservers = "dns_nameservers"
            case hostRoutes = "host_routes"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            cidr = try c.decode(String.self, forKey: .cidr)
            gatewayIP = try c.decodeIfPresent(String.self, forKey: .gatewayIP)
            enableDHCP = try c.decodeIfPresent(Bool.self, forKey: .enableDHCP) ?? true
            dnsNameservers = try c.decodeIfPresent([String].self, forKey: .dnsNameservers) ?? []
            hostRoutes = try c.decodeIfPresent([Route].self, forKey: .hostRoutes) ?? []
        }
    }

    /// `{destination, nexthop}`: a subnet's host route or a router's extra route.
    public struct Route: Codable, Sendable, Equatable {
        public var destination: String
        public var nexthop: String

        public init(destination: String, nexthop: String) {
            self.destination = destination
            self.nexthop = nexthop
        }
    }

    /// Another host with ports on a network (l2population's fdb entries).
    public struct RemoteHost: Codable, Sendable, Equatable {
        public var host: String
        public var tunnelIP: String
        public var ports: [RemotePort]

        public init(host: String, tunnelIP: String, ports: [RemotePort] = []) {
            self.host = host
            self.tunnelIP = tunnelIP
            self.ports = ports
        }

        enum CodingKeys: String, CodingKey { case host, tunnelIP = "tunnel_ip", ports }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            host = try c.decode(String.self, forKey: .host)
            tunnelIP = try c.decode(String.self, forKey: .tunnelIP)
            ports = try c.decodeIfPresent([RemotePort].self, forKey: .ports) ?? []
        }
    }

    /// A port of another host: its MAC and addresses (unicast and ARP responder entries).
    public struct RemotePort: Codable, Sendable, Equatable {
        public var macAddress: String
        public var ipAddresses: [String]
        public var deviceOwner: String?

        public init(macAddress: String, ipAddresses: [String] = [], deviceOwner: String? = nil) {
            self.macAddress = macAddress
            self.ipAddresses = ipAddresses
            self.deviceOwner = deviceOwner
        }

        enum CodingKeys: String, CodingKey { case macAddress = "mac_address", ipAddresses = "ip_addresses", deviceOwner = "device_owner" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            macAddress = try c.decode(String.self, forKey: .macAddress)
            ipAddresses = try c.decodeIfPresent([String].self, forKey: .ipAddresses) ?? []
            deviceOwner = try c.decodeIfPresent(String.self, forKey: .deviceOwner)
        }
    }

    /// `{subnet_id, ip_address}`.
    public struct FixedIP: Codable, Sendable, Equatable {
        public var subnetID: String?
        public var ipAddress: String

        public init(subnetID: String? = nil, ipAddress: String) {
            self.subnetID = subnetID
            self.ipAddress = ipAddress
        }

        enum CodingKeys: String, CodingKey { case subnetID = "subnet_id", ipAddress = "ip_address" }
    }

    /// `{ip_address, mac_address}` of `allowed_address_pairs`.
    public struct AddressPair: Codable, Sendable, Equatable {
        public var ipAddress: String
        public var macAddress: String?

        public init(ipAddress: String, macAddress: String? = nil) {
            self.ipAddress = ipAddress
            self.macAddress = macAddress
        }

        enum CodingKeys: String, CodingKey { case ipAddress = "ip_address", macAddress = "mac_address" }
    }

    /// A port bound to the host.
    public struct Port: Codable, Sendable, Equatable {
        public var id: String
        public var networkID: String
        public var macAddress: String
        public var fixedIPs: [FixedIP]
        public var deviceOwner: String
        public var securityGroups: [String]
        public var allowedAddressPairs: [AddressPair]
        public var portSecurityEnabled: Bool
        /// The host interface of the VM (`binding:profile`'s name); absent: Nova's `tap` +
        /// the first 11 characters of the port id.
        public var interfaceName: String?

        public init(id: String, networkID: String, macAddress: String, fixedIPs: [FixedIP] = [],
                    deviceOwner: String = "compute:nova", securityGroups: [String] = [],
                    allowedAddressPairs: [AddressPair] = [], portSecurityEnabled: Bool = true, interfaceName: String? = nil) {
            self.id = id
            self.networkID = networkID
            self.macAddress = macAddress
            self.fixedIPs = fixedIPs
            self.deviceOwner = deviceOwner
            self.securityGroups = securityGroups
            self.allowedAddressPairs = allowedAddressPairs
            self.portSecurityEnabled = portSecurityEnabled
            self.interfaceName = interfaceName
        }

        enum CodingKeys: String, CodingKey {
            case id, networkID = "network_id", macAddress = "mac_address", fixedIPs = "fixed_ips"
            case deviceOwner = "device_owner", securityGroups = "security_groups"
            case allowedAddressPairs = "allowed_address_pairs", portSecurityEnabled = "port_security_enabled"
            case interfaceName = "interface_name"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            networkID = try c.decode(String.self, forKey: .networkID)
            macAddress = try c.decode(String.self, forKey: .macAddress)
            fixedIPs = try c.decodeIfPresent([FixedIP].self, forKey: .fixedIPs) ?? []
            deviceOwner = try c.decodeIfPresent(String.self, forKey: .deviceOwner) ?? ""
            securityGroups = try c.decodeIfPresent([String].self, forKey: .securityGroups) ?? []
            allowedAddressPairs = try c.decodeIfPresent([AddressPair].self, forKey: .allowedAddressPairs) ?? []
            portSecurityEnabled = try c.decodeIfPresent(Bool.self, forKey: .portSecurityEnabled) ?? true
            interfaceName = try c.decodeIfPresent(String.self, forKey: .interfaceName)
        }

        /// The interface the VM is plugged into: `interface_name`, else Nova's `tap` + 11 characters of the id.
        public var tapName: String { interfaceName ?? "tap" + id.prefix(11) }

        /// Whether another agent role serves this port (DHCP, router), not a tap.
        public var isNetworkService: Bool {
            deviceOwner == "network:dhcp" || deviceOwner.hasPrefix("network:router_") || deviceOwner == "network:floatingip"
                || deviceOwner.hasPrefix("network:ha_router")
        }
    }

    /// A security group; `members` are the addresses (fixed IPs and address pairs) of every
    /// port in the group on any host, needed when a rule names the group as its remote group.
    public struct SecurityGroup: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        public var rules: [Rule]
        public var members: [String]

        public init(id: String, name: String? = nil, rules: [Rule] = [], members: [String] = []) {
            self.id = id
            self.name = name
            self.rules = rules
            self.members = members
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            rules = try c.decodeIfPresent([Rule].self, forKey: .rules) ?? []
            members = try c.decodeIfPresent([String].self, forKey: .members) ?? []
        }
    }

    /// A security group rule, Neutron's fields.
    public struct Rule: Codable, Sendable, Equatable {
        public var id: String?
        public var direction: String
        public var ethertype: String?
        /// A name (`tcp`) or a number as text (`"6"`); absent: any.
        public var `protocol`: String?
        public var portRangeMin: Int?
        public var portRangeMax: Int?
        public var remoteIPPrefix: String?
        public var remoteGroupID: String?

        public init(id: String? = nil, direction: String, ethertype: String? = nil, protocol: String? = nil,
                    portRangeMin: Int? = nil, portRangeMax: Int? = nil, remoteIPPrefix: String? = nil, remoteGroupID: String? = nil) {
            self.id = id
            self.direction = direction
            self.ethertype = ethertype
            self.protocol = `protocol`
            self.portRangeMin = portRangeMin
            self.portRangeMax = portRangeMax
            self.remoteIPPrefix = remoteIPPrefix
            self.remoteGroupID = remoteGroupID
        }

        enum CodingKeys: String, CodingKey {
            case id, direction, ethertype, `protocol`, portRangeMin = "port_range_min", portRangeMax = "port_range_max"
            case remoteIPPrefix = "remote_ip_prefix", remoteGroupID = "remote_group_id"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            direction = try c.decode(String.self, forKey: .direction)
            ethertype = try c.decodeIfPresent(String.self, forKey: .ethertype)
            // Neutron's API takes the protocol as a name or a number.
            if let number = try? c.decodeIfPresent(Int.self, forKey: .protocol) {
                `protocol` = String(number)
            } else {
                `protocol` = try c.decodeIfPresent(String.self, forKey: .protocol)
            }
            portRangeMin = try c.decodeIfPresent(Int.self, forKey: .portRangeMin)
            portRangeMax = try c.decodeIfPresent(Int.self, forKey: .portRangeMax)
            remoteIPPrefix = try c.decodeIfPresent(String.self, forKey: .remoteIPPrefix)
            remoteGroupID = try c.decodeIfPresent(String.self, forKey: .remoteGroupID)
        }
    }

    /// A router served by this network node.
    public struct Router: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        /// `add_router_interface`: one per internal subnet.
        public var interfaces: [RouterInterface]
        /// `external_gateway_info`.
        public var gateway: RouterGateway?
        public var floatingIPs: [FloatingIP]
        /// Extra routes (`routes`).
        public var routes: [Route]

        public init(id: String, name: String? = nil, interfaces: [RouterInterface] = [], gateway: RouterGateway? = nil,
                    floatingIPs: [FloatingIP] = [], routes: [Route] = []) {
            self.id = id
            self.name = name
            self.interfaces = interfaces
            self.gateway = gateway
            self.floatingIPs = floatingIPs
            self.routes = routes
        }

        enum CodingKeys: String, CodingKey { case id, name, interfaces, gateway, floatingIPs = "floating_ips", routes }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            interfaces = try c.decodeIfPresent([RouterInterface].self, forKey: .interfaces) ?? []
            gateway = try c.decodeIfPresent(RouterGateway.self, forKey: .gateway)
            floatingIPs = try c.decodeIfPresent([FloatingIP].self, forKey: .floatingIPs) ?? []
            routes = try c.decodeIfPresent([Route].self, forKey: .routes) ?? []
        }
    }

    /// A router's port on an internal subnet (`qr-`), or its gateway port (`qg-`).
    public struct RouterInterface: Codable, Sendable, Equatable {
        public var portID: String
        public var macAddress: String
        public var networkID: String
        public var subnetID: String
        public var ipAddress: String

        public init(portID: String, macAddress: String, networkID: String, subnetID: String, ipAddress: String) {
            self.portID = portID
            self.macAddress = macAddress
            self.networkID = networkID
            self.subnetID = subnetID
            self.ipAddress = ipAddress
        }

        enum CodingKeys: String, CodingKey {
            case portID = "port_id", macAddress = "mac_address", networkID = "network_id", subnetID = "subnet_id"
            case ipAddress = "ip_address"
        }
    }

    /// `external_gateway_info`: the `qg-` port and whether the router SNATs.
    public struct RouterGateway: Codable, Sendable, Equatable {
        public var port: RouterInterface
        public var enableSNAT: Bool

        public init(port: RouterInterface, enableSNAT: Bool = true) {
            self.port = port
            self.enableSNAT = enableSNAT
        }

        enum CodingKeys: String, CodingKey { case port, enableSNAT = "enable_snat" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            port = try c.decode(RouterInterface.self, forKey: .port)
            enableSNAT = try c.decodeIfPresent(Bool.self, forKey: .enableSNAT) ?? true
        }
    }

    /// A floating IP associated with a port behind the router.
    public struct FloatingIP: Codable, Sendable, Equatable {
        public var floatingIPAddress: String
        public var fixedIPAddress: String

        public init(floatingIPAddress: String, fixedIPAddress: String) {
            self.floatingIPAddress = floatingIPAddress
            self.fixedIPAddress = fixedIPAddress
        }

        enum CodingKeys: String, CodingKey { case floatingIPAddress = "floating_ip_address", fixedIPAddress = "fixed_ip_address" }
    }

    /// A network's DHCP service: its port (`network:dhcp`) and the static leases of the network's ports.
    public struct DHCPService: Codable, Sendable, Equatable {
        public var networkID: String
        public var portID: String
        public var macAddress: String
        /// The DHCP port's address on each subnet it serves.
        public var fixedIPs: [FixedIP]
        /// Seconds (Neutron's `dhcp_lease_duration`, 86400); -1: infinite.
        public var leaseTime: Int?
        /// Neutron's `dns_domain` (`openstacklocal`).
        public var domain: String?
        public var hosts: [Lease]

        public init(networkID: String, portID: String, macAddress: String, fixedIPs: [FixedIP], leaseTime: Int? = nil,
                    domain: String? = nil, hosts: [Lease] = []) {
            self.networkID = networkID
            self.portID = portID
            self.macAddress = macAddress
            self.fixedIPs = fixedIPs
            self.leaseTime = leaseTime
            self.domain = domain
            self.hosts = hosts
        }

        enum CodingKeys: String, CodingKey {
            case networkID = "network_id", portID = "port_id", macAddress = "mac_address", fixedIPs = "fixed_ips"
            case leaseTime = "lease_time", domain, hosts
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            networkID = try c.decode(String.self, forKey: .networkID)
            portID = try c.decode(String.self, forKey: .portID)
            macAddress = try c.decode(String.self, forKey: .macAddress)
            fixedIPs = try c.decodeIfPresent([FixedIP].self, forKey: .fixedIPs) ?? []
            leaseTime = try c.decodeIfPresent(Int.self, forKey: .leaseTime)
            domain = try c.decodeIfPresent(String.self, forKey: .domain)
            hosts = try c.decodeIfPresent([Lease].self, forKey: .hosts) ?? []
        }
    }

    /// A static lease: a port of the network.
    public struct Lease: Codable, Sendable, Equatable {
        public var macAddress: String
        public var ipAddress: String
        public var hostname: String?

        public init(macAddress: String, ipAddress: String, hostname: String? = nil) {
            self.macAddress = macAddress
            self.ipAddress = ipAddress
            self.hostname = hostname
        }

        enum CodingKeys: String, CodingKey { case macAddress = "mac_address", ipAddress = "ip_address", hostname }
    }
}
