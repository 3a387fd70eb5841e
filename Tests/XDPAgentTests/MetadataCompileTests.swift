import Testing
import XDPAgent
import XDPDatapath
import XDPModel
import XDPPacket

/// The compiler's part of the metadata service (CompileOptions.metadata): the metadata port
/// on br-int and the on-link route to 169.254.169.254 in the DHCP options.
@Suite struct MetadataCompileTests {
    static let metadataOn = CompileOptions(metadata: true)
    static let metadataPort = "md" + ReferenceCloud.net1.prefix(11)

    @Test func metadataPortAndHostRouteOnlyWithTheOption() throws {
        let (_, on) = try Compiled.configuration(ReferenceCloud.networkNode, options: Self.metadataOn)
        let port = try #require(Compiled.port(on, Self.metadataPort), "md + 11 characters of the network id on br-int")
        #expect(port.type == .system && port.tag == 1, "a system interface as access port on net1's local VLAN")
        let brInt = try #require(on.datapath.bridges.first { $0.name == "br-int" })
        #expect(brInt.ports.contains { $0.name == Self.metadataPort })
        #expect(on.securityGroups == nil, "the metadata port is not filtered (no ports: entry)")
        let subnet = try #require(on.datapath.dhcp.first?.subnets.first)
        #expect(subnet.hostRoutes == [DHCPConfiguration.HostRoute(destination: IPv4Prefix(IPv4Address(169, 254, 169, 254), length: 32)!,
                                                                  nextHop: .any)])

        let (_, off) = try Compiled.configuration(ReferenceCloud.networkNode)
        #expect(Compiled.port(off, Self.metadataPort) == nil)
        #expect(off.datapath.dhcp.first?.subnets.first?.hostRoutes == [])

        // A compute node serves no DHCP: no metadata port, whatever the option.
        let (_, compute) = try Compiled.configuration(ReferenceCloud.compute1, options: Self.metadataOn)
        #expect(!compute.datapath.bridges.flatMap(\.ports).contains { $0.name.hasPrefix("md") })
    }

    @Test func aSubnetsOwnMetadataRouteIsKept() throws {
        var view = ReferenceCloud.networkNode
        view.networks[0].subnets[0].hostRoutes = [HostView.Route(destination: "169.254.169.254/32", nexthop: "10.1.0.3"),
                                                  HostView.Route(destination: "10.9.0.0/16", nexthop: "10.1.0.9")]
        let (_, config) = try Compiled.configuration(view, options: Self.metadataOn)
        let routes = try #require(config.datapath.dhcp.first?.subnets.first?.hostRoutes)
        #expect(routes.map { "\($0.destination) via \($0.nextHop)" } == ["169.254.169.254/32 via 10.1.0.3", "10.9.0.0/16 via 10.1.0.9"])
    }

    /// A VM on compute1 asks for an address over GRE; the offer's option 121 carries the
    /// on-link metadata route (next hop 0.0.0.0) and then the default route (RFC 3442: a
    /// client taking option 121 ignores option 3), and option 249 the same.
    @Test func dhcpOfferCarriesTheOnLinkMetadataRoute() throws {
        let dp = try Compiled.datapath(ReferenceCloud.networkNode, options: Self.metadataOn)
        var underlay = try Underlay(dp)
        dp.inject(underlay.gre(from: ReferenceCloud.compute1IP, key: 2, inner: Self.discover(from: MACAddress(ReferenceCloud.vm1MAC)!)),
                  into: underlay.port, now: DatapathInstant(nanoseconds: 1_000_000_000))
        let out = underlay.answerARP(now: DatapathInstant(nanoseconds: 1_000_100_000)).compactMap(GREFrame.init)
        let offer = try #require(out.first { $0.destination == IPv4Address(172, 16, 0, 1) }, "\(dp.portStatistics())")
        let options = Self.options(ofDHCP: offer.inner)
        let expected: [UInt8] = [32, 169, 254, 169, 254, 0, 0, 0, 0,  // 169.254.169.254/32 on-link
                                 0, 10, 1, 0, 1]                        // default via the gateway
        #expect(options[121] == expected)
        #expect(options[249] == expected)
        #expect(options[53] == [2], "a DHCPOFFER")
    }

    /// DHCPDISCOVER from `mac`, untagged, broadcast.
    static func discover(from mac: MACAddress) -> [UInt8] {
        var bootp = [UInt8](repeating: 0, count: 236)
        bootp[0] = 1; bootp[1] = 1; bootp[2] = 6
        bootp[4] = 0x56; bootp[5] = 0x78
        withUnsafeBytes(of: mac.rawValue.bigEndian) { bootp.replaceSubrange(28..<34, with: $0[2..<8]) }
        let options: [UInt8] = [99, 130, 83, 99, 53, 1, 1, 255]
        return FrameBuilder().ethernet(source: mac, destination: .broadcast)
            .ipv4(source: .any, destination: .broadcast).udp(sourcePort: 68, destinationPort: 67).payload(bootp + options).build()
    }

    /// The options of a DHCP frame (Ethernet + 20-byte IPv4 + UDP + BOOTP + cookie), by code.
    static func options(ofDHCP frame: [UInt8]) -> [UInt8: [UInt8]] {
        var out: [UInt8: [UInt8]] = [:]
        var i = 14 + 20 + 8 + 236 + 4
        while i < frame.count, frame[i] != 255 {
            if frame[i] == 0 { i += 1; continue }
            guard i + 1 < frame.count else { break }
            let length = Int(frame[i + 1])
            guard i + 2 + length <= frame.count else { break }
            out[frame[i]] = Array(frame[i + 2..<i + 2 + length])
            i += 2 + length
        }
        return out
    }
}
