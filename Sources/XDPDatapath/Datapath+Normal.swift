#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// The per-batch pipeline: parse → ingress VLAN → learn → NORMAL forwarding → egress
// VLAN → transmit queue (or the peer bridge, for a patch port).
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
    /// Runs every frame of `batch`, received on the port with id `portID`, through the
    /// pipeline, and empties the batch. Each frame ends on some port's `txQueue` or in
    /// the pool. `now` is nanoseconds on the caller's monotonic clock.
    @inlinable
    public func process(_ batch: PacketBatch, from portID: Int, now: UInt64) {
        let inPort = portTable[portID].takeUnretainedValue()
        let count = batch.count
        let addresses = batch.addresses
        let lengths = batch.lengths
        for i in 0..<count {
            receive(address: addresses[i], length: lengths[i], on: inPort, now: now, depth: 0)
        }
        batch.removeAll()
    }

    /// One frame entering the bridge of `inPort` (from outside, through a patch port, or
    /// decapsulated from a tunnel with `tunnelID`).
    @inlinable
    func receive(address: UInt64, length: UInt32, on inPort: Port, now: UInt64, depth: Int, tunnelID: UInt64 = 0) {
        if inPort.bridgeID < 0 {
            receiveFromUnderlay(address: address, length: length, on: inPort, now: now)
            return
        }
        let frame = pool.pointer(address)
        var meta = PacketMetadata()
        inPort.counters.received(bytes: length)
        guard PacketParser.parse(frame, length: Int(length), into: &meta) else {
            drop(address, reason: DropReason(meta.error) ?? .truncatedEthernet, on: inPort)
            return
        }
        if meta.flags.contains(.unknownEtherType) { inPort.counters.unknownEtherType() }

        // Ingress VLAN.
        let tagged = meta.vlanCount > 0
        let vlan: UInt16
        if inPort.tag != 0 {
            guard !tagged || meta.vlanID == 0 else { drop(address, reason: .taggedOnAccessPort, on: inPort); return }
            vlan = inPort.tag
        } else {
            vlan = tagged ? meta.vlanID : 0
            guard inPort.carries(vlan) else { drop(address, reason: .vlanNotAllowed, on: inPort); return }
        }

        let bridge = bridgeTable[inPort.bridgeID].takeUnretainedValue()
        let table = bridge.macTable
        if meta.dlSrc & 0x0100_0000_0000 == 0 {
            if table.learn(meta.dlSrc, vlan: vlan, port: inPort.id, now: now) != nil { inPort.counters.macMoved() }
        }

        // Known unicast: one output.
        if meta.dlDst & 0x0100_0000_0000 == 0, let outID = table.lookup(meta.dlDst, vlan: vlan, now: now) {
            guard outID != inPort.id else { drop(address, reason: .destinationIsInputPort, on: inPort); return }
            let out = portTable[outID].takeUnretainedValue()
            transmit(address: address, length: length, tagged: tagged, vlan: vlan, to: out, from: inPort, now: now,
                     depth: depth, tunnelID: tunnelID)
            return
        }

        // Flood within the VLAN: copies for all but the last eligible port.
        inPort.counters.flooded()
        var last = -1
        for j in 0..<bridge.portCount {
            let id = bridge.portList[j]
            if id != inPort.id && portTable[id].takeUnretainedValue().carries(vlan) { last = id }
        }
        guard last >= 0 else { drop(address, reason: .noOutputPort, on: inPort); return }
        for j in 0..<bridge.portCount {
            let id = bridge.portList[j]
            if id == last { break }
            let out = portTable[id].takeUnretainedValue()
            guard id != inPort.id, out.carries(vlan) else { continue }
            guard let copy = pool.allocate() else { inPort.counters.dropped(.noBuffer); continue }
            let copyAddress = copy &+ UInt64(pool.headroom)
            memcpy(pool.pointer(copyAddress), frame, Int(length))
            transmit(address: copyAddress, length: length, tagged: tagged, vlan: vlan, to: out, from: inPort, now: now,
                     depth: depth, tunnelID: tunnelID)
        }
        transmit(address: address, length: length, tagged: tagged, vlan: vlan,
                 to: portTable[last].takeUnretainedValue(), from: inPort, now: now, depth: depth, tunnelID: tunnelID)
    }

    /// Rewrites the outer tag for `out` in place and queues the frame (or hands it to
    /// the peer bridge of a patch port).
    @inlinable
    func transmit(address: UInt64, length: UInt32, tagged: Bool, vlan: UInt16, to out: Port, from inPort: Port,
                  now: UInt64, depth: Int, tunnelID: UInt64) {
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
            guard pool.headroom(before: address) >= 4 else { drop(address, reason: .noHeadroom, on: out); return }
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
        if out.transmitKind == 2 {
            tunnelTransmit(address: address, length: length, to: out, tunnelID: tunnelID, now: now)
            return
        }
        if out.transmitKind == 1 {
            out.counters.transmitted(bytes: length)
            guard depth < Datapath.maximumPatchDepth else { drop(address, reason: .patchLoop, on: out); return }
            receive(address: address, length: length, on: portTable[out.peerID].takeUnretainedValue(), now: now, depth: depth &+ 1)
            return
        }
        guard out.txQueue.append(address: address, length: length) else {
            drop(address, reason: .txQueueFull, on: out)
            return
        }
        out.counters.transmitted(bytes: length)
    }

    @inlinable
    func drop(_ address: UInt64, reason: DropReason, on port: Port) {
        port.counters.dropped(reason)
        pool.free(address)
    }
}
