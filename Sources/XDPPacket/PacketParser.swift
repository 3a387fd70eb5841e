/// Parse-once flow-key extraction.
///
/// `PacketParser.parse` walks a frame from the Ethernet header down to L4 exactly once
/// and writes what it finds into a `PacketMetadata`. Every later stage (VLAN handling,
/// MAC learning, classification, conntrack) reads the metadata instead of the frame.
///
/// Hostile input is normal input: every read is preceded by a length check against
/// the frame's length, and a frame that lies about itself (IHL < 5, total length past
/// the end, truncated tags or L4 headers, more than two VLAN tags) stops the parse
/// with a `ParseError` the caller counts as a drop reason. An EtherType this layer
/// does not know is not an error: the frame is an L2 frame and `unknownEtherType` is
/// set, because a bridge forwards what it does not understand.
public enum PacketParser {
    /// Parses the `frame.count` bytes of `frame` (Ethernet header first, no FCS) and
    /// returns what it found; `error` says why a malformed frame stopped the parse.
    ///
    /// The read-only entry for tools and tests: it runs the datapath's own parse
    /// (`parse(_:length:into:)`), which only reads, so both give the same metadata and the
    /// same `ParseError` for every frame.
    public static func parse(_ frame: UnsafeRawBufferPointer) -> PacketMetadata {
        var meta = PacketMetadata()
        guard let base = frame.baseAddress, frame.count > 0 else {
            meta.error = .truncatedEthernet
            return meta
        }
        parse(UnsafeMutableRawPointer(mutating: base), length: frame.count, into: &meta)
        return meta
    }

    /// Parses a frame held as bytes (`[UInt8]`, `ArraySlice<UInt8>`, `Data`, ...) and
    /// returns what it found; bytes not stored contiguously are copied first.
    public static func parse(_ frame: some Collection<UInt8>) -> PacketMetadata {
        if let meta = frame.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0)) }) { return meta }
        return Array(frame).withUnsafeBytes { parse($0) }
    }

    /// Parses the frame of `length` bytes at `frame` into `meta` (which is reset first).
    /// Returns `meta.error == .none`.
    @inlinable
    @discardableResult
    public static func parse(_ frame: UnsafeMutableRawPointer, length: Int, into meta: inout PacketMetadata) -> Bool {
        meta = PacketMetadata()
        guard length >= 14 else { meta.error = .truncatedEthernet; return false }
        meta.dlDst = frame.loadBE48(at: 0)
        meta.dlSrc = frame.loadBE48(at: 6)
        var offset = 12
        var type = frame.loadBE16(at: offset)
        // VLAN tags: at most two (802.1ad outer + 802.1Q inner, or two 802.1Q).
        while type == 0x8100 || type == 0x88A8 {
            guard length >= offset + 6 else { meta.error = .truncatedEthernet; return false }
            let tci = frame.loadBE16(at: offset + 2)
            switch meta.vlanCount {
            case 0: meta.outerTPID = type; meta.outerTCI = tci
            case 1: meta.innerTCI = tci
            default: meta.error = .tooManyVLANTags; return false
            }
            meta.vlanCount &+= 1  // bounded by the switch above
            offset += 4
            type = frame.loadBE16(at: offset)
        }
        offset += 2
        meta.etherType = type
        meta.l3Offset = UInt16(truncatingIfNeeded: offset)
        switch type {
        case 0x0800: return parseIPv4(frame, length: length, l3: offset, into: &meta)
        case 0x86DD: return parseIPv6(frame, length: length, l3: offset, into: &meta)
        case 0x0806: return parseARP(frame, length: length, l3: offset, into: &meta)
        default:
            meta.flags.insert(.unknownEtherType)
            return true
        }
    }

    @inlinable
    static func parseARP(_ frame: UnsafeMutableRawPointer, length: Int, l3: Int, into meta: inout PacketMetadata) -> Bool {
        // Ethernet/IPv4 ARP is 28 bytes: htype 1, ptype 0x0800, hlen 6, plen 4.
        guard length >= l3 + 28, frame.loadBE16(at: l3) == 1, frame.loadBE16(at: l3 + 2) == 0x0800,
              frame.loadBE8(at: l3 + 4) == 6, frame.loadBE8(at: l3 + 5) == 4
        else { meta.error = .badARP; return false }
        meta.flags.insert(.arp)
        let op = frame.loadBE16(at: l3 + 6)
        meta.tpSrc = op
        meta.nwProto = UInt8(truncatingIfNeeded: op)
        meta.nwSrc = frame.loadBE32(at: l3 + 14)
        meta.nwDst = frame.loadBE32(at: l3 + 24)
        return true
    }

    @inlinable
    static func parseIPv4(_ frame: UnsafeMutableRawPointer, length: Int, l3: Int, into meta: inout PacketMetadata) -> Bool {
        guard length >= l3 + 20 else { meta.error = .badIPv4Header; return false }
        let verIHL = frame.loadBE8(at: l3)
        let headerLength = Int(verIHL & 0x0F) * 4
        guard verIHL >> 4 == 4, headerLength >= 20, length >= l3 + headerLength
        else { meta.error = .badIPv4Header; return false }
        let totalLength = Int(frame.loadBE16(at: l3 + 2))
        guard totalLength >= headerLength, l3 + totalLength <= length
        else { meta.error = .badIPv4Length; return false }
        meta.flags.insert(.ipv4)
        if headerLength > 20 { meta.flags.insert(.ipOptions) }
        if l3 + totalLength < length { meta.flags.insert(.trailingBytes) }
        meta.nwTOS = frame.loadBE8(at: l3 + 1)
        meta.nwTTL = frame.loadBE8(at: l3 + 8)
        meta.nwProto = frame.loadBE8(at: l3 + 9)
        meta.nwSrc = frame.loadBE32(at: l3 + 12)
        meta.nwDst = frame.loadBE32(at: l3 + 16)
        let fragment = frame.loadBE16(at: l3 + 6)
        if fragment & 0x3FFF != 0 {  // MF set or a non-zero offset
            meta.flags.insert(.fragment)
            if fragment & 0x1FFF != 0 { meta.flags.insert(.laterFragment); return true }
        }
        return parseL4(frame, end: l3 + totalLength, l4: l3 + headerLength, proto: meta.nwProto, v6: false, into: &meta)
    }

    @inlinable
    static func parseIPv6(_ frame: UnsafeMutableRawPointer, length: Int, l3: Int, into meta: inout PacketMetadata) -> Bool {
        guard length >= l3 + 40, frame.loadBE8(at: l3) >> 4 == 6 else { meta.error = .badIPv6Header; return false }
        let end = l3 + 40 + Int(frame.loadBE16(at: l3 + 4))
        guard end <= length else { meta.error = .badIPv6Header; return false }
        meta.flags.insert(.ipv6)
        if end < length { meta.flags.insert(.trailingBytes) }
        meta.nwTOS = UInt8(truncatingIfNeeded: frame.loadBE16(at: l3) >> 4)
        meta.nwTTL = frame.loadBE8(at: l3 + 7)
        meta.ipv6SrcHi = frame.loadBE64(at: l3 + 8)
        meta.ipv6SrcLo = frame.loadBE64(at: l3 + 16)
        meta.ipv6DstHi = frame.loadBE64(at: l3 + 24)
        meta.ipv6DstLo = frame.loadBE64(at: l3 + 32)
        var next = frame.loadBE8(at: l3 + 6)
        var offset = l3 + 40
        // Extension headers (RFC 8200 §4): hop-by-hop 0, routing 43, fragment 44,
        // destination options 60, AH 51. At most 8 are walked; a longer chain is hostile.
        for _ in 0..<8 {
            switch next {
            case 0, 43, 60:
                guard offset + 8 <= end else { meta.error = .badIPv6Header; return false }
                next = frame.loadBE8(at: offset)
                offset += (Int(frame.loadBE8(at: offset + 1)) + 1) * 8
            case 51:
                guard offset + 8 <= end else { meta.error = .badIPv6Header; return false }
                next = frame.loadBE8(at: offset)
                offset += (Int(frame.loadBE8(at: offset + 1)) + 2) * 4
            case 44:
                guard offset + 8 <= end else { meta.error = .badIPv6Header; return false }
                meta.flags.insert(.fragment)
                let fragmentOffset = frame.loadBE16(at: offset + 2) >> 3
                next = frame.loadBE8(at: offset)
                offset += 8
                if fragmentOffset != 0 {
                    meta.nwProto = next
                    meta.flags.insert(.laterFragment)
                    return true
                }
            default:
                guard offset <= end else { meta.error = .badIPv6Header; return false }
                meta.nwProto = next
                return parseL4(frame, end: end, l4: offset, proto: next, v6: true, into: &meta)
            }
        }
        meta.error = .badIPv6Header
        return false
    }

    @inlinable
    static func parseL4(_ frame: UnsafeMutableRawPointer, end: Int, l4: Int, proto: UInt8, v6: Bool,
                        into meta: inout PacketMetadata) -> Bool {
        switch proto {
        case 6:  // TCP: 20 bytes at least, data offset within the packet.
            guard l4 + 20 <= end else { meta.error = .truncatedL4; return false }
            let offsetFlags = frame.loadBE16(at: l4 + 12)
            let headerLength = Int(offsetFlags >> 12) * 4
            guard headerLength >= 20, l4 + headerLength <= end else { meta.error = .truncatedL4; return false }
            meta.flags.insert(.tcp)
            meta.tpSrc = frame.loadBE16(at: l4)
            meta.tpDst = frame.loadBE16(at: l4 + 2)
            meta.tcpFlags = offsetFlags & 0x0FFF
        case 17:  // UDP: the length field must cover the header and stay inside the packet
            // (in a first fragment it covers the whole datagram, so only the header must).
            guard l4 + 8 <= end else { meta.error = .truncatedL4; return false }
            let udpLength = Int(frame.loadBE16(at: l4 + 4))
            guard udpLength >= 8 || (v6 && udpLength == 0), l4 + udpLength <= end || meta.flags.contains(.fragment)
            else { meta.error = .truncatedL4; return false }
            meta.flags.insert(.udp)
            meta.tpSrc = frame.loadBE16(at: l4)
            meta.tpDst = frame.loadBE16(at: l4 + 2)
        case 1 where !v6, 58 where v6:
            guard l4 + 4 <= end else { meta.error = .truncatedL4; return false }
            meta.flags.insert(v6 ? .icmpv6 : .icmp)
            meta.tpSrc = UInt16(frame.loadBE8(at: l4))
            meta.tpDst = UInt16(frame.loadBE8(at: l4 + 1))
        case 47:
            guard l4 + 4 <= end else { meta.error = .truncatedL4; return false }
            meta.flags.insert(.gre)
        default:
            return true
        }
        meta.l4Offset = UInt16(truncatingIfNeeded: l4)
        return true
    }
}
