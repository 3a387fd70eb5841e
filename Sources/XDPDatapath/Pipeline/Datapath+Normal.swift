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
        let storage = batch.storage
        let count = storage.countPointer.pointee
        // Touch every frame's first bytes before working on any: the kernel wrote them on
        // another CPU, and independent loads overlap their cache misses (one miss's wait
        // for the whole batch instead of one per frame). The byte is kept so the loads stay.
        var touched: UInt8 = 0
        for i in 0..<count { touched |= pool.pointer(storage.addresses[i]).load(as: UInt8.self) }
        frameTouch.pointee = touched
        for i in 0..<count {
            receive(address: storage.addresses[i], length: storage.lengths[i], port: portID, now: now, depth: 0, tunnelID: 0)
        }
        storage.countPointer.pointee = 0
        tick(now: now)
    }

    /// Housekeeping between batches: runs the services (router timers, and frames they
    /// emitted enter their bridges), installs learned flows and, once a second, expires
    /// flows past their timeouts. `process` calls it; a transport whose ports are idle
    /// calls it from its idle loop so timeouts fire without traffic.
    @inlinable
    public func tick(now: UInt64) {
        if services.outputCount > 0 { runServices(now: now) }
        if !openFlow.learned.pointee.isEmpty { installLearned(now: now) }
        if connectionTracking.tracker.pointee != nil { conntrackHousekeeping(now: now) }
        if now &- openFlow.lastExpiry.pointee >= 1_000_000_000 {
            openFlow.lastExpiry.pointee = now
            if anyTimeouts { expireFlows(now: now) }
        }
    }

    /// One frame entering the bridge of `inPort` (from outside, through a patch port, or
    /// decapsulated from a tunnel with `tunnelID`).
    @inlinable
    func receive(address: UInt64, length: UInt32, on inPort: Port, now: UInt64, depth: Int, tunnelID: UInt64 = 0) {
        receive(address: address, length: length, port: inPort.id, now: now, depth: depth, tunnelID: tunnelID)
    }

    @inlinable
    func receive(address: UInt64, length: UInt32, port inID: Int, now: UInt64, depth: Int, tunnelID: UInt64) {
        let inPort = fastPorts[inID]
        if inPort.bridgeID < 0 {
            receiveFromUnderlay(address: address, length: length, wireID: inID, now: now)
            return
        }
        let frame = pool.pointer(address)
        // Parsed straight into the depth's slot: service ports and the ct() action read
        // this parse instead of parsing again (no copy of it either).
        let slot = frameMeta + depth
        slot.pointee = PacketMetadata()
        inPort.counters.received(bytes: length)
        guard PacketParser.parse(frame, length: Int(length), into: &slot.pointee) else {
            drop(address, reason: DropReason(slot.pointee.error) ?? .truncatedEthernet, port: inID)
            return
        }
        if slot.pointee.flags.contains(.unknownEtherType) { inPort.counters.unknownEtherType() }
        if openFlow.active[inPort.bridgeID] {
            runFlows(address: address, length: length, meta: slot, inID: inID, bridgeID: inPort.bridgeID, depth: depth,
                     tunnelID: tunnelID, now: now)
            return
        }
        if tracer.active.pointee {
            recordTrace(bridgeID: inPort.bridgeID, table: nil, index: -1, key: FlowKey(slot.pointee, inPort: ofports[inID]))
        }
        normalForward(address: address, length: length, dlSrc: slot.pointee.dlSrc, dlDst: slot.pointee.dlDst,
                      tagged: slot.pointee.vlanCount > 0, tci: slot.pointee.outerTCI, inID: inID, now: now, depth: depth,
                      tunnelID: tunnelID)
    }

    /// The NORMAL action: ingress VLAN, learning, unicast or flood within the VLAN.
    /// `tci` is the outer tag's TCI when `tagged`.
    @inlinable
    func normalForward(address: UInt64, length: UInt32, dlSrc: UInt64, dlDst: UInt64, tagged: Bool, tci: UInt16,
                       inID: Int, now: UInt64, depth: Int, tunnelID: UInt64) {
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
        let macTable = l2.macTables[inPort.bridgeID]
        if dlSrc & 0x0100_0000_0000 == 0 {
            if macTable.learn(dlSrc, vlan: vlan, port: inID, now: now) >= 0 { inPort.counters.macMoved() }
        }

        // Known unicast: one output.
        if dlDst & 0x0100_0000_0000 == 0 {
            let outID = macTable.lookup(dlDst, vlan: vlan, now: now)
            if outID >= 0 {
                guard outID != inID else { drop(address, reason: .destinationIsInputPort, port: inID); return }
                transmit(address: address, length: length, tagged: tagged, vlan: vlan, to: outID, now: now,
                         depth: depth, tunnelID: tunnelID)
                return
            }
        }

        // Flood within the VLAN: copies for all but the last eligible port.
        inPort.counters.flooded()
        var last = -1
        for j in 0..<bridge.portCount {
            let id = bridge.portList[j]
            if id != inID && fastPorts[id].carries(vlan) { last = id }
        }
        guard last >= 0 else { drop(address, reason: .noOutputPort, port: inID); return }
        let frame = pool.pointer(address)
        for j in 0..<bridge.portCount {
            let id = bridge.portList[j]
            if id == last { break }
            guard id != inID, fastPorts[id].carries(vlan) else { continue }
            guard let copy = pool.allocate() else { inPort.counters.dropped(.noBuffer); continue }
            let copyAddress = copy &+ UInt64(pool.headroom)
            memcpy(pool.pointer(copyAddress), frame, Int(length))
            transmit(address: copyAddress, length: length, tagged: tagged, vlan: vlan, to: id, now: now,
                     depth: depth, tunnelID: tunnelID)
        }
        transmit(address: address, length: length, tagged: tagged, vlan: vlan, to: last, now: now, depth: depth, tunnelID: tunnelID)
    }

    /// Rewrites the outer tag for port `outID` in place and queues the frame (or hands it
    /// to the peer bridge of a patch port, or to the tunnel of a gre port).
    @inlinable
    func transmit(address: UInt64, length: UInt32, tagged: Bool, vlan: UInt16, to outID: Int, now: UInt64, depth: Int, tunnelID: UInt64) {
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
        send(address: address, length: length, to: outID, now: now, depth: depth, tunnelID: tunnelID)
    }

    @inlinable
    func drop(_ address: UInt64, reason: DropReason, port: Int) {
        fastPorts[port].counters.dropped(reason)
        pool.free(address)
    }

    @inlinable
    func drop(_ address: UInt64, reason: DropReason, on port: Port) {
        drop(address, reason: reason, port: port.id)
    }
}
