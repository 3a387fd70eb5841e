// Control path: dump, flush, lookup. These walk or change the table and allocate
// their answers; run them on the tracker's thread, never per packet.

extension ConnectionTracker {
    /// The protocol name `dump-conntrack` prints (OVS `ct_dpif_format_ipproto`).
    static func protocolName(_ proto: UInt8) -> String {
        switch proto {
        case 1: "icmp"
        case 58: "icmpv6"
        case 6: "tcp"
        case 17: "udp"
        case 132: "sctp"
        case 136: "udplite"
        case 33: "dccp"
        case 2: "igmp"
        default: String(proto)
        }
    }

    /// The state `dump-conntrack` prints for a TCP connection: the larger of the two
    /// sides', with FIN_WAIT_2 shown as TIME_WAIT and SYN_RECV as ESTABLISHED (OVS
    /// coalesces them so userspace and kernel dumps read alike).
    static func dumpState(_ a: TCPConnectionState, _ b: TCPConnectionState) -> TCPConnectionState {
        switch max(a, b) {
        case .finWait2: .timeWait
        case .synReceived: .established
        case let s: s
        }
    }

    func info(entry e: Int) -> ConnectionInfo {
        let entry = entries[e]
        let tcp: (original: TCPConnectionState, reply: TCPConnectionState)? =
            entry.original.proto == 6 ? tcpStates(entry: e) : nil
        return ConnectionInfo(original: entry.original, reply: entry.reply, mark: entry.mark,
                              timeoutClass: ConntrackTimeoutClass(rawValue: entry.timeoutClass) ?? .otherFirst,
                              expiration: DatapathInstant(nanoseconds: entry.expiration),
                              seenReply: entry.flags & ConntrackEntry.seenReply != 0, tcpStates: tcp)
    }

    /// The connection `key` belongs to (in either direction), or nil. Expired
    /// connections not yet swept are reported until they are.
    public func lookup(_ key: ConntrackKey) -> ConnectionInfo? {
        let found = lookup(key, hash: key.hash(seed: seed))
        return found < 0 ? nil : info(entry: found >> 1)
    }

    /// Every connection (in `zone`, or all), in table order.
    public func connections(zone: UInt16? = nil) -> [ConnectionInfo] {
        var out: [ConnectionInfo] = []
        for e in 0..<capacity where entries[e].flags & ConntrackEntry.inUse != 0 {
            if let zone, entries[e].original.zone != zone { continue }
            out.append(info(entry: e))
        }
        return out
    }

    /// Every connection (in `zone`, or all), sorted as `ovs-appctl dpctl/dump-conntrack`
    /// lists them here (by their `description`; OVS prints in hash order, tests sort too).
    public func sortedConnections(zone: UInt16? = nil) -> [ConnectionInfo] {
        connections(zone: zone).map { ($0.description, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Removes every connection (`flush-conntrack`). Returns how many.
    @discardableResult
    public func flush() -> Int { flush { _ in true } }

    /// Removes every connection in `zone` (`flush-conntrack zone=N`).
    @discardableResult
    public func flush(zone: UInt16) -> Int { flush { $0.original.zone == zone } }

    /// Removes the connection `key` belongs to, in either direction
    /// (`flush-conntrack zone=N 'ct_nw_src=…,ct_tp_dst=…'`). Returns 1 or 0.
    @discardableResult
    public func flush(key: ConntrackKey) -> Int {
        let found = lookup(key, hash: key.hash(seed: seed))
        guard found >= 0 else { return 0 }
        remove(entry: found >> 1)
        bump(.flushed)
        return 1
    }

    /// Removes every connection `predicate` selects (e.g. all that involve an address,
    /// when a security group rule goes away). Returns how many.
    @discardableResult
    public func flush(where predicate: (ConnectionInfo) -> Bool) -> Int {
        var n = 0
        for e in 0..<capacity where entries[e].flags & ConntrackEntry.inUse != 0 {
            if predicate(info(entry: e)) {
                remove(entry: e)
                bump(.flushed)
                n += 1
            }
        }
        return n
    }
}

extension ConnectionInfo: CustomStringConvertible {
    /// The connection in the format of `ovs-appctl dpctl/dump-conntrack`:
    ///
    ///     tcp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=5000,dport=22),reply=(src=10.1.0.3,dst=10.1.0.2,sport=22,dport=5000),zone=1,protoinfo=(state=ESTABLISHED)
    ///
    /// `zone=` and `mark=` are printed when not 0, `protoinfo` for TCP only.
    public var description: String {
        var s = ConnectionTracker.protocolName(original.proto)
        s += ",orig=(\(original)),reply=(\(reply))"
        if original.zone != 0 { s += ",zone=\(original.zone)" }
        if mark != 0 { s += ",mark=\(mark)" }
        if let tcp = tcpStates { s += ",protoinfo=(state=\(ConnectionTracker.dumpState(tcp.original, tcp.reply)))" }
        return s
    }
}
