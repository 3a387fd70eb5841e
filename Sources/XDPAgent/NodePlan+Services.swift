import XDPPacket

// A network node's routers (Neutron's L3 agent) and DHCP responders (its DHCP agent), as
// the `routers:` and `dhcp:` sections (docs/routers.md, docs/dhcp.md), and with
// CompileOptions.metadata the metadata service's part: the on-link host route to
// 169.254.169.254 in each served subnet (the metadata ports themselves are on br-int,
// NodePlan.swift).
extension NodePlan {
    /// Neutron's `dhcp_lease_duration` default.
    static let defaultLeaseSeconds = 86400

    func subnet(_ id: String) -> HostView.Subnet? {
        for network in view.networks { if let s = network.subnets.first(where: { $0.id == id }) { return s } }
        return nil
    }

    /// `A.B.C.D/LEN`: an interface's address with its subnet's prefix length.
    private func interfaceAddress(_ interface: HostView.RouterInterface) -> String {
        let length = subnet(interface.subnetID).flatMap { IPv4Prefix($0.cidr) }?.length ?? 32
        return "\(interface.ipAddress)/\(length)"
    }

    func writeRouters(_ w: inout YAMLWriter) {
        let routers = view.routers.sorted { $0.id < $1.id }
        guard !routers.isEmpty else { return }
        w.line(0, "routers:")
        for router in routers {
            w.item(2, Value(text: "name: \(YAMLWriter.quoted(router.id))"))
            w.line(4, "interfaces:")
            for interface in router.interfaces {
                w.item(6, .map(["name": .string(Self.routerPortName("qr-", interface.portID)), "mac": .string(interface.macAddress),
                                "address": .string(interfaceAddress(interface))]))
            }
            if let gateway = router.gateway {
                let mtu = networks[gateway.port.networkID]?.mtu
                w.item(6, .map(["name": .string(Self.routerPortName("qg-", gateway.port.portID)), "mac": .string(gateway.port.macAddress),
                                "address": .string(interfaceAddress(gateway.port)), "mtu": mtu.map { .int($0) }]))
                // A gateway outside the external subnet gives the router no default route (it routes on-link only).
                if let external = subnet(gateway.port.subnetID), let next = external.gatewayIP, next != gateway.port.ipAddress,
                   Self.isInSubnet(next, external) {
                    w.field(4, "default_gateway", .string(next))
                }
                if gateway.enableSNAT { w.field(4, "snat", .bool(true)) }
                if !router.floatingIPs.isEmpty {
                    w.field(4, "floating_ips", .list(router.floatingIPs.map {
                        .map(["floating": .string($0.floatingIPAddress), "fixed": .string($0.fixedIPAddress)])
                    }))
                }
            }
            if !router.routes.isEmpty {
                w.field(4, "routes", .list(router.routes.map { .map(["destination": .string($0.destination), "nexthop": .string($0.nexthop)]) }))
            }
        }
    }

    /// The networks whose DHCP this node serves, by id: each gets a metadata port when
    /// `options.metadata` (Neutron's DHCP agent runs the metadata proxy of exactly these).
    var metadataNetworks: [String] {
        view.dhcp.map(\.networkID).sorted()
    }

    /// A subnet's host routes as handed out, with the metadata route added (`options.metadata`)
    /// unless the subnet already routes 169.254.169.254/32 itself.
    func dhcpHostRoutes(_ subnet: HostView.Subnet) -> [HostView.Route] {
        var routes = subnet.hostRoutes
        // A gateway outside the subnet is reached on-link, as Neutron's DHCP agent tells clients.
        if let gateway = subnet.gatewayIP, !Self.isInSubnet(gateway, subnet), !routes.contains(where: { $0.destination == gateway + "/32" }) {
            routes.insert(HostView.Route(destination: gateway + "/32", nexthop: "0.0.0.0"), at: 0)
        }
        if options.metadata, !routes.contains(where: { $0.destination == MetadataPort.hostRoute.destination }) {
            routes.append(HostView.Route(destination: MetadataPort.hostRoute.destination, nexthop: MetadataPort.hostRoute.nexthop))
        }
        return routes
    }

    /// Whether `address` lies in `subnet`'s CIDR (both already validated).
    static func isInSubnet(_ address: String, _ subnet: HostView.Subnet) -> Bool {
        guard let ip = IPv4Address(address), let prefix = IPv4Prefix(subnet.cidr) else { return false }
        return prefix.contains(ip)
    }

    func writeDHCP(_ w: inout YAMLWriter) {
        let services = view.dhcp.sorted { $0.networkID < $1.networkID }
        guard !services.isEmpty else { return }
        w.line(0, "dhcp:")
        for service in services {
            w.item(2, Value(text: "network: \(YAMLWriter.quoted(service.networkID))"))
            w.field(4, "mac", .string(service.macAddress))
            w.field(4, "domain", .string(service.domain ?? "openstacklocal"))
            let lease = service.leaseTime ?? Self.defaultLeaseSeconds
            w.field(4, "lease_time", lease == -1 ? .string("infinite") : .int(lease))
            if let mtu = networks[service.networkID]?.mtu { w.field(4, "mtu", .int(mtu)) }
            w.line(4, "subnets:")
            for fixed in service.fixedIPs {
                let subnet = subnet(fixed.subnetID!)!
                w.item(6, .map(["name": .string(subnet.id), "cidr": .string(subnet.cidr), "server_address": .string(fixed.ipAddress),
                                "gateway_ip": subnet.gatewayIP.map { .string($0) },
                                "dns_nameservers": subnet.dnsNameservers.isEmpty ? nil : .strings(subnet.dnsNameservers),
                                "host_routes": dhcpHostRoutes(subnet).isEmpty ? nil : .list(dhcpHostRoutes(subnet).map {
                                    .map(["destination": .string($0.destination), "nexthop": .string($0.nexthop)])
                                }),
                                "enable_dhcp": .bool(subnet.enableDHCP)]))
            }
            if !service.hosts.isEmpty {
                w.line(4, "hosts:")
                for lease in service.hosts {
                    w.item(6, .map(["mac": .string(lease.macAddress), "address": .string(lease.ipAddress),
                                    "hostname": lease.hostname.map { .string($0) }]))
                }
            }
        }
    }
}
