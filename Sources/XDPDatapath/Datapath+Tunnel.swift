#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// GRE tunnels over the underlay.
//
// Sending (a frame output to a `gre` port): choose the key (none, fixed, or the
// packet's tun_id for key=flow), find the next hop (the remote on our subnet, else the
// gateway), refuse frames that would exceed the underlay MTU once encapsulated,
// prepend Ethernet + IPv4 + GRE in the frame's headroom and queue it on the underlay
// port. When the next hop's MAC is unknown the encapsulated frame waits (bounded) and
// an ARP request goes out; the ARP answer releases the waiting frames.
//
// Receiving (a frame on the underlay port): ARP for our address is answered and its
// sender learned; GRE to our address is checked (RFC 2784/2890 flags, protocol 0x6558)
// and its inner frame enters the bridge of the `gre` port whose remote (and key) match,
// with `tun_id` = the key. Everything else on the underlay is dropped and counted.
extension Datapath {
    @inlinable
    func tunnelTransmit(address: UInt64, length: UInt32, to out: Port, tunnelID: UInt64, now: UInt64, depth: Int = 0) {
        guard let underlay, case .gre(let options) = out.type else { drop(address, reason: .portDown, on: out); return }
        let key: UInt32?
        switch options.key {
        case .none: key = nil
        case .fixed(let k): key = k
        case .flow: key = UInt32(truncatingIfNeeded: tunnelID)
        }
        let overhead = key == nil ? GREEncapsulation.overheadWithoutKey : GREEncapsulation.overheadWithKey
        guard Int(length) &+ overhead &- 14 <= underlay.configuration.mtu else {
            refuseTooBig(address: address, length: length, on: out, overhead: overhead, mtu: underlay.configuration.mtu,
                         tunnelID: tunnelID, now: now, depth: depth)
            return
        }
        guard let hop = underlay.nextHop(for: options.remoteIP.rawValue) else { drop(address, reason: .tunnelNoRoute, on: out); return }
        guard pool.headroom(before: address) >= overhead else { drop(address, reason: .noHeadroom, on: out); return }
        let mac = underlay.neighbours[hop]
        let endpoint = GREEncapsulation.Endpoint(localMAC: underlay.mac, nextHopMAC: MACAddress(rawValue: mac ?? 0),
                                                 localIP: options.localIP ?? underlay.configuration.address,
                                                 remoteIP: options.remoteIP)
        _ = GREEncapsulation.encapsulate(inner: pool.pointer(address), innerLength: Int(length), key: key, endpoint: endpoint)
        let outerAddress = address &- UInt64(overhead)  // headroom checked above
        let outerLength = length &+ UInt32(overhead)
        out.counters.transmitted(bytes: length)
        let wire = portTable[underlay.portID].takeUnretainedValue()
        guard mac != nil else {
            waitForNeighbour(hop, address: outerAddress, length: outerLength, underlay: underlay, wire: wire, now: now)
            return
        }
        guard wire.txQueue.append(address: outerAddress, length: outerLength) else {
            drop(outerAddress, reason: .txQueueFull, on: wire)
            return
        }
        wire.counters.transmitted(bytes: outerLength)
    }

    @inline(never)
    @usableFromInline
    func waitForNeighbour(_ hop: UInt32, address: UInt64, length: UInt32, underlay: Underlay, wire: Port, now: UInt64) {
        var queue = underlay.pending[hop] ?? []
        guard queue.count < underlay.configuration.pendingLimit else {
            drop(address, reason: .tunnelPendingFull, on: wire)
            return
        }
        queue.append((address, length))
        underlay.pending[hop] = queue
        if let last = underlay.lastRequest[hop], now &- last < 1_000_000_000 { return }
        underlay.lastRequest[hop] = now
        guard let frame = pool.allocate() else { wire.counters.dropped(.noBuffer); return }
        let request = frame &+ UInt64(pool.headroom)
        let p = pool.pointer(request)
        p.storeBE48(MACAddress.broadcast.rawValue, at: 0)
        p.storeBE48(underlay.mac.rawValue, at: 6)
        p.storeBE16(0x0806, at: 12)
        writeARP(p + 14, operation: 1, senderMAC: underlay.mac.rawValue, senderIP: underlay.configuration.address.rawValue,
                 targetMAC: 0, targetIP: hop)
        memset(p + 42, 0, 18)  // pad to the 60-byte minimum
        if wire.txQueue.append(address: request, length: 60) {
            wire.counters.transmitted(bytes: 60)
            underlay.arpRequests &+= 1
        } else {
            drop(request, reason: .txQueueFull, on: wire)
        }
    }

    @inlinable
    func writeARP(_ p: UnsafeMutableRawPointer, operation: UInt16, senderMAC: UInt64, senderIP: UInt32, targetMAC: UInt64, targetIP: UInt32) {
        p.storeBE16(1, at: 0)
        p.storeBE16(0x0800, at: 2)
        p.storeBE8(6, at: 4)
        p.storeBE8(4, at: 5)
        p.storeBE16(operation, at: 6)
        p.storeBE48(senderMAC, at: 8)
        p.storeBE32(senderIP, at: 14)
        p.storeBE48(targetMAC, at: 18)
        p.storeBE32(targetIP, at: 24)
    }

    @inlinable
    func receiveFromUnderlay(address: UInt64, length: UInt32, on wire: Port, now: UInt64) {
        wire.counters.received(bytes: length)
        guard let underlay else { drop(address, reason: .underlayNotForUs, on: wire); return }
        let frame = pool.pointer(address)
        var meta = PacketMetadata()
        guard PacketParser.parse(frame, length: Int(length), into: &meta) else {
            drop(address, reason: DropReason(meta.error) ?? .truncatedEthernet, on: wire)
            return
        }
        let ours = underlay.configuration.address.rawValue
        if meta.flags.contains(.arp) {
            receiveUnderlayARP(address: address, length: length, frame: frame, meta: meta, underlay: underlay, wire: wire)
            return
        }
        guard meta.flags.contains(.gre), meta.nwDst == ours, !meta.flags.contains(.fragment), meta.vlanCount == 0 else {
            drop(address, reason: .underlayNotForUs, on: wire)
            return
        }
        switch GREEncapsulation.decapsulate(frame, length: Int(length), meta: meta) {
        case .failure(let refusal):
            let reason: DropReason
            switch refusal.refusal {
            case .unsupportedFlags: reason = .greUnsupportedFlags
            case .unsupportedProtocol: reason = .greUnsupportedProtocol
            case .malformed: reason = .greMalformed
            }
            drop(address, reason: reason, on: wire)
        case .success(let packet):
            guard let port = tunnelPort(remote: meta.nwSrc, key: packet.key, underlay: underlay) else {
                drop(address, reason: .tunnelNoPort, on: wire)
                return
            }
            let end = Int(meta.l3Offset) &+ Int(frame.loadBE16(at: Int(meta.l3Offset) &+ 2))
            receive(address: address &+ UInt64(packet.innerOffset), length: UInt32(end &- packet.innerOffset), on: port,
                    now: now, depth: 0, tunnelID: UInt64(packet.key ?? 0))
        }
    }

    /// The `gre` port accepting packets from `remote` with `key`.
    @inlinable
    func tunnelPort(remote: UInt32, key: UInt32?, underlay: Underlay) -> Port? {
        for i in 0..<ports.count {
            let port = portTable[i].takeUnretainedValue()
            guard port.transmitKind == 2, case .gre(let options) = port.type, options.remoteIP.rawValue == remote else { continue }
            switch options.key {
            case .none: if key == nil { return port }
            case .fixed(let k): if key == k { return port }
            case .flow: if key != nil { return port }
            }
        }
        return nil
    }

    @inline(never)
    @usableFromInline
    func receiveUnderlayARP(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata,
                            underlay: Underlay, wire: Port) {
        let ours = underlay.configuration.address.rawValue
        let l3 = Int(meta.l3Offset)
        let senderMAC = frame.loadBE48(at: l3 &+ 8)
        let validSender = meta.nwSrc != 0 && meta.nwSrc != ours && senderMAC & 0x0100_0000_0000 == 0 && senderMAC != 0
        // RFC 826's merge: a sender we already know is updated whoever the ARP is for
        // (a gratuitous ARP after a MAC change); a new one is added only when it talks
        // to us. Static neighbours are never overwritten.
        let isStatic = underlay.staticNeighbours.contains(meta.nwSrc)
        if validSender, !isStatic, meta.nwDst != ours, underlay.neighbours[meta.nwSrc] != nil {
            underlay.neighbours[meta.nwSrc] = senderMAC
        }
        guard meta.nwDst == ours, validSender else {
            drop(address, reason: .underlayNotForUs, on: wire)
            return
        }
        if !isStatic { underlay.neighbours[meta.nwSrc] = senderMAC }
        if let waiting = underlay.pending.removeValue(forKey: meta.nwSrc) {
            for w in waiting {
                pool.pointer(w.address).storeBE48(senderMAC, at: 0)
                if wire.txQueue.append(address: w.address, length: w.length) {
                    wire.counters.transmitted(bytes: w.length)
                } else {
                    drop(w.address, reason: .txQueueFull, on: wire)
                }
            }
        }
        guard meta.tpSrc == 1 else { pool.free(address); return }  // a reply: learned, done
        // Answer the request in place.
        frame.storeBE48(senderMAC, at: 0)
        frame.storeBE48(underlay.mac.rawValue, at: 6)
        writeARP(frame + l3, operation: 2, senderMAC: underlay.mac.rawValue, senderIP: ours, targetMAC: senderMAC, targetIP: meta.nwSrc)
        let replyLength = max(l3 &+ 28, 60)
        if Int(length) < replyLength { memset(frame + Int(length), 0, replyLength &- Int(length)) }
        if wire.txQueue.append(address: address, length: UInt32(replyLength)) {
            wire.counters.transmitted(bytes: UInt32(replyLength))
            underlay.arpReplies &+= 1
        } else {
            drop(address, reason: .txQueueFull, on: wire)
        }
    }
}
