/// The names and addresses of a network's metadata service (docs/agent-protocol.md,
/// "Metadata"): what the compiler puts on br-int and what the agent builds around it
/// (the namespace, the proxy) agree through these.
public enum MetadataPort {
    /// The address VMs ask (EC2's and OpenStack's link-local metadata address).
    public static let address = "169.254.169.254"

    /// The host route the DHCP responder hands out (option 121): on-link, next hop 0.0.0.0,
    /// so the VM sends to the metadata port's MAC on its own network.
    public static let hostRoute = (destination: "169.254.169.254/32", nexthop: "0.0.0.0")

    /// The metadata port's interface on br-int: `md` + the first 11 characters of the
    /// network id (13 bytes, under IFNAMSIZ).
    public static func interfaceName(networkID: String) -> String { "md" + networkID.prefix(11) }
}
