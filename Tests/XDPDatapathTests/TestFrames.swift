import XDPPacket

/// Ethernet frames as bytes for the L2 tests: addresses, optional tags, a type and a
/// payload. (IP-level frames come from the packet layer's builders.)
enum TestFrame {
    static func mac(_ text: String) -> MACAddress { MACAddress(text)! }

    static func ethernet(dst: String, src: String, tags: [(tpid: UInt16, tci: UInt16)] = [], type: UInt16 = 0x88B5,
                         payloadLength: Int = 46) -> [UInt8] {
        var bytes: [UInt8] = []
        func be48(_ v: UInt64) { for s in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
        func be16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
        be48(mac(dst).rawValue)
        be48(mac(src).rawValue)
        for tag in tags { be16(tag.tpid); be16(tag.tci) }
        be16(type)
        for i in 0..<payloadLength { bytes.append(UInt8(truncatingIfNeeded: i)) }
        return bytes
    }

    static func tagged(dst: String, src: String, vlan: UInt16, pcp: UInt16 = 0) -> [UInt8] {
        ethernet(dst: dst, src: src, tags: [(0x8100, pcp << 13 | vlan)])
    }

    /// The outer VLAN id of a frame, nil when untagged.
    static func vlan(of frame: [UInt8]) -> UInt16? {
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        guard type == 0x8100 || type == 0x88A8 else { return nil }
        return (UInt16(frame[14]) << 8 | UInt16(frame[15])) & 0x0FFF
    }

    /// The frame with its outer tag removed.
    static func untag(_ frame: [UInt8]) -> [UInt8] {
        vlan(of: frame) == nil ? frame : Array(frame[0..<12] + frame[16...])
    }
}
