import XDPPacket

// GRE encapsulation in the in-kernel fast path (bpf/datapath/xsk_steer.bpf.c, `encapsulate`).
//
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
// Not here: VXLAN (its outer UDP source port is a hash of the inner frame's addresses and
// ports, which an Ethernet-only key does not fix), a next hop whose MAC is not known yet
// (frames wait for ARP in the slow path), and decapsulation (frames from the underlay take
// the slow path).
extension Datapath {
    /// The outer headers a frame output to `gre` port `id` gets now, for a frame `delta`
    /// bytes longer as it reaches the port than as it entered the datapath; nil when the
    /// port is nothing the fast path repeats: no underlay, not GRE, no route to its remote
    /// or its next hop's MAC not known yet.
    func fastPathEncapsulation(tunnelPort id: PortID, delta: Int) -> FastPathEncapsulation? {
        let table = tunnel.table
        guard table.underlayPortID >= 0, let slots = table.slots, let endpoints = table.endpoints,
              ports.indices.contains(id.index), fastPorts[id].egressKind == .tunnel else { return nil }
        let slot = Int(slots[id.index])
        guard slot >= 0 else { return nil }
        let endpoint = endpoints[slot]
        guard !endpoint.isVXLAN, endpoint.hasRoute, endpoint.nextHopKnown else { return nil }
        var header = [UInt8](UnsafeRawBufferPointer(start: endpoint.header, count: endpoint.overhead))
        if endpoint.keyMode == TunnelEndpoint.fixedKey {
            let key = endpoint.fixedKey
            header[38] = UInt8(key >> 24); header[39] = UInt8((key >> 16) & 0xFF)
            header[40] = UInt8((key >> 8) & 0xFF); header[41] = UInt8(key & 0xFF)
        } else if endpoint.keyMode == TunnelEndpoint.flowKey {
            header.replaceSubrange(38..<42, with: [0, 0, 0, 0])  // tun_id 0: the frame entered by an interface
        }
        let longest = table.mtu + 14 - endpoint.overhead - delta
        guard longest >= 14 else { return nil }
        return FastPathEncapsulation(tunnelPort: id, underlayPort: PortID(table.underlayPortID), header: header,
                                     headerSum: endpoint.headerSum, maximumLength: UInt32(longest))
    }

    /// Whether `decision`'s tunnel, if any, would still write the same outer headers.
    func fastPathEncapsulationHolds(_ decision: FastPathDecision) -> Bool {
        guard let encapsulation = decision.encapsulation else { return true }
        return fastPathEncapsulation(tunnelPort: encapsulation.tunnelPort, delta: decision.steps.last?.outLengthDelta ?? 0)
            == encapsulation
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
