import XDPPacket

// DHCP responders as bridge ports: the reference design's `qdhcp-<network>` namespace, whose dnsmasq
// listens on a tap port of br-int in the network's local VLAN, becomes a `dhcp` service
// port (Datapath+Services.swift). A port `{type: dhcp, tag: 1, options: {network: net1}}`
// is served by the responder of `DatapathConfiguration.dhcp` for `net1`: the bridge's
// NORMAL or flows send it the clients' broadcasts (the access tag popped), the responder
// answers into its `txQueue`, and `tick` enters the replies into the bridge as received
// on the port, where they are tagged and forwarded like any frame from the tap.
//
// One port per network: a second port naming the same network, a port naming a network
// without configuration, and a network configured without a port are refused (the last
// would be a silent no-op).
extension Datapath {
    /// Builds the DHCP responders of `configuration` and binds each to the `dhcp` port
    /// naming its network (a responder in `reusing`, by network, is that object).
    static func makeDHCPResponders(_ configuration: DatapathConfiguration, ports: [DatapathPort], pool: FramePool,
                                   txQueueCapacity: Int, reusing: [String: DHCPResponder] = [:]) throws(DatapathConfigurationError) -> (responders: [DHCPResponder], outputs: [ServiceOutput]) {
        var byNetwork: [String: Int] = [:]
        for (i, config) in configuration.dhcp.enumerated() {
            guard byNetwork.updateValue(i, forKey: config.network) == nil else {
                throw DatapathConfigurationError(subject: "dhcp[\(i)]", key: "network", message: "network \(config.network) has DHCP configured twice")
            }
        }
        var portOf: [Int: DatapathPort] = [:]
        for port in ports {
            guard case .dhcp(let network) = port.type else { continue }
            guard let index = byNetwork[network] else {
                throw DatapathConfigurationError(subject: port.name, key: "options.network",
                                                 message: "no dhcp: entry for network \(network.isEmpty ? "\"\"" : network)")
            }
            if let other = portOf[index] {
                throw DatapathConfigurationError(subject: port.name, key: "options.network",
                                                 message: "network \(network) is already served by port \(other.name)")
            }
            portOf[index] = port
        }
        var responders: [DHCPResponder] = []
        var outputs: [ServiceOutput] = []
        for (i, config) in configuration.dhcp.enumerated() {
            guard let port = portOf[i] else {
                throw DatapathConfigurationError(subject: "dhcp[\(i)]", key: "network",
                    message: "no port serves network \(config.network): add {name: tap-..., type: dhcp, tag: N, options: {network: \(config.network)}} to a bridge")
            }
            let responder: DHCPResponder
            if let kept = reusing[config.network] {
                responder = kept
            } else {
                do {
                    responder = try DHCPResponder(configuration: config, pool: pool, txQueueCapacity: txQueueCapacity)
                } catch {
                    throw DatapathConfigurationError(path: ["dhcp \(config.network)"] + error.path.dropFirst(), message: error.message)
                }
            }
            port.serviceKind = .dhcp
            port.serviceIndex = responders.count
            port.serviceElement = 0
            outputs.append(ServiceOutput(queue: responder.txQueue.storage, portID: port.id))
            responders.append(responder)
        }
        return (responders, outputs)
    }

    /// The DHCP responder of network `network`, if any.
    public func dhcpResponder(network: String) -> DHCPResponder? { dhcpResponders.first { $0.network == network } }
}
