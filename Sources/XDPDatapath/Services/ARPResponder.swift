#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

/// The ARP frames of everything in the datapath that owns an IPv4 address — a router
/// interface, a DHCP server, the tunnel underlay — written once: a request answered in
/// place, a broadcast request for a next hop, and which senders may be learned or
/// answered. Each owner keeps its own decisions (which addresses it answers for, its
/// neighbour table, its counters); this is the wire format they share. Cold path.
enum ARPResponder {
    /// The reply's length: the ARP packet after `l3`, padded to Ethernet's 60-byte minimum.
    static func replyLength(l3: Int) -> Int { max(l3 &+ ARPHeader.minimumLength, 60) }

    /// Whether `mac` may be the sender of an ARP packet we learn or answer: unicast and
    /// not all zeros.
    @inline(__always)
    static func isValidSender(_ mac: UInt64) -> Bool { mac & 0x0100_0000_0000 == 0 && mac != 0 }

    /// Turns the ARP request of `length` bytes at `frame` (ARP header at `l3`, sent by
    /// `senderMAC`/`senderIP`) into the reply "`address` is at `mac`", in place: Ethernet
    /// addresses swapped, padded with zeros. Returns the reply's length.
    static func answerInPlace(_ frame: UnsafeMutableRawPointer, length: UInt32, l3: Int, senderMAC: UInt64, senderIP: UInt32,
                              mac: UInt64, address: UInt32) -> UInt32 {
        frame.storeBE48(senderMAC, at: 0)
        frame.storeBE48(mac, at: 6)
        let arp = ARPHeader(frame + l3)
        arp.operation = .reply
        arp.senderHardwareAddress = MACAddress(rawValue: mac)
        arp.senderProtocolAddress = IPv4Address(rawValue: address)
        arp.targetHardwareAddress = MACAddress(rawValue: senderMAC)
        arp.targetProtocolAddress = IPv4Address(rawValue: senderIP)
        let reply = replyLength(l3: l3)
        if Int(length) < reply { memset(frame + Int(length), 0, reply &- Int(length)) }
        return UInt32(reply)
    }

    /// Writes the broadcast request "who has `target`, tell `address`" from `mac` at `p`
    /// (60 bytes, padded). Returns its length.
    static func writeRequest(_ p: UnsafeMutableRawPointer, mac: UInt64, address: UInt32, target: UInt32) -> UInt32 {
        p.storeBE48(MACAddress.broadcast.rawValue, at: 0)
        p.storeBE48(mac, at: 6)
        p.storeBE16(EtherType.arp.rawValue, at: 12)
        let arp = ARPHeader(p + 14)
        arp.hardwareType = 1
        arp.protocolType = .ipv4
        arp.hardwareLength = 6
        arp.protocolLength = 4
        arp.operation = .request
        arp.senderHardwareAddress = MACAddress(rawValue: mac)
        arp.senderProtocolAddress = IPv4Address(rawValue: address)
        arp.targetHardwareAddress = .zero
        arp.targetProtocolAddress = IPv4Address(rawValue: target)
        memset(p + 42, 0, 18)  // pad to the 60-byte minimum
        return 60
    }
}
