#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// The NORMAL action (the L2 stage): ingress VLAN → learn → unicast or flood within the
// VLAN → `egressVLAN` for each output port (Datapath+Egress.swift).
//
// VLAN rules follow an OVS bridge's NORMAL action:
// - an access port (`tag: N`) accepts untagged and priority-tagged (VID 0) frames and
//   puts them in VLAN N; a frame tagged with another VID is dropped;
// - a trunk port accepts frames whose outer VID (0 when untagged) is in `trunks`;
// - on egress, an access port sends frames untagged, a trunk sends them tagged with
//   the VLAN (untagged for VLAN 0). Tags are pushed and popped in place: a push moves
//   the 12 address bytes 4 bytes into the frame's headroom, a pop moves them forward;
// - learning is per (MAC, VLAN); broadcast, multicast and unknown unicast flood to every
//   other port carrying the VLAN. A flood makes one copy per extra port; the original
//   frame goes to the last port.
// The outer tag is the one the bridge acts on: an 802.1ad (QinQ) frame on a trunk is
// switched by its S-VLAN and an access port pops only the outer tag.
extension Datapath {
    /// The NORMAL action: ingress VLAN, learning, unicast or flood within the VLAN.
    /// `tci` is the outer tag's TCI when `tagged`.
    @inlinable
    func normalAction(address: UInt64, length: UInt32, dlSrc: UInt64, dlDst: UInt64, tagged: Bool, tci: UInt16,
                       inID: PortID, now: UInt64, depth: Int, tunnelID: UInt64) {
        let inPort = fastPorts[inID]
        // Ingress VLAN.
        let vlan: UInt16
        if inPort.tag != 0 {
            guard !tagged || tci & 0x0FFF == 0 else { drop(address, reason: .taggedOnAccessPort, port: inID); return }
            vlan = inPort.tag
        } else {
            vlan = tagged ? tci & 0x0FFF : 0
            guard inPort.carries(vlan) else { drop(address, reason: .vlanNotAllowed, port: inID); return }
        }

        let bridge = fastBridges[inPort.bridgeID]
        let macTable = l2.macTables[inPort.bridgeID.index]
        if dlSrc & 0x0100_0000_0000 == 0 {
            // A move, or a MAC the table had no entry for: NORMAL's answer for it changed (a
            // flood the fast path repeats depends on its destination having no entry).
            let previous = macTable.learn(dlSrc, vlan: vlan, port: inID.index, now: now)
            if previous != -1 {
                if previous >= 0 { inPort.counters.macMoved() }
                fastPath.macChanged.pointee = true
            }
        }

        // Known unicast: one output.
        if dlDst & 0x0100_0000_0000 == 0 {
            let learned = macTable.lookup(dlDst, vlan: vlan, now: now)
            if learned >= 0 {
                let outID = PortID(learned)
                guard outID != inID else { drop(address, reason: .destinationIsInputPort, port: inID); return }
                egressVLAN(address: address, length: length, tagged: tagged, vlan: vlan, to: outID, now: now,
                           depth: depth, tunnelID: tunnelID)
                return
            }
        }

        // Flood within the VLAN: copies for all but the last eligible port.
        inPort.counters.flooded()
        var lastIndex = -1
        for j in 0..<bridge.portCount {
            let id = PortID(bridge.portList[j])
            if id != inID && fastPorts[id].carries(vlan) { lastIndex = id.index }
        }
        guard lastIndex >= 0 else { drop(address, reason: .noOutputPort, port: inID); return }
        let last = PortID(lastIndex)
        let frame = pool.pointer(address)
        for j in 0..<bridge.portCount {
            let id = PortID(bridge.portList[j])
            if id == last { break }
            guard id != inID, fastPorts[id].carries(vlan) else { continue }
            guard let copy = pool.allocate() else { inPort.counters.dropped(.noBuffer); continue }
            let copyAddress = copy &+ UInt64(pool.headroom)
            memcpy(pool.pointer(copyAddress), frame, Int(length))
            egressVLAN(address: copyAddress, length: length, tagged: tagged, vlan: vlan, to: id, now: now,
                       depth: depth, tunnelID: tunnelID)
        }
        egressVLAN(address: address, length: length, tagged: tagged, vlan: vlan, to: last, now: now, depth: depth,
                   tunnelID: tunnelID)
    }
}
