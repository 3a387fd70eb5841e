import Foundation

// The instance lookup behind the metadata service (docs/agent-protocol.md, "Metadata").
// A network's metadata proxy knows two things about a request: the network it serves (one
// proxy per network, in its own namespace) and the TCP source address of the VM. The pair
// names one port — fixed IPs are unique per subnet and a network's subnets do not overlap —
// even when two tenants use the same CIDR, as Neutron's metadata agent finds the instance
// from (network id, remote address) and never from a header the VM could write.
extension NetworkingService {
    /// `GET /v2.0/xdpswitch/metadata/instance?network_id=…&ip_address=…`: the instance behind
    /// the port of `networkID` holding the fixed IP `ipAddress`, as
    /// `{"instance": {uuid, port_id, name, hostname, project_id, network_id, mac_address,
    /// fixed_ip_address, floating_ip_address}}`. `uuid` is the port's `device_id`, or the port
    /// id when it has none; `hostname` is the port's `dns_name`, else its name when it is a
    /// valid host name, else `host-A-B-C-D` (the DHCP agent's name for it). Ports of the
    /// network's own services (`network:*` owners) are not instances.
    public func metadataInstance(networkID: String, ipAddress: String) async throws -> JSONValue {
        guard !networkID.isEmpty else { throw NeutronError.badRequest("network_id is required") }
        guard let address = IPv4Address(ipAddress) else {
            throw NeutronError.badRequest("ip_address '\(ipAddress)' is not an IPv4 address")
        }
        return try await store.read { sql in
            let tx = ModelTransaction(sql)
            guard try tx.resource(.network, networkID) != nil else {
                throw NeutronError.notFound("NetworkNotFound", "Network \(networkID) could not be found.")
            }
            let ports = try tx.resources(.port, networkID: networkID).filter { port in
                !(port["device_owner"]?.string ?? "").hasPrefix("network:")
                    && (port["fixed_ips"]?.array ?? []).contains { $0.object?["ip_address"]?.string == "\(address)" }
            }
            guard let port = ports.first else {
                throw NeutronError.notFound("InstanceNotFound", "No instance on network \(networkID) has the address \(address).")
            }
            let portID = port["id"]?.string ?? ""
            let floating = try tx.resources(.floatingip).first { fip in
                fip["port_id"]?.string == portID && fip["fixed_ip_address"]?.string == "\(address)"
            }
            let deviceID = port["device_id"]?.string ?? ""
            let name = port["name"]?.string ?? ""
            return .object(["instance": .object([
                "uuid": .string(deviceID.isEmpty ? portID : deviceID),
                "port_id": .string(portID),
                "name": .string(name),
                "hostname": .string(Self.metadataHostname(dnsName: port["dns_name"]?.string ?? "", name: name, address: address)),
                "project_id": port["project_id"] ?? .string(""),
                "network_id": .string(networkID),
                "mac_address": port["mac_address"] ?? .string(""),
                "fixed_ip_address": .string("\(address)"),
                "floating_ip_address": floating?["floating_ip_address"] ?? .null,
            ])])
        }
    }

    /// `dns_name`, else `name` when it is a host name (RFC 1123 labels), else `host-A-B-C-D`.
    static func metadataHostname(dnsName: String, name: String, address: IPv4Address) -> String {
        func isHostname(_ text: String) -> Bool {
            guard !text.isEmpty, text.utf8.count <= 253 else { return false }
            return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
        }
        if isHostname(dnsName) { return dnsName }
        if isHostname(name) { return name }
        return "host-" + "\(address)".replacingOccurrences(of: ".", with: "-")
    }
}
