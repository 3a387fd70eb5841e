import XDPPacket

/// A DHCP option code (RFC 2132 unless said otherwise): an open set, as the wire allows any byte.
@frozen
public struct DHCPOption: RawRepresentable, Hashable, Sendable {
    /// The option's code byte, as on the wire.
    public var rawValue: UInt8
    /// Wraps any code byte, known or not.
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// RFC 2132 §3.1: one byte of padding, no length.
    public static let pad = DHCPOption(rawValue: 0)
    /// §3.3: the subnet mask.
    public static let subnetMask = DHCPOption(rawValue: 1)
    /// §3.5: routers, in order of preference.
    public static let router = DHCPOption(rawValue: 3)
    /// §3.8: DNS servers.
    public static let domainNameServer = DHCPOption(rawValue: 6)
    /// §3.14: the client's host name.
    public static let hostName = DHCPOption(rawValue: 12)
    /// §3.17: the DNS domain.
    public static let domainName = DHCPOption(rawValue: 15)
    /// §5.1: the interface MTU.
    public static let interfaceMTU = DHCPOption(rawValue: 26)
    /// §5.3: the subnet's broadcast address.
    public static let broadcastAddress = DHCPOption(rawValue: 28)
    /// §9.1: the address a client asks for (INIT-REBOOT, SELECTING).
    public static let requestedAddress = DHCPOption(rawValue: 50)
    /// §9.2: lease time in seconds.
    public static let leaseTime = DHCPOption(rawValue: 51)
    /// §9.3: `file` and/or `sname` hold options too.
    public static let overload = DHCPOption(rawValue: 52)
    /// §9.6: the message type (`DHCPMessageType`).
    public static let messageType = DHCPOption(rawValue: 53)
    /// §9.7: the server identifier: the address of the server that answers.
    public static let serverIdentifier = DHCPOption(rawValue: 54)
    /// §9.8: options the client asks for.
    public static let parameterRequestList = DHCPOption(rawValue: 55)
    /// §9.9: a text message (with a DHCPNAK).
    public static let message = DHCPOption(rawValue: 56)
    /// §9.10: the largest DHCP message the client accepts.
    public static let maximumMessageSize = DHCPOption(rawValue: 57)
    /// §9.11: T1, when the client starts renewing.
    public static let renewalTime = DHCPOption(rawValue: 58)
    /// §9.12: T2, when the client starts rebinding.
    public static let rebindingTime = DHCPOption(rawValue: 59)
    /// §9.14: the client identifier; RFC 6842 asks servers to echo it.
    public static let clientIdentifier = DHCPOption(rawValue: 61)
    /// RFC 3442: classless static routes.
    public static let classlessStaticRoute = DHCPOption(rawValue: 121)
    /// Microsoft's classless static routes (same encoding as 121), which Neutron also sends.
    public static let microsoftClasslessStaticRoute = DHCPOption(rawValue: 249)
    /// §3.2: the end of the options.
    public static let end = DHCPOption(rawValue: 255)
}

/// The DHCP message type carried in option 53 (RFC 2132 §9.6).
@frozen
public enum DHCPMessageType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The eight types of RFC 2131 and RFC 2132 §9.6, numbered 1 (DHCPDISCOVER) to 8 (DHCPINFORM).
    case discover = 1, offer, request, decline, ack, nak, release, inform

    /// The RFC's name in capitals (`DHCPDISCOVER`, `DHCPACK`, …).
    public var description: String {
        switch self {
        case .discover: "DHCPDISCOVER"
        case .offer: "DHCPOFFER"
        case .request: "DHCPREQUEST"
        case .decline: "DHCPDECLINE"
        case .ack: "DHCPACK"
        case .nak: "DHCPNAK"
        case .release: "DHCPRELEASE"
        case .inform: "DHCPINFORM"
        }
    }
}

/// The fixed layout of a BOOTP/DHCP message (RFC 2131 §2, figure 1): offsets from the
/// start of the UDP payload.
///
/// ```
///  op(1) htype(1) hlen(1) hops(1) | xid(4) | secs(2) flags(2) | ciaddr(4) | yiaddr(4)
///  siaddr(4) | giaddr(4) | chaddr(16) | sname(64) | file(128) | magic cookie(4) | options…
/// ```
public enum BOOTPLayout {
    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY (1 byte).
    public static let op = 0
    /// `htype`: hardware type, 1 for Ethernet (1 byte).
    public static let htype = 1
    /// `hlen`: hardware address length, 6 for Ethernet (1 byte).
    public static let hlen = 2
    /// `hops`: relay agents passed (1 byte).
    public static let hops = 3
    /// `xid`: the transaction id the client picked, echoed in replies (4 bytes).
    public static let xid = 4
    /// `secs`: seconds since the client began (2 bytes, network order).
    public static let secs = 8
    /// `flags`: the broadcast bit (`broadcastFlag`) and 15 reserved bits (2 bytes).
    public static let flags = 10
    /// `ciaddr`: the client's address when it already has one (4 bytes).
    public static let ciaddr = 12
    /// `yiaddr`: "your" address, the one the server gives (4 bytes).
    public static let yiaddr = 16
    /// `siaddr`: the next server's address (4 bytes).
    public static let siaddr = 20
    /// `giaddr`: the relay agent's address, 0 without a relay (4 bytes).
    public static let giaddr = 24
    /// `chaddr`: the client's hardware address, padded to 16 bytes.
    public static let chaddr = 28
    /// `sname`: server host name, 64 bytes, NUL padded (may hold options when overloaded).
    public static let sname = 44
    /// `file`: boot file name, 128 bytes, NUL padded (may hold options when overloaded).
    public static let file = 108
    /// The magic cookie's 4 bytes (`magicCookie`), which mark a DHCP message rather than BOOTP.
    public static let cookie = 236
    /// Where the options start, after the magic cookie.
    public static let options = 240
    /// 99.130.83.99 (RFC 2131 §3).
    public static let magicCookie: UInt32 = 0x6382_5363
    /// The `flags` bit asking for broadcast replies (RFC 2131 §2, figure 2).
    public static let broadcastFlag: UInt16 = 0x8000
    /// RFC 1542 §3.3: BOOTP messages are at least 300 bytes; shorter replies are padded.
    public static let minimumMessage = 300
    /// The port servers listen on (67, RFC 2131 §4.1).
    public static let serverPort: UInt16 = 67
    /// The port clients listen on (68).
    public static let clientPort: UInt16 = 68
}

/// The options a host's replies carry, encoded once when the server is built:
///
///     54 server identifier · 51 lease · 58 T1 · 59 T2 · 1 mask · 28 broadcast · 3 router ·
///     6 DNS · 15 domain · 12 host name · 26 MTU · 121 and 249 classless routes
///
/// The lease part (51/58/59) follows the server identifier so a DHCPACK to a DHCPINFORM
/// (RFC 2131 §4.3.5: no lease time) copies around it, and a DHCPNAK copies only the
/// server identifier.
struct DHCPOptionBlock {
    var bytes: [UInt8] = []
    /// Where the lease options start and how long they are.
    var leaseStart = 0
    var leaseLength = 0

    /// The options for `host` in `subnets[subnet]`.
    static func build(configuration c: DHCPConfiguration, subnet index: Int, host: DHCPConfiguration.Host) -> DHCPOptionBlock {
        let subnet = c.subnets[index]
        var block = DHCPOptionBlock()
        block.address(.serverIdentifier, [subnet.serverAddress])
        block.leaseStart = block.bytes.count
        block.u32(.leaseTime, c.leaseSeconds)
        if c.leaseSeconds != .max {
            block.u32(.renewalTime, c.leaseSeconds / 2)
            block.u32(.rebindingTime, UInt32((UInt64(c.leaseSeconds) * 7) / 8))
        }
        block.leaseLength = block.bytes.count - block.leaseStart
        block.address(.subnetMask, [subnet.cidr.netmask])
        block.address(.broadcastAddress, [subnet.cidr.broadcast])
        if let gateway = subnet.gateway { block.address(.router, [gateway]) }
        if !subnet.dnsServers.isEmpty { block.address(.domainNameServer, subnet.dnsServers) }
        if !c.domain.isEmpty { block.option(.domainName, Array(c.domain.utf8)) }
        if let name = host.effectiveHostname { block.option(.hostName, Array(name.utf8)) }
        if let mtu = c.mtu { block.option(.interfaceMTU, [UInt8(truncatingIfNeeded: mtu >> 8), UInt8(truncatingIfNeeded: mtu)]) }
        let routes = classlessRoutes(subnet)
        if !routes.isEmpty {
            block.option(.classlessStaticRoute, routes)
            block.option(.microsoftClasslessStaticRoute, routes)
        }
        return block
    }

    /// RFC 3442 encoding of the subnet's host routes: width, the significant octets of the
    /// destination, the router. With host routes and a gateway the default route is added
    /// (a client that takes option 121 ignores option 3; Neutron's agent does the same).
    static func classlessRoutes(_ subnet: DHCPConfiguration.Subnet) -> [UInt8] {
        var routes = subnet.hostRoutes
        if !routes.isEmpty, let gateway = subnet.gateway, !routes.contains(where: { $0.destination.length == 0 }) {
            routes.append(.init(destination: IPv4Prefix(.any, length: 0)!, nextHop: gateway))
        }
        var out: [UInt8] = []
        for route in routes {
            out.append(UInt8(route.destination.length))
            let d = route.destination.address.rawValue
            for i in 0..<((route.destination.length + 7) / 8) { out.append(UInt8(truncatingIfNeeded: d >> (24 - 8 * i))) }
            let r = route.nextHop.rawValue
            out += [UInt8(truncatingIfNeeded: r >> 24), UInt8(truncatingIfNeeded: r >> 16),
                    UInt8(truncatingIfNeeded: r >> 8), UInt8(truncatingIfNeeded: r)]
        }
        return out
    }

    /// Appends one option; data longer than 255 bytes is cut (validation refuses such configurations first).
    mutating func option(_ code: DHCPOption, _ data: [UInt8]) {
        let data = data.prefix(255)
        bytes.append(code.rawValue)
        bytes.append(UInt8(data.count))
        bytes += data
    }

    mutating func u32(_ code: DHCPOption, _ value: UInt32) {
        option(code, [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                      UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }

    mutating func address(_ code: DHCPOption, _ addresses: [IPv4Address]) {
        var data: [UInt8] = []
        for a in addresses {
            let o = a.octets
            data += [o.0, o.1, o.2, o.3]
        }
        option(code, data)
    }
}
