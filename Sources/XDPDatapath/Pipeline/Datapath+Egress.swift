#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// Egress: the last step of every output. NORMAL's outputs pass `egressVLAN` (the VLAN
// rules of Datapath+NormalAction.swift) first; the flow interpreter has already written
// its VLAN changes into the frame (`writeKeyToFrame`). `egress` then does what the port's
// `EgressKind` says, and `drop` is where a frame that goes nowhere is freed and counted.
extension Datapath {
    /// NORMAL's egress VLAN step: rewrites the outer tag for port `outID` in place (pop
    /// toward an access port, push toward a trunk, rewrite the VID), then `egress`.
    @inlinable
    func egressVLAN(address: UInt64, length: UInt32, tagged: Bool, vlan: UInt16, to outID: PortID, now: UInt64, depth: Int,
                    tunnelID: UInt64) {
        let out = fastPorts[outID]
        var address = address
        var length = length
        let wantTag = out.tag == 0 && vlan != 0
        if tagged && !wantTag {
            // Pop: slide the two MAC addresses over the tag.
            let frame = pool.pointer(address)
            memmove(frame + 4, frame, 12)
            address &+= 4
            length &-= 4  // a tagged frame is at least 18 bytes (parser checked)
        } else if !tagged && wantTag {
            guard pool.headroom(before: address) >= 4 else { drop(address, reason: .noHeadroom, port: outID); return }
            address &-= 4  // headroom checked above
            length &+= 4
            let frame = pool.pointer(address)
            memmove(frame, frame + 4, 12)
            frame.storeBE16(0x8100, at: 12)
            frame.storeBE16(vlan, at: 14)
        } else if tagged {
            let frame = pool.pointer(address)
            let tci = frame.loadBE16(at: 14)
            if tci & 0x0FFF != vlan { frame.storeBE16(tci & 0xF000 | vlan, at: 14) }
        }
        egress(address: address, length: length, to: outID, now: now, depth: depth, tunnelID: tunnelID)
    }

    /// Sends a frame out of port `outID` as it is (VLAN handling is the caller's), by the
    /// port's `EgressKind`: queued for transmission, handed to the peer bridge of a patch
    /// port, tunnelled, or handed to the service behind a service port.
    @inlinable
    func egress(address: UInt64, length: UInt32, to outID: PortID, now: UInt64, depth: Int, tunnelID: UInt64) {
        let out = fastPorts[outID]
        switch out.egressKind {
        case .queue:
            guard out.txQueue.append(address: address, length: length) else {
                drop(address, reason: .txQueueFull, port: outID)
                return
            }
            out.counters.transmitted(bytes: length)
        case .patch:
            out.counters.transmitted(bytes: length)
            guard depth < Datapath.maximumPatchDepth else { drop(address, reason: .patchLoop, port: outID); return }
            // Like OVS, crossing a patch port does not carry tunnel metadata.
            ingress(address: address, length: length, port: out.peerID, now: now, depth: depth &+ 1, tunnelID: 0)
        case .tunnel:
            tunnelEgress(address: address, length: length, to: outID, tunnelID: tunnelID, now: now, depth: depth)
        case .service:
            deliverToService(address: address, length: length, to: outID, depth: depth, now: now)
        }
    }

    /// Frees a frame, counting why on port `port`.
    @inlinable
    func drop(_ address: UInt64, reason: DropReason, port: PortID) {
        fastPorts[port].counters.dropped(reason)
        pool.free(address)
    }

    @inlinable
    func drop(_ address: UInt64, reason: DropReason, on port: DatapathPort) {
        drop(address, reason: reason, port: port.id)
    }
}
