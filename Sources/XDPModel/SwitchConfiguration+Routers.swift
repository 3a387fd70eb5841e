import XDPDatapath
import XDPPacket

extension SwitchConfiguration {
    /// Keys a router entry may have.
    static var routerKeys: Set<String> {
        ["name", "interfaces", "routes", "default_gateway", "gateway_interface", "pending_limit", "pending_total_limit",
         "arp_retransmit_ms", "arp_max_requests", "neighbour_capacity", "icmp_errors_per_second", "icmp_error_burst",
         "snat", "floating_ips", "metadata", "nat_connections"]
    }

    /// One entry of `routers:` (docs/configuration.md, docs/routers.md):
    ///
    /// ```yaml
    /// routers:
    ///   - name: router1
    ///     interfaces:                  # each is a `type: router` port of some bridge
    ///       - {name: qr-6a1b2c3d-4e, mac: fa:16:3e:00:00:01, address: 10.1.0.1/24}
    ///       - {name: qg-7f8e9d0c-1b, mac: fa:16:3e:00:00:02, address: 172.24.4.227/28, mtu: 1500}
    ///     routes: [{destination: 192.168.50.0/24, nexthop: 10.1.0.254}]
    ///     default_gateway: 172.24.4.225
    ///     gateway_interface: qg-7f8e9d0c-1b   # the external interface, when not the qg- one
    ///     pending_limit: 16             # frames waiting per next hop
    ///     pending_total_limit: 256      # frames waiting in all
    ///     arp_retransmit_ms: 1000
    ///     arp_max_requests: 3
    ///     neighbour_capacity: 4096
    ///     icmp_errors_per_second: 1000
    ///     icmp_error_burst: 50
    ///     snat: {enabled: true, ports: 1024-65535}   # or snat: true (default: no SNAT)
    ///     floating_ips: [{floating: 172.24.4.228, fixed: 10.1.0.5}]
    ///     metadata: {endpoint: 172.24.4.226, endpoint_port: 9697}   # address 169.254.169.254, port 80
    ///     nat_connections: 16384
    /// ```
    ///
    /// The router's own checks (`RouterConfiguration.resolvedRoutes`) run here, so their
    /// refusals point at the line of the key at fault.
    mutating func readRouter(_ node: YAMLNode) throws(ConfigurationError) -> RouterConfiguration {
        let keys = try node.mapping(allowed: Self.routerKeys)
        guard let nameNode = keys["name"] else { throw node.error("missing", key: "name") }
        let name = try nameNode.string()
        var router = RouterConfiguration(name: name, interfaces: [])
        lines[name] = node.line
        lines["\(name).name"] = nameNode.line
        var interfaceNodes: [String: (node: YAMLNode, keys: [String: YAMLNode])] = [:]
        guard let interfaces = keys["interfaces"] else { throw node.error("missing: a router has interfaces", key: "interfaces") }
        for (i, entry) in try interfaces.sequence().enumerated() {
            let k = try entry.mapping(allowed: ["name", "mac", "address", "mtu"])
            guard let n = k["name"] else { throw entry.error("missing", key: "name") }
            guard let mac = k["mac"] else { throw entry.error("missing", key: "mac") }
            guard let address = k["address"] else { throw entry.error("missing (A.B.C.D/LEN)", key: "address") }
            let (ip, length) = try Self.addressWithLength(address)
            var interface = RouterConfiguration.Interface(name: try n.string(), mac: try mac.mac(), address: ip, prefixLength: length)
            if let mtu = k["mtu"] { interface.mtu = try mtu.integer(in: 68...9000) }
            interfaceNodes[interface.name] = (entry, k)
            lines["\(name).interfaces[\(i)]"] = entry.line
            for (key, value) in k { lines["\(name).interfaces[\(i)].\(key)"] = value.line }
            router.interfaces.append(interface)
        }
        var routeNodes: [String: (node: YAMLNode, keys: [String: YAMLNode])] = [:]
        for (i, entry) in try (keys["routes"]?.sequence() ?? []).enumerated() {
            let k = try entry.mapping(allowed: ["destination", "nexthop"])
            guard let destination = k["destination"] else { throw entry.error("missing (A.B.C.D/LEN)", key: "destination") }
            guard let nexthop = k["nexthop"] else { throw entry.error("missing", key: "nexthop") }
            let text = try destination.string()
            guard let prefix = IPv4Prefix(text), text.contains("/") else {
                throw destination.error("expected a prefix A.B.C.D/LEN, found \"\(text)\"")
            }
            guard prefix.address == IPv4Address(text.split(separator: "/")[0]) else {
                throw destination.error("\(text) has host bits set (the network is \(prefix))")
            }
            routeNodes["routes[\(i)]"] = (entry, k)
            router.routes.append(.init(prefix: prefix, nextHop: try nexthop.ipv4()))
        }
        if let n = keys["default_gateway"] { router.defaultGateway = try n.ipv4() }
        if let n = keys["gateway_interface"] { router.gatewayInterface = try n.string() }
        if let n = keys["pending_limit"] { router.pendingLimit = try n.integer(in: 0...4096) }
        if let n = keys["pending_total_limit"] { router.pendingTotalLimit = try n.integer(in: 0...65536) }
        if let n = keys["arp_retransmit_ms"] { router.arpRetransmitInterval = .milliseconds(try n.integer(in: 1...60_000)) }
        if let n = keys["arp_max_requests"] { router.arpMaximumRequests = try n.integer(in: 1...100) }
        if let n = keys["neighbour_capacity"] { router.neighbourCapacity = try n.integer(in: 1...1_048_576) }
        if let n = keys["icmp_errors_per_second"] { router.icmpErrorsPerSecond = try n.integer(in: 0...1_000_000) }
        if let n = keys["icmp_error_burst"] { router.icmpErrorBurst = try n.integer(in: 0...1_000_000) }
        var floatingNodes: [String: (node: YAMLNode, keys: [String: YAMLNode])] = [:]
        try readRouterNAT(keys, into: &router, floatingNodes: &floatingNodes)
        do {
            _ = try router.resolvedRoutes()
        } catch {
            // Point at the key the refusal names: in the interface or route it is about,
            // else in the router's own mapping.
            let keyName = ["prefix_length": "address", "arp_retransmit_interval": "arp_retransmit_ms",
                           "arp_maximum_requests": "arp_max_requests", "snat.ports": "snat",
                           "metadata.endpoint": "metadata"][error.key] ?? error.key
            if let subject = error.part,
               let place = interfaceNodes[subject] ?? routeNodes[subject] ?? floatingNodes[subject] {
                throw (place.keys[keyName] ?? place.node).error("\(subject): \(error.message)",
                                                                 key: place.keys[keyName] == nil ? keyName : nil)
            }
            if error.part == nil, let at = keys[keyName] { throw at.error(error.message) }
            throw node.error(error.part.map { "\($0): \(error.message)" } ?? error.message, key: keyName)
        }
        return router
    }

    /// The NAT keys of a router entry: `snat` (a boolean, or `{enabled, ports: MIN-MAX}`),
    /// `floating_ips` (`[{floating, fixed}]`), `metadata` (`{endpoint, endpoint_port,
    /// address, port}`), `nat_connections`. Checked with the rest by `resolvedRoutes`.
    func readRouterNAT(_ keys: [String: YAMLNode], into router: inout RouterConfiguration,
                       floatingNodes: inout [String: (node: YAMLNode, keys: [String: YAMLNode])]) throws(ConfigurationError) {
        if let n = keys["snat"] {
            if case .mapping = n.node {
                let k = try n.mapping(allowed: ["enabled", "ports"])
                var snat = RouterConfiguration.SNAT()
                if let e = k["enabled"] { snat.enabled = try e.boolean() }
                if let p = k["ports"] {
                    let text = try p.string()
                    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
                    guard parts.count == 2 || parts.count == 1, let low = UInt16(parts[0]), let high = UInt16(parts.last!),
                          low >= 1, low <= high else {
                        throw p.error("expected a port range MIN-MAX within 1-65535, found \"\(text)\"")
                    }
                    snat.portMin = low
                    snat.portMax = high
                }
                router.snat = snat
            } else {
                router.snat = try n.boolean() ? RouterConfiguration.SNAT() : .disabled
            }
        }
        for (i, entry) in try (keys["floating_ips"]?.sequence() ?? []).enumerated() {
            let k = try entry.mapping(allowed: ["floating", "fixed"])
            guard let floating = k["floating"] else { throw entry.error("missing", key: "floating") }
            guard let fixed = k["fixed"] else { throw entry.error("missing", key: "fixed") }
            floatingNodes["floating_ips[\(i)]"] = (entry, k)
            router.floatingIPs.append(.init(floating: try floating.ipv4(), fixed: try fixed.ipv4()))
        }
        if let n = keys["metadata"] {
            let k = try n.mapping(allowed: ["endpoint", "endpoint_port", "address", "port"])
            guard let endpoint = k["endpoint"] else { throw n.error("missing: where the metadata proxy listens", key: "endpoint") }
            var m = RouterConfiguration.Metadata(endpoint: try endpoint.ipv4())
            if let p = k["endpoint_port"] { m.endpointPort = UInt16(try p.integer(in: 1...65535)) }
            if let a = k["address"] { m.address = try a.ipv4() }
            if let p = k["port"] { m.port = UInt16(try p.integer(in: 1...65535)) }
            router.metadata = m
        }
        if let n = keys["nat_connections"] { router.natConnections = try n.integer(in: 16...16_777_216) }
    }

    /// `A.B.C.D/LEN` with a host address (the interface's) and its subnet's length.
    static func addressWithLength(_ node: YAMLNode) throws(ConfigurationError) -> (IPv4Address, Int) {
        let text = try node.string()
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let length = Int(parts[1]), (1...32).contains(length) else {
            throw node.error("expected the interface's address with the subnet's prefix length, A.B.C.D/LEN, found \"\(text)\"")
        }
        return (address, length)
    }
}
