/// The reference design's network node in YAML, built from parts so that each test writes only the keys
/// that are its own; shared by the YAML tests (XDPModelTests) and the control-socket tests
/// (XDPSwitchTests). The refusal tests name line numbers of this text: a part that gains or
/// loses a line moves every refusal after it.
public enum NetworkNodeYAML {
    /// router1's port on br-int (VLAN 1).
    public static let routerPort = "{name: qr-6a1b2c3d-4e, type: router, tag: 1}"
    /// The DHCP port of network net1 on br-int (VLAN 1).
    public static let dhcpPort = "{name: tap-3c1a2b4d-5e, type: dhcp, tag: 1, options: {network: net1}}"

    /// `bridges:` with br-int only: the VM port `vmPort` and `service` (a router's or a DHCP
    /// port), both on VLAN 1 (lines 1-5).
    public static func brInt(vmPort: String, service: String) -> String {
        """
        bridges:
          - name: br-int
            ports:
              - {name: \(vmPort), tag: 1}
              - \(service)
        """
    }

    /// br-int with `vmPort` and router1's qr- port, br-ex with the external port and router1's
    /// qg- port, and router1 with its two interfaces (qr- 10.1.0.1/24, qg- 172.24.4.227/28
    /// with `gatewayMTU`), then `keys`: more keys of router1 from line 15, indented by four.
    public static func router1(vmPort: String, gatewayMTU: Int? = nil, keys: String) -> String {
        """
        \(brInt(vmPort: vmPort, service: routerPort))
          - name: br-ex
            ports:
              - {name: eth-ext}
              - {name: qg-7f8e9d0c-1b, type: router}
        routers:
          - name: router1
            interfaces:
              - {name: qr-6a1b2c3d-4e, mac: fa:16:3e:00:00:01, address: 10.1.0.1/24}
              - {name: qg-7f8e9d0c-1b, mac: fa:16:3e:00:00:02, address: 172.24.4.227/28\(gatewayMTU.map { ", mtu: \($0)" } ?? "")}
        \(keys)
        """
    }
}
