/// The configuration `xdpswitch` uses when none is given: the reference design's compute node in
/// VLAN and GRE mode — two VMs on local VLAN 1 and one on VLAN 2 in br-int, a trunk
/// to br-eth1 (`int-br-eth1`), and the patch pair to br-tun.
public enum DefaultConfiguration {
    /// The configuration as YAML text, for `SwitchConfiguration.parse(yaml:file:)`.
    public static let yaml = """
    bridges:
      - name: br-int
        ports:
          - {name: qvo-vm1, tag: 1}
          - {name: qvo-vm2, tag: 1}
          - {name: qvo-vm3, tag: 2}
          - {name: int-br-eth1, trunks: [1, 2]}
          - {name: patch-tun, type: patch, options: {peer: patch-int}}
      - name: br-tun
        ports:
          - {name: patch-int, type: patch, options: {peer: patch-tun}}
          - {name: tun-uplink}
    """
}
