import XDPDatapath
import XDPPacket

// The tunnel underlay on AF_XDP: its interface is served like any system port (the
// datapath's underlay port has bridgeID -1), and the datapath speaks for the interface
// with the interface's own MAC unless the configuration names one.
extension AFXDPEngine {
    /// Sets `underlay.mac` from its interface when the configuration gave no `mac`.
    static func adoptInterfaceMAC(_ underlay: Underlay) throws(AFXDPError) {
        guard underlay.configuration.mac == nil else { return }
        underlay.mac = MACAddress(rawValue: try NetworkInterface.macAddress(of: underlay.configuration.interface))
    }
}
