#if canImport(Glibc)
import Glibc
#endif
import CXDP

/// Whether an interface accepts frames redirected to it by an XDP program
/// (`NETDEV_XDP_ACT_NDO_XMIT`), asked of the kernel's `netdev` generic-netlink family
/// (Linux 6.3+). A veth has it only while its peer has NAPI (an XDP program, or GRO on):
/// otherwise the kernel drops what is redirected to it. The fast path installs no entry
/// toward an interface without it. Control path: two netlink round trips.
enum NetdevXDPFeatures {
    /// `NETDEV_XDP_ACT_NDO_XMIT` of `enum netdev_xdp_act`.
    static let ndoXmit: UInt64 = 1 << 2

    /// The interface's XDP feature bits, or nil when the kernel cannot say (no `netdev`
    /// family, or no such interface).
    static func features(ifindex: Int32) -> UInt64? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 16 /* NETLINK_GENERIC */)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // CTRL_CMD_GETFAMILY (3) of GENL_ID_CTRL (0x10), CTRL_ATTR_FAMILY_NAME (2) "netdev".
        guard let family = request(fd, type: 0x10, command: 3, attribute: 2, payload: Array("netdev".utf8) + [0],
                                   answer: 1 /* CTRL_ATTR_FAMILY_ID */).map({ UInt16(truncatingIfNeeded: $0) })
        else { return nil }
        // NETDEV_CMD_DEV_GET (1), NETDEV_A_DEV_IFINDEX (1) → NETDEV_A_DEV_XDP_FEATURES (3).
        var index = UInt32(bitPattern: ifindex)
        let payload = withUnsafeBytes(of: &index) { Array($0) }
        return request(fd, type: family, command: 1, attribute: 1, payload: payload, answer: 3)
    }

    /// Sends one generic-netlink request with one attribute and returns the integer value
    /// of attribute `answer` in the reply.
    private static func request(_ fd: Int32, type: UInt16, command: UInt8, attribute: UInt16, payload: [UInt8],
                                answer: UInt16) -> UInt64? {
        let attributeLength = 4 + payload.count
        let length = 16 + 4 + (attributeLength + 3) & ~3
        var message = [UInt8](repeating: 0, count: length)
        message.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: type, toByteOffset: 4, as: UInt16.self)
            raw.storeBytes(of: UInt16(1), toByteOffset: 6, as: UInt16.self)          // NLM_F_REQUEST
            raw.storeBytes(of: UInt32(1), toByteOffset: 8, as: UInt32.self)          // sequence
            raw[16] = command
            raw[17] = 1                                                              // version
            raw.storeBytes(of: UInt16(attributeLength), toByteOffset: 20, as: UInt16.self)
            raw.storeBytes(of: attribute, toByteOffset: 22, as: UInt16.self)
            for (i, byte) in payload.enumerated() { raw[24 + i] = byte }
        }
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        let sent = withUnsafePointer(to: &kernel) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        guard sent == message.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 8192)
        let received = recv(fd, &reply, reply.count, 0)
        guard received >= 20 else { return nil }
        return reply.withUnsafeBytes { raw -> UInt64? in
            let messageLength = min(Int(raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)), received)
            guard raw.loadUnaligned(fromByteOffset: 4, as: UInt16.self) == type else { return nil }  // not NLMSG_ERROR
            var offset = 20
            while offset + 4 <= messageLength {
                let attrLength = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
                let attrType = raw.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3FFF
                guard attrLength >= 4, offset + attrLength <= messageLength else { return nil }
                if attrType == answer {
                    switch attrLength - 4 {
                    case 2: return UInt64(raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self))
                    case 4: return UInt64(raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                    case 8: return raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt64.self)
                    default: return nil
                    }
                }
                offset += (attrLength + 3) & ~3
            }
            return nil
        }
    }
}
