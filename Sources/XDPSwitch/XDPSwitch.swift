/// XDPSwitch: the datapath of OpenStack Neutron's Open vSwitch agent as a Swift library
/// with an AF_XDP fast path.
///
/// `import XDPSwitch` brings every layer an embedding program needs:
/// - `XDPPacket`: header views, checksums, frame builders;
/// - `XDPPcap`: pcap and pcapng files (libpcap);
/// - `XDPDatapath`: bridges, ports, batches, the frame pool, statistics;
/// - `XDPModel`: the YAML configuration and its compilation into a `Datapath`;
/// - `XDPControl`: the control socket and the registry of its commands;
/// - `AFXDP`: sockets, UMEM and the engine that forwards real interfaces' traffic
///   (`AFXDPEngine(configuration:options:)` builds it from a `SwitchConfiguration`).
@_exported import XDPPacket
@_exported import XDPPcap
@_exported import XDPDatapath
@_exported import XDPModel
@_exported import XDPControl
@_exported import AFXDP
