#if canImport(Glibc)
import Glibc
#endif
import CXDP
import XDPPacket
import XDPDatapath

/// The fast path's maps in the steering program (bpf/datapath/xsk_steer.bpf.c): `fp_flows`
/// (key → action), `fp_stats` (key → per-CPU packets, bytes, last use), `fp_devs` (the
/// egress interfaces `bpf_redirect_map` may send to), `fp_config` (on/off) and `fp_tunnels`
/// (the GRE packets whose inner frames are looked up as entering by a tunnel, → that id). Control path
/// only: every call is a system call. The byte layouts are the C structs' (host order,
/// MACs in wire order).
package final class FastPathMaps {
    /// Bytes of `struct fp_key`, `struct fp_action` and one CPU's `struct fp_counters`.
    static let keySize = 36
    static let actionSize = 104
    static let countersSize = 24
    /// Bytes of `struct fp_tunnel_key`.
    static let tunnelKeySize = 24
    /// The ids of tunnels (`fp_tunnel.id`) start here: no ifindex is this large.
    package static let firstTunnelID: UInt32 = 0x8000_0000

    private let flowsFD: Int32
    private let statsFD: Int32
    private let devicesFD: Int32
    private let configFD: Int32
    private let tunnelsFD: Int32
    private let possibleCPUs: Int
    private var devices: Set<Int32> = []

    init(object: BPFObject) throws(AFXDPError) {
        flowsFD = try object.mapFD("fp_flows")
        statsFD = try object.mapFD("fp_stats")
        devicesFD = try object.mapFD("fp_devs")
        configFD = try object.mapFD("fp_config")
        tunnelsFD = try object.mapFD("fp_tunnels")
        possibleCPUs = max(1, Int(libbpf_num_possible_cpus()))
    }

    /// Turns the program's fast path on or off (off: one array lookup per frame).
    package func setEnabled(_ enabled: Bool) throws(AFXDPError) {
        var key: UInt32 = 0
        var value: (UInt32, UInt32) = (enabled ? 1 : 0, 0)
        guard bpf_map_update_elem(configFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw AFXDPError(call: "bpf_map_update_elem(fp_config)", errno: errno)
        }
    }

    /// The key bytes of an entry: ingress ifindex, TCI, tagged, destination, source, then
    /// the connection's fields (zero for an Ethernet-only entry).
    package static func keyBytes(ifindex: Int32, key: FastPathKey) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: keySize)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(bitPattern: ifindex), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: key.tci, toByteOffset: 4, as: UInt16.self)
            raw.storeBytes(of: UInt16(key.tagged ? 1 : 0), toByteOffset: 6, as: UInt16.self)
            for i in 0..<6 {
                raw[8 + i] = UInt8(truncatingIfNeeded: key.dst >> UInt64(40 - 8 * i))
                raw[14 + i] = UInt8(truncatingIfNeeded: key.src >> UInt64(40 - 8 * i))
            }
            if let c = key.connection {
                raw.storeBytes(of: c.source.rawValue.bigEndian, toByteOffset: 20, as: UInt32.self)
                raw.storeBytes(of: c.destination.rawValue.bigEndian, toByteOffset: 24, as: UInt32.self)
                raw.storeBytes(of: c.sourcePort.bigEndian, toByteOffset: 28, as: UInt16.self)
                raw.storeBytes(of: c.destinationPort.bigEndian, toByteOffset: 30, as: UInt16.self)
                raw[32] = c.proto
                raw[33] = c.tos
                raw[34] = c.ttl
                raw[35] = c.tcpFlags
            }
        }
        return bytes
    }

    /// The action bytes: egress ifindex, tag operation, TCI, expiry, longest frame, then
    /// a router's rewrite and a tunnel's outer headers (`struct fp_action`).
    package static func actionBytes(egress: Int32, operation: FastPathTagOperation, tci: UInt16, expires: UInt64,
                                    maximumLength: UInt32, rewrite: FastPathRewrite? = nil,
                                    encapsulation: FastPathEncapsulation? = nil) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: actionSize)
        bytes.withUnsafeMutableBytes { raw in
            if let encapsulation, encapsulation.header.count <= 44 {
                raw.storeBytes(of: UInt16(encapsulation.header.count), toByteOffset: 56, as: UInt16.self)
                raw.storeBytes(of: encapsulation.headerSum, toByteOffset: 58, as: UInt16.self)
                for (i, byte) in encapsulation.header.enumerated() { raw[60 + i] = byte }
            }
            raw.storeBytes(of: UInt32(bitPattern: egress), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: operation.rawValue, toByteOffset: 4, as: UInt16.self)
            raw.storeBytes(of: tci, toByteOffset: 6, as: UInt16.self)
            raw.storeBytes(of: expires == .max ? 0 : expires, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: maximumLength, toByteOffset: 16, as: UInt32.self)
            guard let rewrite else { return }
            raw.storeBytes(of: rewriteMACs | rewriteL3, toByteOffset: 20, as: UInt16.self)
            raw.storeBytes(of: rewrite.ipChecksumDelta, toByteOffset: 22, as: UInt16.self)
            for i in 0..<6 {
                raw[24 + i] = UInt8(truncatingIfNeeded: rewrite.dst >> UInt64(40 - 8 * i))
                raw[30 + i] = UInt8(truncatingIfNeeded: rewrite.src >> UInt64(40 - 8 * i))
            }
            raw.storeBytes(of: rewrite.source.rawValue.bigEndian, toByteOffset: 36, as: UInt32.self)
            raw.storeBytes(of: rewrite.destination.rawValue.bigEndian, toByteOffset: 40, as: UInt32.self)
            raw.storeBytes(of: rewrite.sourcePort.bigEndian, toByteOffset: 44, as: UInt16.self)
            raw.storeBytes(of: rewrite.destinationPort.bigEndian, toByteOffset: 46, as: UInt16.self)
            raw.storeBytes(of: rewrite.transportChecksumDelta, toByteOffset: 48, as: UInt16.self)
            raw[50] = rewrite.ttl
        }
        return bytes
    }

    /// The action bytes of `decision` leaving by `egress`: its tag operation and rewrite,
    /// frames up to `maximumLength` bytes (and its router's MTU).
    package static func actionBytes(of decision: FastPathDecision, egress: Int32, expires: UInt64, maximumLength: UInt32) -> [UInt8] {
        actionBytes(egress: egress, operation: decision.tagOperation, tci: decision.outTCI, expires: expires,
                    maximumLength: min(maximumLength, decision.route?.maximumLength ?? .max,
                                       decision.encapsulation?.maximumLength ?? .max),
                    rewrite: decision.rewrite, encapsulation: decision.encapsulation)
    }

    /// `fp_action.rewrite` bits: write the MACs; write addresses, ports and TTL with their
    /// checksum deltas (after verifying the IPv4 header checksum).
    static let rewriteMACs: UInt16 = 1
    static let rewriteL3: UInt16 = 2
    /// Where the rewrite and the outer headers lie in the action bytes.
    static let rewriteBytes = 20..<actionSize

    /// The `fp_tunnels` key of the GRE packets of `decapsulation` arriving on `ifindex`.
    package static func tunnelKeyBytes(ifindex: Int32, decapsulation: FastPathDecapsulation) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: tunnelKeySize)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(bitPattern: ifindex), toByteOffset: 0, as: UInt32.self)
            for i in 0..<6 { raw[4 + i] = UInt8(truncatingIfNeeded: decapsulation.localMAC >> UInt64(40 - 8 * i)) }
            raw.storeBytes(of: UInt16(decapsulation.key == nil ? 0 : 1), toByteOffset: 10, as: UInt16.self)
            raw.storeBytes(of: decapsulation.remote.rawValue.bigEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: decapsulation.local.rawValue.bigEndian, toByteOffset: 16, as: UInt32.self)
            raw.storeBytes(of: (decapsulation.key ?? 0).bigEndian, toByteOffset: 20, as: UInt32.self)
        }
        return bytes
    }

    /// Makes the GRE packets of `key` (`tunnelKeyBytes`) enter the fast path as tunnel `id`.
    package func installTunnel(key: [UInt8], id: UInt32) throws(AFXDPError) {
        var value: (UInt32, UInt32) = (id, 0)  // struct fp_tunnel
        guard bpf_map_update_elem(tunnelsFD, key, &value, UInt64(BPF_ANY)) == 0 else {
            throw AFXDPError(call: "bpf_map_update_elem(fp_tunnels)", errno: errno)
        }
    }

    /// Every `fp_tunnels` entry the kernel holds: key bytes and tunnel id.
    package func kernelTunnels() -> [(key: [UInt8], id: UInt32)] {
        Self.keys(mapFD: tunnelsFD, keySize: Self.tunnelKeySize).compactMap { key in
            var value: (UInt32, UInt32) = (0, 0)
            return bpf_map_lookup_elem(tunnelsFD, key, &value) == 0 ? (key, value.0) : nil
        }
    }

    /// Removes every tunnel (those a previous process left too).
    package func removeTunnels() {
        for key in Self.keys(mapFD: tunnelsFD, keySize: Self.tunnelKeySize) { _ = bpf_map_delete_elem(tunnelsFD, key) }
    }

    /// Lets the program redirect to `ifindex`.
    package func addDevice(_ ifindex: Int32) throws(AFXDPError) {
        guard !devices.contains(ifindex) else { return }
        var key = UInt32(bitPattern: ifindex)
        var value = UInt32(bitPattern: ifindex)
        guard bpf_map_update_elem(devicesFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw AFXDPError(call: "bpf_map_update_elem(fp_devs)", errno: errno, detail: "ifindex \(ifindex)")
        }
        devices.insert(ifindex)
    }

    /// Forgets every egress interface.
    package func removeDevices() {
        for ifindex in devices {
            var key = UInt32(bitPattern: ifindex)
            _ = bpf_map_delete_elem(devicesFD, &key)
        }
        devices.removeAll()
    }

    /// Adds or replaces the entry `key` → `action`; a new entry's counters start at 0.
    package func install(key: [UInt8], action: [UInt8], fresh: Bool) throws(AFXDPError) {
        if fresh {
            var zero = [UInt8](repeating: 0, count: Self.countersSize * possibleCPUs)
            guard bpf_map_update_elem(statsFD, key, &zero, UInt64(BPF_ANY)) == 0 else {
                throw AFXDPError(call: "bpf_map_update_elem(fp_stats)", errno: errno)
            }
        }
        guard bpf_map_update_elem(flowsFD, key, action, UInt64(BPF_ANY)) == 0 else {
            let error = errno
            if fresh { _ = bpf_map_delete_elem(statsFD, key) }
            throw AFXDPError(call: "bpf_map_update_elem(fp_flows)", errno: error)
        }
    }

    /// The entry's counters summed over the CPUs: packets, bytes as received, last use
    /// (monotonic nanoseconds, 0 when never used).
    package func counters(key: [UInt8]) -> (packets: UInt64, bytes: UInt64, lastUsed: UInt64) {
        var values = [UInt8](repeating: 0, count: Self.countersSize * possibleCPUs)
        guard bpf_map_lookup_elem(statsFD, key, &values) == 0 else { return (0, 0, 0) }
        var packets: UInt64 = 0, bytes: UInt64 = 0, lastUsed: UInt64 = 0
        values.withUnsafeBytes { raw in
            for cpu in 0..<possibleCPUs {
                let base = cpu * Self.countersSize
                packets &+= raw.loadUnaligned(fromByteOffset: base, as: UInt64.self)
                bytes &+= raw.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self)
                lastUsed = max(lastUsed, raw.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self))
            }
        }
        return (packets, bytes, lastUsed)
    }

    /// Removes the entry so no frame takes it any more; its counters stay until `forget`.
    package func remove(key: [UInt8]) {
        _ = bpf_map_delete_elem(flowsFD, key)
    }

    /// Drops the entry's counters (after the last read).
    package func forget(key: [UInt8]) {
        _ = bpf_map_delete_elem(statsFD, key)
    }

    /// The number of entries in `fp_flows` as the kernel holds them (walks the map).
    package func kernelEntryCount() -> Int {
        Self.keys(mapFD: flowsFD, keySize: Self.keySize).count
    }

    /// Every key of the map `mapFD` (walks it).
    static func keys(mapFD: Int32, keySize: Int) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: keySize)
        while true {
            let result: Int32 = if var previous = keys.last { bpf_map_get_next_key(mapFD, &previous, &next) }
                else { bpf_map_get_next_key(mapFD, nil, &next) }
            guard result == 0 else { break }
            keys.append(next)
        }
        return keys
    }

    /// Every `fp_flows` entry the kernel holds: key and action bytes (a previous process's,
    /// to adopt).
    package func kernelEntries() -> [(key: [UInt8], action: [UInt8])] {
        Self.keys(mapFD: flowsFD, keySize: Self.keySize).compactMap { key in
            var action = [UInt8](repeating: 0, count: Self.actionSize)
            return bpf_map_lookup_elem(flowsFD, key, &action) == 0 ? (key, action) : nil
        }
    }

    /// The fields of key bytes (`keyBytes` read back): ingress ifindex and the key with
    /// `inPort` 0.
    package static func key(of bytes: [UInt8]) -> (ifindex: Int32, key: FastPathKey) {
        bytes.withUnsafeBytes { raw in
            var dst: UInt64 = 0, src: UInt64 = 0
            for i in 0..<6 {
                dst = dst << 8 | UInt64(raw[8 + i])
                src = src << 8 | UInt64(raw[14 + i])
            }
            var connection: FastPathConnection?
            if raw[32] != 0 {
                connection = FastPathConnection(
                    source: IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self))),
                    destination: IPv4Address(rawValue: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))),
                    proto: raw[32], tos: raw[33], ttl: raw[34], tcpFlags: raw[35],
                    sourcePort: UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt16.self)),
                    destinationPort: UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 30, as: UInt16.self)))
            }
            return (Int32(bitPattern: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                    FastPathKey(inPort: PortID(0), tagged: raw.loadUnaligned(fromByteOffset: 6, as: UInt16.self) != 0,
                                tci: raw.loadUnaligned(fromByteOffset: 4, as: UInt16.self), dst: dst, src: src,
                                connection: connection))
        }
    }

    /// The fields of action bytes (`actionBytes` read back); nil for a tag operation this
    /// build does not know.
    package static func action(of bytes: [UInt8])
        -> (egress: Int32, operation: FastPathTagOperation, tci: UInt16, expires: UInt64, maximumLength: UInt32)? {
        bytes.withUnsafeBytes { raw in
            guard let operation = FastPathTagOperation(rawValue: raw.loadUnaligned(fromByteOffset: 4, as: UInt16.self)) else {
                return nil
            }
            let expires = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            return (Int32(bitPattern: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)), operation,
                    raw.loadUnaligned(fromByteOffset: 6, as: UInt16.self), expires == 0 ? .max : expires,
                    raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        }
    }

    /// Makes `fp_devs` hold exactly `ifindexes` (after adopting a previous process's
    /// entries: the devices only its removed entries used go).
    package func keepDevices(_ ifindexes: Set<Int32>) throws(AFXDPError) {
        for key in Self.keys(mapFD: devicesFD, keySize: 4) {
            let ifindex = key.withUnsafeBytes { Int32(bitPattern: $0.loadUnaligned(as: UInt32.self)) }
            if !ifindexes.contains(ifindex) { _ = bpf_map_delete_elem(devicesFD, key) }
        }
        devices = []
        for ifindex in ifindexes { try addDevice(ifindex) }
    }

    /// The sum over the CPUs of the 64-bit value at key 0 of the per-CPU array `mapFD`.
    func perCPUSum(mapFD: Int32) -> UInt64 {
        var key: UInt32 = 0
        var values = [UInt64](repeating: 0, count: possibleCPUs)
        guard bpf_map_lookup_elem(mapFD, &key, &values) == 0 else { return 0 }
        return values.reduce(0, &+)
    }
}
