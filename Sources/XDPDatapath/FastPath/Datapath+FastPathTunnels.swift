import XDPPacket

// GRE in the in-kernel fast path (bpf/datapath/xsk_steer.bpf.c, `encapsulate` and
// `decapsulation`).
//
// Encapsulation.
// A NORMAL decision whose last output is a `gre` port is as much a pure function of the
// frame's Ethernet header as one that ends on an interface: the tunnel prepends outer
// headers that depend on the port alone — our underlay MAC and address, the next hop's MAC,
// the remote, the key of a `key=N` port (or, for `key=flow`, the frame's tun_id, which is 0
// for a frame that entered by an interface: the only frames recorded) — and only their IPv4
// total length and checksum on the frame's length (TunnelTable.swift prebuilds the rest
// with the two zero, and their sum). So the decision carries those headers
// (`FastPathEncapsulation`) and the kernel pushes them, writes the length and the
// checksum as `TunnelEndpoint.write` does, and redirects to the underlay's interface.
//
// What it depends on besides the MAC entries along the path: the tunnel's next hop and its
// MAC (an ARP answer that changes it changes the outer destination) and our underlay MAC.
// `fastPathExpiry` compares the headers the port would write now with the decision's, and
// the underlay counts every change of its headers (`Underlay.headerChanges`, part of
// `neighbourChanges`), on which the transport re-checks its entries. The MTU: frames whose
// encapsulated packet would exceed the underlay's take the slow path (which refuses them
// with the ICMP error or the drop the tunnel gives them).
//
// Decapsulation. A GRE packet on the underlay that the tunnel stage takes in on its common
// path (to our MAC and address, untagged IPv4 without options, not a fragment, a correct
// header checksum, GRE with no flags or the key only, protocol 0x6558) hands its inner
// frame to the bridge of the tunnel port that (remote, key) selects, with tun_id = the key.
// What follows depends on the inner frame and that (port, tun_id) alone. So, while
// recording, the underlay's frames are recognised the same way
// (`fastPathDecapsulationCandidate`) and NORMAL's path for the inner frame from the tunnel
// port is predicted; a decision's key is the inner frame's with the tunnel port and tun_id
// (`FastPathKey.tunnelID`), and it carries what the outer headers must be
// (`FastPathDecapsulation`): the engine maps each such (underlay interface, our MAC, remote,
// our address, key) to an id in `fp_tunnels`, the program looks the inner frame up under
// that id in place of an ifindex, strips the outer bytes and goes on as for any frame. The
// kernel is stricter on one point: an IPv4 packet that ends before the frame (trailing
// bytes) takes the slow path, which trims it.
//
// A GRE port may also end a connection's walk through OpenFlow tables
// (Datapath+FastPathConnections.swift: br-tun's `set_tunnel:N,output:gre`); the key of a
// `key=flow` port is then the tun_id the flows set (`FastPathEncapsulation.tunnelID`).
//
// Not here: VXLAN (its outer UDP source port is a hash of the inner frame's addresses and
// ports, which an Ethernet-only key does not fix), a next hop whose MAC is not known yet
// (frames wait for ARP in the slow path), a tunnel to a tunnel, and decapsulated frames
// through OpenFlow tables (their connections are keyed by interface).
extension Datapath {
    /// The outer headers a frame output to `gre` port `id` with `tunnelID` gets now, for a
    /// frame `delta` bytes longer as it reaches the port than as it entered the datapath;
    /// nil when the port is nothing the fast path repeats: no underlay, not GRE, no route to
    /// its remote or its next hop's MAC not known yet.
    func fastPathEncapsulation(tunnelPort id: PortID, delta: Int, tunnelID: UInt64 = 0) -> FastPathEncapsulation? {
        let table = tunnel.table
        guard table.underlayPortID >= 0, let slots = table.slots, let endpoints = table.endpoints,
              ports.indices.contains(id.index), fastPorts[id].egressKind == .tunnel else { return nil }
        let slot = Int(slots[id.index])
        guard slot >= 0 else { return nil }
        let endpoint = endpoints[slot]
        guard !endpoint.isVXLAN, endpoint.hasRoute, endpoint.nextHopKnown else { return nil }
        var header = [UInt8](UnsafeRawBufferPointer(start: endpoint.header, count: endpoint.overhead))
        if endpoint.keyMode != TunnelEndpoint.noKey {
            // The key as tunnelEgress writes it: the port's, or the frame's tun_id.
            let key = endpoint.keyMode == TunnelEndpoint.fixedKey ? endpoint.fixedKey : UInt32(truncatingIfNeeded: tunnelID)
            header.withUnsafeMutableBytes { $0.baseAddress!.storeBE32(key, at: 38) }
        }
        let longest = table.mtu + 14 - endpoint.overhead - delta
        guard longest >= 14 else { return nil }
        return FastPathEncapsulation(tunnelPort: id, underlayPort: PortID(table.underlayPortID), header: header,
                                     headerSum: endpoint.headerSum, maximumLength: UInt32(longest), tunnelID: tunnelID)
    }

    /// Whether `decision`'s tunnel, if any, would still write the same outer headers.
    func fastPathEncapsulationHolds(_ decision: FastPathDecision) -> Bool {
        guard let encapsulation = decision.encapsulation else { return true }
        return fastPathEncapsulation(tunnelPort: encapsulation.tunnelPort, delta: decision.steps.last?.outLengthDelta ?? 0,
                                     tunnelID: encapsulation.tunnelID) == encapsulation
    }

    /// Adds what the kernel encapsulated for `decision` to the underlay port's transmit
    /// counters, as the tunnel counts the frames it queues there (the tunnel port's own
    /// counters are the last step's).
    func creditEncapsulation(_ decision: FastPathDecision, packets: UInt64, bytes: UInt64) {
        guard let encapsulation = decision.encapsulation, ports.indices.contains(encapsulation.underlayPort.index) else { return }
        let slots = fastPorts[encapsulation.underlayPort].counters.slots
        slots[2] &+= packets
        slots[3] &+= decision.bytesLeaving(bytes, packets: packets)
    }
}

extension Datapath {
    /// The GRE packets whose inner frames enter by tunnel port `id` with `tunnelID`, or nil
    /// when that is nothing the fast path repeats: no underlay, not a GRE port, a tun_id the
    /// port does not take, or a packet with that remote and key that another port takes.
    func fastPathDecapsulation(tunnelPort id: PortID, tunnelID: UInt64) -> FastPathDecapsulation? {
        let table = tunnel.table
        guard table.underlayPortID >= 0, let slots = table.slots, let endpoints = table.endpoints, let localMAC = table.localMAC,
              ports.indices.contains(id.index), fastPorts[id].egressKind == .tunnel else { return nil }
        let slot = Int(slots[id.index])
        guard slot >= 0, !endpoints[slot].isVXLAN, tunnelID <= UInt64(UInt32.max) else { return nil }
        let endpoint = endpoints[slot]
        let key: UInt32?
        switch endpoint.keyMode {
        case TunnelEndpoint.noKey: key = nil
        case TunnelEndpoint.fixedKey: key = endpoint.fixedKey
        default: key = UInt32(tunnelID)
        }
        guard UInt64(key ?? 0) == tunnelID, table.port(remote: endpoint.remoteIP, key: key) == id.index else { return nil }
        return FastPathDecapsulation(underlayPort: PortID(table.underlayPortID), localMAC: localMAC.pointee,
                                     local: IPv4Address(rawValue: table.address), remote: IPv4Address(rawValue: endpoint.remoteIP), key: key)
    }

    /// Whether `decision`'s tunnel ingress, if any, would still take the same packets.
    func fastPathDecapsulationHolds(_ decision: FastPathDecision) -> Bool {
        guard let decapsulation = decision.decapsulation else { return true }
        return fastPathDecapsulation(tunnelPort: decision.key.inPort, tunnelID: decision.key.tunnelID ?? 0) == decapsulation
    }

    /// When the underlay frame at `address` is a GRE packet the tunnel stage takes in on
    /// its common path (`underlayIngress`) and the kernel program recognises too (the IPv4
    /// packet ending where the frame does): the outer headers' length, the tunnel port and
    /// the tun_id its inner frame enters with.
    func fastPathDecapsulationCandidate(address: UInt64, length: UInt32) -> (outer: Int, port: PortID, tunnelID: UInt64)? {
        let table = tunnel.table
        guard table.underlayPortID >= 0 else { return nil }
        let frame = pool.pointer(address)
        guard let gre = table.plainGREForUs(frame, length: length), gre.end == Int(length),
              Checksum.verifyIPv4Header(frame + 14, headerLength: 20) else { return nil }
        let port = table.port(remote: frame.loadBE32(at: 26), key: gre.key)
        guard port >= 0 else { return nil }
        return (gre.outer, PortID(port), UInt64(gre.key ?? 0))
    }

    /// `process` for the underlay's frames while recording: each runs through the tunnel
    /// stage as always; before it, a GRE packet's inner frame has NORMAL's path from its
    /// tunnel port predicted, and the decision is kept when the frame did exactly that.
    @usableFromInline
    func processRecordingDecapsulation(_ storage: BatchStorage, count: Int, from wireID: PortID, now: UInt64) {
        for i in 0..<count {
            let address = storage.addresses[i], length = storage.lengths[i]
            guard let candidate = fastPathDecapsulationCandidate(address: address, length: length),
                  predictNormalPath(address: address &+ UInt64(candidate.outer), length: length &- UInt32(candidate.outer),
                                    from: candidate.port, now: now, toTunnel: false)
            else {
                underlayIngress(address: address, length: length, wireID: wireID, now: now)
                continue
            }
            fastPath.record.pointee.fromTunnel = true
            fastPath.record.pointee.tunnelID = candidate.tunnelID
            keepIfForwarded(on: PortID(fastPath.record.pointee.outPort)) {
                underlayIngress(address: address, length: length, wireID: wireID, now: now)
            }
        }
    }

    /// Adds what the kernel took in for `decision` from a tunnel to the underlay port's
    /// receive counters, as the tunnel stage counts the packets it receives.
    func creditDecapsulation(_ decision: FastPathDecision, packets: UInt64, bytes: UInt64) {
        guard let decapsulation = decision.decapsulation, ports.indices.contains(decapsulation.underlayPort.index) else { return }
        let slots = fastPorts[decapsulation.underlayPort].counters.slots
        slots[0] &+= packets
        slots[1] &+= decision.bytesArriving(bytes, packets: packets)
    }
}
