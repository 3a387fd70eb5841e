#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// The frames a DHCP server sends: replies built into a new pool frame, and ARP answers
// for its addresses built in place.
//
// A reply (RFC 2131 §4.3.1 table 3): op BOOTREPLY, the request's xid, flags, giaddr and
// chaddr; `ciaddr` from a DHCPREQUEST/DHCPINFORM for a DHCPACK, else 0; `yiaddr` the
// host's address (0 for a DHCPNAK and a DHCPACK to a DHCPINFORM); secs, siaddr, sname and
// file zero. Options: 53, then the host's encoded options (54 only for a DHCPNAK; no
// 51/58/59 for a DHCPINFORM), then the request's option 61 when it still fits the
// 548-byte message every client accepts, then 255, zero padded to 300 bytes (RFC 1542
// §3.3). IPv4 from the server's address on the host's subnet, TTL 64, UDP 67 → 68, both
// checksums computed.
extension DHCPResponder {
    @inline(never)
    @usableFromInline
    func reply(_ type: DHCPMessageType, to m: UnsafeMutableRawPointer, host: DHCPHostEntry, yiaddr: UInt32, ciaddr: UInt32,
               options request: DHCPRequestOptions, inform: Bool = false) {
        guard canReply, let start = pool.allocate() else { counters[Self.eventSlots &+ DHCPDropReason.noBuffer.rawValue] &+= 1; return }
        let address = start &+ UInt64(pool.headroom)
        let p = pool.pointer(address)
        let b = p + 42  // Ethernet 14, IPv4 20, UDP 8
        memset(b, 0, BOOTPLayout.options)
        b.storeBE32(0x0201_0600, at: BOOTPLayout.op)  // BOOTREPLY, Ethernet, 6-byte addresses, 0 hops
        b.storeBE32(m.loadBE32(at: BOOTPLayout.xid), at: BOOTPLayout.xid)
        let flags = m.loadBE16(at: BOOTPLayout.flags)
        b.storeBE16(flags, at: BOOTPLayout.flags)
        b.storeBE32(ciaddr, at: BOOTPLayout.ciaddr)
        b.storeBE32(yiaddr, at: BOOTPLayout.yiaddr)
        b.storeBE32(m.loadBE32(at: BOOTPLayout.giaddr), at: BOOTPLayout.giaddr)
        memcpy(b + BOOTPLayout.chaddr, m + BOOTPLayout.chaddr, 16)
        b.storeBE32(BOOTPLayout.magicCookie, at: BOOTPLayout.cookie)

        var o = BOOTPLayout.options
        b.storeBE8(DHCPOption.messageType.rawValue, at: o)
        b.storeBE8(1, at: o &+ 1)
        b.storeBE8(type.rawValue, at: o &+ 2)
        o &+= 3
        let block = table.pointee.options + host.optionsOffset  // the table `host` came from: no update runs meanwhile
        if type == .nak {
            memcpy(b + o, block, host.leaseStart)  // the server identifier
            o &+= host.leaseStart
        } else if inform {
            memcpy(b + o, block, host.leaseStart)
            o &+= host.leaseStart
            let rest = host.leaseStart &+ host.leaseLength
            memcpy(b + o, block + rest, host.optionsLength &- rest)
            o &+= host.optionsLength &- rest
        } else {
            memcpy(b + o, block, host.optionsLength)
            o &+= host.optionsLength
        }
        // RFC 6842: echo the client identifier; o + 1 (end) stays within the 548-byte message.
        if request.clientIDLength > 0, o &+ request.clientIDLength &+ 1 <= 576 &- 28 {
            memcpy(b + o, m + request.clientIDOffset, request.clientIDLength)
            o &+= request.clientIDLength
        }
        b.storeBE8(DHCPOption.end.rawValue, at: o)
        o &+= 1
        if o < BOOTPLayout.minimumMessage {
            memset(b + o, 0, BOOTPLayout.minimumMessage &- o)
            o = BOOTPLayout.minimumMessage
        }

        // Where it goes (RFC 2131 §4.1, giaddr being 0).
        let client = m.loadBE48(at: BOOTPLayout.chaddr)
        var destination = UInt32.max
        var destinationMAC = MACAddress.broadcast.rawValue
        if type != .nak {
            if ciaddr != 0 {
                destination = ciaddr
                destinationMAC = client
            } else if flags & BOOTPLayout.broadcastFlag == 0, yiaddr != 0 {
                destination = yiaddr
                destinationMAC = client
            }
        }

        let udpLength = 8 &+ o
        let total = 20 &+ udpLength
        p.storeBE48(destinationMAC, at: 0)
        p.storeBE48(mac, at: 6)
        p.storeBE16(EtherType.ipv4.rawValue, at: 12)
        let ip = p + 14
        ip.storeBE16(0x4500, at: 0)
        ip.storeBE16(UInt16(truncatingIfNeeded: total), at: 2)
        ip.storeBE32(0, at: 4)                  // id 0, no flags
        ip.storeBE16(0x4011, at: 8)             // TTL 64, UDP
        ip.storeBE16(0, at: 10)
        ip.storeBE32(host.serverAddress, at: 12)
        ip.storeBE32(destination, at: 16)
        IPv4Header(ip).updateChecksum()
        let udp = ip + 20
        udp.storeBE16(BOOTPLayout.serverPort, at: 0)
        udp.storeBE16(BOOTPLayout.clientPort, at: 2)
        udp.storeBE16(UInt16(truncatingIfNeeded: udpLength), at: 4)
        udp.storeBE16(0, at: 6)
        udp.storeBE16(Checksum.udp(source: IPv4Address(rawValue: host.serverAddress), destination: IPv4Address(rawValue: destination),
                                   datagram: udp, length: udpLength), at: 6)
        switch type {
        case .offer: count(.offers)
        case .nak: count(.naks)
        default: count(.acks)
        }
        enqueue(address: address, length: UInt32(14 &+ total))
    }

    /// Answers an ARP request for one of the server's addresses in place (a unicast reply
    /// from the server's MAC, padded to 60 bytes); anything else is dropped.
    @inline(never)
    @usableFromInline
    func receiveARP(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata) {
        let l3 = Int(meta.l3Offset)
        let arp = ARPHeader(frame + l3)
        let senderMAC = arp.senderHardwareAddress.rawValue
        guard meta.tpSrc == ARPOperation.request.rawValue, isServerAddress(meta.nwDst), meta.nwSrc != meta.nwDst,
              meta.dlDst == mac || meta.dlDst == MACAddress.broadcast.rawValue,
              ARPResponder.isValidSender(senderMAC) else {
            drop(address, .arpNotForServer)
            return
        }
        let replyLength = ARPResponder.answerInPlace(frame, length: length, l3: l3, senderMAC: senderMAC, senderIP: meta.nwSrc,
                                                     mac: mac, address: meta.nwDst)
        count(.arpReplies)
        enqueue(address: address, length: replyLength)
    }
}
