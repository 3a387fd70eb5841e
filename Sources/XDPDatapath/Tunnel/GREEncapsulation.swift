import XDPPacket

/// GRE (RFC 2784 with the RFC 2890 key) over IPv4, the way Open vSwitch's `gre` ports
/// frame an Ethernet frame for the underlay:
///
/// ```
///  outer Ethernet (14) | IPv4 (20, DF, TTL 64, id 0) | GRE (4, +4 key) | inner Ethernet frame
///                                                       flags K, protocol 0x6558
/// ```
///
/// Encapsulation prepends the 42 (or 38 without key) bytes in the frame's headroom:
/// the inner frame is never moved. Decapsulation only moves the frame's start past the
/// outer headers.
public enum GREEncapsulation {
    /// Bytes prepended with a key: Ethernet 14 + IPv4 20 + GRE 8.
    public static let overheadWithKey = 42
    /// Bytes prepended without a key.
    public static let overheadWithoutKey = 38

    /// The length of the frame's outer headers when they have the one layout a GRE port
    /// writes — untagged IPv4 without options, GRE with no flag but K, carrying Ethernet:
    /// 38, or 42 with a key; 0 for any other frame. Only the outer headers are looked at
    /// (at least 52 bytes): not the addresses, not the IPv4 length, not whether a whole
    /// inner Ethernet header follows a key. The per-packet receive path, the fast path's
    /// recorder and its decapsulation candidates all recognise GRE with it.
    @inlinable @inline(__always)
    static func plainOuterLength(_ frame: UnsafeMutableRawPointer, length: UInt32) -> Int {
        guard length >= 52, frame.loadBE16(at: 12) == 0x0800, frame.loadBE8(at: 14) == 0x45, frame.loadBE8(at: 23) == 47,
              frame.loadBE16(at: 36) == 0x6558 else { return 0 }
        let flags = frame.loadBE16(at: 34)
        guard flags & ~GREHeader.keyPresentBit == 0 else { return 0 }
        return overheadWithoutKey &+ Int(flags >> 11)  // K (0x2000) is the key's 4 bytes
    }

    /// The addresses of one tunnel hop.
    public struct Endpoint: Sendable, Equatable {
        /// Our MAC on the underlay: the outer source.
        public var localMAC: MACAddress
        /// The MAC of the next hop toward `remoteIP` (the remote itself on one link): the outer destination.
        public var nextHopMAC: MACAddress
        /// Our underlay address: the outer IPv4 source.
        public var localIP: IPv4Address
        /// The tunnel's far end: the outer IPv4 destination.
        public var remoteIP: IPv4Address
        /// An endpoint; the MACs must already be resolved (nothing here sends ARP).
        public init(localMAC: MACAddress, nextHopMAC: MACAddress, localIP: IPv4Address, remoteIP: IPv4Address) {
            self.localMAC = localMAC
            self.nextHopMAC = nextHopMAC
            self.localIP = localIP
            self.remoteIP = remoteIP
        }

        /// Writes the outer Ethernet and IPv4 headers of a tunnel packet at `start` (34
        /// bytes): next hop ← us, IPv4 from us to the remote, version 4, IHL 5, TOS 0, id 0,
        /// DF, TTL 64, `protocol`, `ipLength` bytes in all, the header checksum.
        @inlinable
        public func writeOuterHeaders(at start: UnsafeMutableRawPointer, protocol proto: UInt8, ipLength: Int) {
            start.storeBE48(nextHopMAC.rawValue, at: 0)
            start.storeBE48(localMAC.rawValue, at: 6)
            start.storeBE16(0x0800, at: 12)
            let ip = start + 14
            ip.storeBE16(0x4500, at: 0)
            ip.storeBE16(UInt16(truncatingIfNeeded: ipLength), at: 2)
            ip.storeBE32(0x0000_4000, at: 4)  // id 0, DF
            ip.storeBE16(0x4000 | UInt16(proto), at: 8)  // TTL 64
            ip.storeBE16(0, at: 10)
            ip.storeBE32(localIP.rawValue, at: 12)
            ip.storeBE32(remoteIP.rawValue, at: 16)
            ip.storeBE16(Checksum.ipv4Header(ip, headerLength: 20), at: 10)
        }
    }

    /// Writes the outer headers in front of the `innerLength`-byte frame at `inner`
    /// (the caller checked the headroom) and returns the new start.
    @inlinable
    public static func encapsulate(inner: UnsafeMutableRawPointer, innerLength: Int, key: UInt32?,
                                   endpoint: Endpoint) -> UnsafeMutableRawPointer {
        let greLength = key == nil ? 4 : 8
        let start = inner - (34 &+ greLength)
        endpoint.writeOuterHeaders(at: start, protocol: 47, ipLength: 20 &+ greLength &+ innerLength)
        // GRE: K flag when keyed, version 0, Transparent Ethernet Bridging.
        let gre = start + 34
        gre.storeBE16(key == nil ? 0 : GREHeader.keyPresentBit, at: 0)
        gre.storeBE16(0x6558, at: 2)
        if let key { gre.storeBE32(key, at: 4) }
        return start
    }

    /// What a GRE packet to us carried.
    public struct Decapsulated: Sendable, Equatable {
        /// Offset of the inner Ethernet frame from the outer frame's start.
        public var innerOffset: Int
        /// The GRE key (the tunnel id), nil when the K bit was clear.
        public var key: UInt32?
        /// The outer IPv4 source: the tunnel's remote end.
        public var remoteIP: IPv4Address
        /// Records a decapsulation result.
        @inlinable public init(innerOffset: Int, key: UInt32?, remoteIP: IPv4Address) {
            self.innerOffset = innerOffset
            self.key = key
            self.remoteIP = remoteIP
        }
    }

    /// Why a GRE packet was refused.
    public enum Refusal: Sendable, Equatable {
        /// Reserved flags (routing, strict source route, recursion) or a version other than 0.
        case unsupportedFlags
        /// A protocol other than Transparent Ethernet Bridging (0x6558).
        case unsupportedProtocol
        /// The GRE header or the inner Ethernet header is cut off, or a checksum is wrong.
        case malformed
    }

    /// Validates the GRE header of a parsed IPv4/GRE frame (`meta.flags` has `.gre`).
    @inlinable
    public static func decapsulate(_ frame: UnsafeMutableRawPointer, length: Int,
                                   meta: PacketMetadata) -> Result<Decapsulated, RefusalError> {
        let l4 = Int(meta.l4Offset)
        let l3 = Int(meta.l3Offset)
        let end = l3 &+ Int(frame.loadBE16(at: l3 &+ 2))  // parser checked total length ≤ length
        guard GREHeader.validate(frame + l4, length: end &- l4) else { return .failure(RefusalError(.malformed)) }
        let gre = GREHeader(frame + l4)
        guard gre.isSupported else { return .failure(RefusalError(.unsupportedFlags)) }
        guard gre.protocolType.rawValue == 0x6558 else { return .failure(RefusalError(.unsupportedProtocol)) }
        let inner = l4 &+ gre.headerLength
        guard end &- inner >= 14 else { return .failure(RefusalError(.malformed)) }
        if gre.checksumPresent, !Checksum.verify(frame + l4, length: end &- l4) {
            return .failure(RefusalError(.malformed))
        }
        return .success(Decapsulated(innerOffset: inner, key: gre.keyIfPresent, remoteIP: IPv4Address(rawValue: meta.nwSrc)))
    }

    /// `Refusal` as an `Error` for `Result`.
    public struct RefusalError: Error, Sendable, Equatable {
        /// Why the packet was refused.
        public var refusal: Refusal
        /// Wraps `refusal`.
        @inlinable public init(_ refusal: Refusal) { self.refusal = refusal }
    }
}
