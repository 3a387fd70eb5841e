#if canImport(Glibc)
import Glibc
#endif
import CXDPShim

/// Control-path facts about a network interface of the calling thread's namespace.
public enum NetworkInterface {
    /// The interface index of `name`.
    /// - Throws: `AFXDPError(call: "if_nametoindex", errno: ENODEV, interface: name)`.
    public static func index(of name: String) throws(AFXDPError) -> Int32 {
        guard name.utf8.count < Int(IF_NAMESIZE) else {
            throw AFXDPError(call: "if_nametoindex", errno: ENAMETOOLONG, interface: name)
        }
        let index = if_nametoindex(name)
        guard index != 0 else { throw AFXDPError(call: "if_nametoindex", errno: errno == 0 ? ENODEV : errno, interface: name) }
        return Int32(index)
    }

    /// The hardware (MAC) address of `name`, as the 48 low bits. Uses `SIOCGIFHWADDR`, so
    /// it answers for the calling thread's network namespace.
    /// - Throws: `AFXDPError` naming `socket` or `ioctl(SIOCGIFHWADDR)`.
    public static func macAddress(of name: String) throws(AFXDPError) -> UInt64 {
        guard name.utf8.count < Int(IF_NAMESIZE) else {
            throw AFXDPError(call: "ioctl(SIOCGIFHWADDR)", errno: ENAMETOOLONG, interface: name)
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AFXDPError(call: "socket", errno: errno, interface: name) }
        defer { Glibc.close(fd) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (i, byte) in name.utf8.enumerated() { raw[i] = byte }
        }
        guard ioctl(fd, UInt(SIOCGIFHWADDR), &request) == 0 else {
            throw AFXDPError(call: "ioctl(SIOCGIFHWADDR)", errno: errno, interface: name)
        }
        return withUnsafeBytes(of: request.ifr_ifru.ifru_hwaddr.sa_data) { raw in
            raw.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }

    /// Rx queues of `name` (ethtool channels), 1 when the driver does not say.
    public static func rxQueueCount(of name: String) -> Int {
        Int(cxdp_rx_queue_count(name))
    }

    /// Raises RLIMIT_MEMLOCK to infinity: UMEM pages and BPF maps count against it unless
    /// the process has CAP_IPC_LOCK, and the default (8 MB) fails UMEM registration with
    /// ENOBUFS. Keeps the current limit when it cannot be raised (not root); the failure
    /// then shows up at the call that needs the memory.
    @discardableResult
    public static func raiseMemlockLimit() -> UInt64 {
        cxdp_raise_memlock()
    }
}
