#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// GRE and VXLAN tunnels over the underlay.
//
// Sending (a frame output to a `gre` or `vxlan` port): choose the key (none, fixed, or the
// packet's tun_id for key=flow; for VXLAN its low 24 bits are the VNI), find the next hop
// (the remote on our subnet, else the gateway), refuse frames that would exceed the
// underlay MTU once encapsulated, prepend Ethernet + IPv4 + GRE (or + UDP + VXLAN, the UDP
// source port from a hash of the inner flow: VXLANEncapsulation.swift) in the frame's
// headroom and queue it on the underlay port. When the next hop's MAC is unknown the
// encapsulated frame waits (bounded) and an ARP request goes out; the ARP answer releases
// the waiting frames.
//
// Receiving (a frame on the underlay port): ARP for our address is answered and its
// sender learned; GRE or VXLAN (UDP to a vxlan port's port) to our address inside a frame
// unicast to our MAC, with a correct outer IPv4 header checksum, is checked (RFC 2784/2890
// flags and protocol 0x6558; RFC 7348 flags and reserved fields as Linux and OVS check
// them, the UDP length and a non-zero UDP checksum) and its inner frame enters the bridge
// of the tunnel port whose remote (UDP port) and key match, with `tun_id` = the key or VNI
// (0 without one). Everything else on the underlay is dropped and counted.
//
// The per-packet code reads the tunnels from `tunnels` (TunnelTable.swift: plain values,
// the outer headers prebuilt) and the ports from `fastPorts`: no class field, no
// retain/release, no dictionary. The underlay's dictionaries and waiting queues are only
// touched on the cold paths (ARP, a next hop without MAC).
extension Datapath {
    /// Encapsulates the frame output to tunnel port `outID` (`gre` or `vxlan`) and queues it
    /// on the underlay.
    @inlinable
    func tunnelEgress(address: UInt64, length: UInt32, to outID: PortID, tunnelID: UInt64, now: UInt64, depth: Int = 0) {
        let table = tunnel.table
        let slot = table.underlayPortID >= 0 ? Int(table.slots.unsafelyUnwrapped[outID.index]) : -1
        guard slot >= 0 else { drop(address, reason: .portDown, port: outID); return }
        let tunnel = table.endpoints.unsafelyUnwrapped + slot
        let overhead = tunnel.pointee.overhead
        guard Int(length) &+ overhead &- 14 <= table.mtu else {
            refuseTooBig(address: address, length: length, outID: outID, overhead: overhead, mtu: table.mtu,
                         tunnelID: tunnelID, now: now, depth: depth)
            return
        }
        guard tunnel.pointee.hasRoute else { drop(address, reason: .tunnelNoRoute, port: outID); return }
        guard pool.headroom(before: address) >= overhead else { drop(address, reason: .noHeadroom, port: outID); return }
        let key = tunnel.pointee.keyMode == TunnelEndpoint.fixedKey ? tunnel.pointee.fixedKey : UInt32(truncatingIfNeeded: tunnelID)
        let outerAddress = address &- UInt64(overhead)  // headroom checked above
        let outerLength = length &+ UInt32(overhead)
        if tunnel.pointee.isVXLAN {
            // A port without a key sends VNI 0 (GRE sends no key at all).
            tunnel.pointee.writeVXLAN(to: pool.pointer(outerAddress), innerLength: Int(length),
                                      vni: tunnel.pointee.keyMode == TunnelEndpoint.noKey ? 0 : key,
                                      sourcePort: VXLANEncapsulation.sourcePort(hash: VXLANEncapsulation.flowHash(pool.pointer(address),
                                                                                                                length: Int(length))))
        } else {
            tunnel.pointee.write(to: pool.pointer(outerAddress), innerLength: Int(length), key: key)
        }
        fastPorts[outID].counters.transmitted(bytes: length)
        let wireID = PortID(table.underlayPortID)
        guard tunnel.pointee.nextHopKnown else {
            waitForNeighbour(tunnel.pointee.nextHop, address: outerAddress, length: outerLength, wireID: wireID, now: now)
            return
        }
        let wire = fastPorts[wireID]
        guard wire.txQueue.append(address: outerAddress, length: outerLength) else {
            drop(outerAddress, reason: .txQueueFull, port: wireID)
            return
        }
        wire.counters.transmitted(bytes: outerLength)
    }

    @inline(never)
    @usableFromInline
    func waitForNeighbour(_ hop: UInt32, address: UInt64, length: UInt32, wireID: PortID, now: UInt64) {
        guard let underlay else { drop(address, reason: .portDown, port: wireID); return }
        let wire = portTable[wireID.index].takeUnretainedValue()
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
        let requestLength = ARPResponder.writeRequest(pool.pointer(request), mac: underlay.mac.rawValue,
                                                      address: underlay.configuration.address.rawValue, target: hop)
        if wire.txQueue.append(address: request, length: requestLength) {
            wire.counters.transmitted(bytes: requestLength)
            underlay.arpRequests &+= 1
        } else {
            drop(request, reason: .txQueueFull, on: wire)
        }
    }

    /// Ingress of a frame received on the underlay port `wireID`: ARP for our address,
    /// or GRE / VXLAN whose inner frame enters `ingress` as received on its tunnel port.
    @inlinable
    func underlayIngress(address: UInt64, length: UInt32, wireID: PortID, now: UInt64) {
        fastPorts[wireID].counters.received(bytes: length)
        let table = tunnel.table
        guard table.underlayPortID >= 0 else { drop(address, reason: .underlayNotForUs, port: wireID); return }
        let frame = pool.pointer(address)
        // The common case is recognised from the bytes alone: to our MAC, untagged IPv4
        // without options, not a fragment, GRE to our address, no GRE flags but K, carrying
        // Ethernet (`plainGREForUs`). The parser and `GREEncapsulation.decapsulate` would
        // accept such a frame with these same offsets; every other frame takes the general
        // path below (same checks, same drop reasons).
        if let gre = table.plainGREForUs(frame, length: length) {
            guard Checksum.verifyIPv4Header(frame + 14, headerLength: 20) else {
                drop(address, reason: .underlayBadIPv4Checksum, port: wireID)
                return
            }
            let portID = table.port(remote: frame.loadBE32(at: 26), key: gre.key)
            guard portID >= 0 else { drop(address, reason: .tunnelNoPort, port: wireID); return }
            ingress(address: address &+ UInt64(gre.outer), length: UInt32(gre.end &- gre.outer), port: PortID(portID), now: now,
                    depth: 0, tunnelID: UInt64(gre.key ?? 0))
            return
        }
        // The same for VXLAN: to our MAC, untagged IPv4 without options, not a fragment, UDP
        // to our address on the first vxlan port's UDP port, the UDP length exactly the
        // IPv4 payload, no UDP checksum, the plain VXLAN header, an inner Ethernet header.
        if length >= 64, frame.loadBE48(at: 0) == table.localMAC.unsafelyUnwrapped.pointee,
           frame.loadBE16(at: 12) == 0x0800, frame.loadBE8(at: 14) == 0x45, frame.loadBE8(at: 23) == 17,
           frame.loadBE16(at: 20) & 0x3FFF == 0, frame.loadBE32(at: 30) == table.address,
           UInt32(frame.loadBE16(at: 36)) == table.vxlanPort, frame.loadBE16(at: 40) == 0,
           frame.loadBE32(at: 42) == VXLANHeader.validVNIFlag, frame.loadBE8(at: 49) == 0 {
            let end = 14 &+ Int(frame.loadBE16(at: 16))
            if end <= Int(length), Int(frame.loadBE16(at: 38)) == end &- 34, end >= 64 {
                guard Checksum.verifyIPv4Header(frame + 14, headerLength: 20) else {
                    drop(address, reason: .underlayBadIPv4Checksum, port: wireID)
                    return
                }
                let vni = frame.loadBE32(at: 46) >> 8
                let portID = table.port(remote: frame.loadBE32(at: 26), key: vni,
                                        selector: TunnelEndpoint.vxlanSelector(port: UInt16(truncatingIfNeeded: table.vxlanPort)))
                guard portID >= 0 else { drop(address, reason: .tunnelNoPort, port: wireID); return }
                ingress(address: address &+ 50, length: UInt32(end &- 50), port: PortID(portID), now: now, depth: 0,
                        tunnelID: UInt64(vni))
                return
            }
        }
        var meta = PacketMetadata()
        guard PacketParser.parse(frame, length: Int(length), into: &meta) else {
            drop(address, reason: DropReason(meta.error) ?? .truncatedEthernet, port: wireID)
            return
        }
        if meta.flags.contains(.arp) {
            receiveUnderlayARP(address: address, length: length, frame: frame, meta: meta, wireID: wireID)
            return
        }
        let isVXLAN = meta.flags.contains(.udp) && table.isVXLANPort(meta.tpDst)
        guard meta.flags.contains(.gre) || isVXLAN, meta.nwDst == table.address, !meta.flags.contains(.fragment),
              meta.vlanCount == 0, meta.flags.contains(.ipv4) else {
            drop(address, reason: .underlayNotForUs, port: wireID)
            return
        }
        // Open vSwitch's tunnel port map matches the bridge's own MAC exactly (lib/tnl-ports.c):
        // GRE or VXLAN inside a frame for another host, broadcast or multicast is not ours.
        guard meta.dlDst == table.localMAC.unsafelyUnwrapped.pointee else {
            drop(address, reason: .underlayNotOurMAC, port: wireID)
            return
        }
        let l3 = Int(meta.l3Offset)
        guard Checksum.verifyIPv4Header(frame + l3, headerLength: Int(frame.loadBE8(at: l3) & 0x0F) &* 4) else {
            drop(address, reason: .underlayBadIPv4Checksum, port: wireID)
            return
        }
        if isVXLAN {
            receiveVXLAN(address: address, length: length, frame: frame, meta: meta, wireID: wireID, now: now)
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
            drop(address, reason: reason, port: wireID)
        case .success(let packet):
            let portID = table.port(remote: meta.nwSrc, key: packet.key)
            guard portID >= 0 else {
                drop(address, reason: .tunnelNoPort, port: wireID)
                return
            }
            let end = Int(meta.l3Offset) &+ Int(frame.loadBE16(at: Int(meta.l3Offset) &+ 2))
            ingress(address: address &+ UInt64(packet.innerOffset), length: UInt32(end &- packet.innerOffset), port: PortID(portID),
                    now: now, depth: 0, tunnelID: UInt64(packet.key ?? 0))
        }
    }

    /// A VXLAN packet to us that passed the underlay's checks (our MAC and address, the
    /// outer IPv4 checksum, a vxlan port's UDP port): its headers are checked and its inner
    /// frame enters the bridge of the `vxlan` port whose remote, UDP port and VNI match.
    @inlinable
    func receiveVXLAN(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata, wireID: PortID,
                      now: UInt64) {
        switch VXLANEncapsulation.decapsulate(frame, length: Int(length), meta: meta) {
        case .failure(let refusal):
            drop(address, reason: refusal.refusal == .badFlags ? .vxlanBadFlags : .vxlanMalformed, port: wireID)
        case .success(let packet):
            let portID = tunnel.table.port(remote: meta.nwSrc, key: packet.vni, selector: TunnelEndpoint.vxlanSelector(port: meta.tpDst))
            guard portID >= 0 else {
                drop(address, reason: .tunnelNoPort, port: wireID)
                return
            }
            ingress(address: address &+ UInt64(packet.innerOffset), length: UInt32(packet.innerLength), port: PortID(portID),
                    now: now, depth: 0, tunnelID: UInt64(packet.vni))
        }
    }

    @inline(never)
    @usableFromInline
    func receiveUnderlayARP(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata, wireID: PortID) {
        guard let underlay else { drop(address, reason: .underlayNotForUs, port: wireID); return }
        let wire = portTable[wireID.index].takeUnretainedValue()
        let ours = underlay.configuration.address.rawValue
        let l3 = Int(meta.l3Offset)
        let senderMAC = frame.loadBE48(at: l3 &+ 8)
        let validSender = meta.nwSrc != 0 && meta.nwSrc != ours && ARPResponder.isValidSender(senderMAC)
        // RFC 826's merge: a sender we already know is updated whoever the ARP is for
        // (a gratuitous ARP after a MAC change); a new one is added only when it talks
        // to us (`Underlay.learn`: static neighbours are never overwritten, a full table
        // refuses new ones).
        if validSender, meta.nwDst != ours, underlay.neighbours.lookup(meta.nwSrc) != nil {
            underlay.learn(meta.nwSrc, mac: senderMAC, askedFor: false)
        }
        guard meta.nwDst == ours, validSender else {
            drop(address, reason: .underlayNotForUs, on: wire)
            return
        }
        underlay.learn(meta.nwSrc, mac: senderMAC, askedFor: underlay.pending[meta.nwSrc] != nil)
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
        let replyLength = ARPResponder.answerInPlace(frame, length: length, l3: l3, senderMAC: senderMAC, senderIP: meta.nwSrc,
                                                     mac: underlay.mac.rawValue, address: ours)
        if wire.txQueue.append(address: address, length: replyLength) {
            wire.counters.transmitted(bytes: replyLength)
            underlay.arpReplies &+= 1
        } else {
            drop(address, reason: .txQueueFull, on: wire)
        }
    }
}
