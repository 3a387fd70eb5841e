import XDPPacket

// The fast path through OpenFlow tables: established connections through Neutron's
// security-group firewall (and any other tables built the same way).
//
// Which frames. A unicast IPv4 frame (at most one 802.1Q tag, no options, no fragment),
// UDP, or TCP with no SYN, FIN, RST or URG, entering a bridge with OpenFlow tables, whose
// walk through them is made of remembered segments (FlowSegmentCache.swift: runs of
// lookups that are a function of the flow key alone) joined by `ct(table=T)` lookups that
// found an established, untranslated connection, and which ends in one output: to a port
// with a transmit queue, to a GRE port (the tun_id the flows set is a `key=flow` port's
// key), to a patch port into another bridge with tables (whose walk goes on the same way),
// or NORMAL to a learned unicast or a one-port flood (then on through patch ports and
// NORMAL-only bridges as Datapath+FastPath.swift does, to a port, a GRE port, a router, or
// into the next bridge with tables). That is the reference design's compute node: br-int's
// firewall, NORMAL, patch-tun, br-tun's `strip_vlan,set_tunnel:N,output:gre`. The tables
// may change the VLAN tag before an output, and nothing else of the frame (no `mod_dl_*`,
// `set_field`, `dec_ttl` that reaches the bytes); the `ct()`s may not commit a mark or
// translate. Such a frame's fate is a function of its key — the Ethernet header and every
// IPv4 and transport field a flow can match (`FastPathConnection`) — and of state the
// datapath can name: each crossed bridge's tables version, the connections, the MAC entries,
// the tunnel's headers.
//
// How a decision is made. The recorder (while recording, in `process`) notes a candidate
// frame's key and where it went: exactly one frame more on one port's transmit queue (the
// underlay's for a tunnel: the frame inside its outer headers), its headers beyond the
// Ethernet header unchanged. Right then — while the segments the frame went through are in
// the cache for sure — it works the path out again from the key alone
// (`connectionDecision`): it builds the frame's headers, and follows the segment cache and
// the tracker as the next frame with that key would — without running anything, so nothing
// changes — collecting the flows hit and the connections found. The decision stands when
// that path leaves by the port the recorded frame did, with the same bytes; it waits, one
// per key, for `takeFastPathDecisions`.
//
// Staying true. A decision notes the version of the tables it went through, in each
// bridge: while those are the bridges' versions, each segment still gives the answer it
// gave (the segment cache's own premise), so revalidation (`fastPathExpiry`) looks again
// only at what can change under the same tables — the connections (still established,
// same entry, direction and mark), the MAC entries and a tunnel's headers — and needs no
// cache slot (a slot evicted by other traffic does not drop the entry). After a change of
// the tables the path is worked out afresh, and the version being part of the decision, it
// never comes out the same: the entry goes. The decision expires when the first of its
// connections or MAC entries would. So a flow change, a security-group update, a
// connection flushed, closed or timed out, a MAC moved (or, under a flood, learned): each
// makes the next revalidation drop the entry, and the transport revalidates around every
// control operation and after a batch that moved or newly learned a MAC or saw a FIN or
// RST. The connection's timer and the flows' counters are credited with what the kernel
// carried (`creditFastPath`, each flow with the length the frame had in its bridge), and a
// TCP connection is tracked liberally once cached (Conntrack+FastPath.swift).
extension Datapath {
    /// The connection key of the frame at `address` entering by `inID` when it is a
    /// candidate for the fast path through tables (see the top), else nil.
    func connectionCandidate(address: UInt64, length: UInt32, from inID: PortID) -> FastPathKey? {
        guard !fastPorts[inID].isUnderlay else { return nil }
        var meta = PacketMetadata()
        _ = PacketParser.parse(pool.pointer(address), length: Int(length), into: &meta)
        // A FIN or RST may close a cached connection, however the segment looks otherwise.
        if meta.flags.contains(.tcp) && meta.flags.contains(.ipv4) && meta.tcpFlags & 0x05 != 0 { noteClosing(meta) }
        guard meta.error == .none else { return nil }
        let frame = pool.pointer(address)
        guard meta.dlDst & 0x0100_0000_0000 == 0, meta.flags.contains(.ipv4), !meta.flags.contains(.fragment),
              meta.l4Offset != 0, meta.l4Offset == meta.l3Offset &+ 20, meta.vlanCount <= 1,
              meta.vlanCount == 0 || frame.loadBE16(at: 12) == 0x8100 else { return nil }
        let tcp = meta.flags.contains(.tcp)
        guard tcp || meta.flags.contains(.udp) else { return nil }
        // Only the low 8 flag bits are keyed; SYN, FIN, RST, URG change or end a connection.
        guard !tcp || meta.tcpFlags & 0xF27 == 0 else { return nil }
        let connection = FastPathConnection(meta)
        let tagged = meta.vlanCount == 1
        return FastPathKey(inPort: inID, tagged: tagged, tci: tagged ? frame.loadBE16(at: 14) : 0,
                           dst: meta.dlDst, src: meta.dlSrc, connection: connection)
    }

    /// The length of the outer Ethernet, IPv4 and GRE headers of the frame at `address`
    /// queued on the underlay (38, or 42 with a key), as a GRE port writes them; 0 when it
    /// is no such frame with an inner Ethernet header.
    func greOuterLength(address: UInt64, length: UInt32) -> UInt32 {
        let outer = GREEncapsulation.plainOuterLength(pool.pointer(address), length: length)
        return outer > 0 && Int(length) >= outer &+ 14 ? UInt32(outer) : 0
    }

    /// A hash of the 40 bytes after the Ethernet header (and tag) of the frame at `address`
    /// (its IPv4 header and the start of the transport one): what must come out unchanged.
    func headerHash(address: UInt64, length: UInt32, tagged: Bool) -> UInt64 {
        let start = tagged ? 18 : 14
        guard Int(length) >= start + 20 else { return 0 }
        let frame = pool.pointer(address)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in start..<min(Int(length), start + 40) {
            hash = (hash ^ UInt64(frame.load(fromByteOffset: i, as: UInt8.self))) &* 0x100_0000_01b3
        }
        return hash
    }

    /// `process` while recording, for a frame NORMAL alone does not explain: runs it, and
    /// keeps a decision when it is a candidate that left by exactly one port with its
    /// headers unchanged, or that a router forwarded as its key says (through the tables,
    /// or NORMAL alone: Datapath+FastPathRoutes.swift).
    func recordConnectionFrame(address: UInt64, length: UInt32, from inID: PortID, now: UInt64) {
        guard let key = connectionCandidate(address: address, length: length, from: inID) else {
            ingress(address: address, length: length, port: inID, now: now, depth: 0, tunnelID: 0)
            return
        }
        guard openFlow.active[fastPorts[inID].bridgeID.index] else {
            recordRoutedFrame(key, address: address, length: length, from: inID, now: now)
            return
        }
        let inHash = headerHash(address: address, length: length, tagged: key.tagged)
        let portCount = ports.count
        let pending = fastPath.pendingConnections, refused = fastPath.refusedConnections
        func open() -> Bool {
            pending.pointee.count < FastPathStage.pendingCapacity && !pending.pointee.contains(where: { $0.key == key })
                && !refused.pointee.contains(key)
        }
        let (routed, outPort) = withUnsafeTemporaryAllocation(of: Int.self, capacity: portCount) { queued -> (FastPathDecision?, Int) in
            // Through the tables to a router (Datapath+FastPathRoutes.swift), or out of one port.
            let routed = runWatchingRouters(key, address: address, length: length, from: inID, now: now) {
                for id in 0..<portCount { queued[id] = fastPorts[PortID(id)].txQueue.countPointer.pointee }
            } decide: { _ in
                for id in 0..<portCount where fastPorts[PortID(id)].txQueue.countPointer.pointee != queued[id] { return nil }
                guard open() else { return nil }
                guard let (decision, _) = workOutConnectionPath(key, now: now), decision.route != nil else {
                    if refused.pointee.count < FastPathStage.pendingCapacity { refused.pointee.append(key) }
                    return nil
                }
                return decision
            }
            var outPort = -1
            for id in 0..<portCount {
                let count = fastPorts[PortID(id)].txQueue.countPointer.pointee
                guard count != queued[id] else { continue }
                guard count == queued[id] &+ 1, outPort < 0 else { return (routed, -1) }
                outPort = id
            }
            return (routed, outPort)
        }
        if let routed {
            trackLiberally(routed)
            pending.pointee.append(routed)
            return
        }
        guard outPort >= 0 else { return }
        let out = fastPorts[PortID(outPort)].txQueue
        let outCount = out.countPointer.pointee
        var record = FastPathRecord(entering: key, length: length)
        record.outPort = outPort
        record.outAddress = out.addresses[outCount &- 1]
        record.outLength = out.lengths[outCount &- 1]
        record.inHeaderHash = inHash
        record.recordedAt = now
        guard open() else { return }
        // A frame output to a GRE port leaves by the underlay: the frame as it left the
        // bridge is inside the outer headers.
        if fastPorts[PortID(outPort)].isUnderlay {
            record.outerLength = greOuterLength(address: record.outAddress, length: record.outLength)
            guard record.outerLength > 0 else { return }
            record.outAddress &+= UInt64(record.outerLength)
            record.outLength &-= record.outerLength
        }
        // Read what left now, and work the decision out while the segments this frame went
        // through are in the cache for sure (a later frame may take their slots).
        let frame = pool.pointer(record.outAddress)
        guard record.outLength >= 14 else { return }
        record.outDst = frame.loadBE48(at: 0)
        record.outSrc = frame.loadBE48(at: 6)
        record.outTagged = record.outLength >= 18 && frame.loadBE16(at: 12) == 0x8100
        record.outTCI = record.outTagged ? frame.loadBE16(at: 14) : 0
        record.outHeaderHash = headerHash(address: record.outAddress, length: record.outLength, tagged: record.outTagged)
        guard let decision = connectionDecision(of: record) else {
            if refused.pointee.count < FastPathStage.pendingCapacity { refused.pointee.append(key) }
            return
        }
        trackLiberally(decision)
        pending.pointee.append(decision)
    }

    /// The decision a recorded frame through tables stands for: worked out again from its
    /// key, and the one the frame took (same port, same Ethernet header and tag as the
    /// decision gives, the rest unchanged); nil otherwise.
    func connectionDecision(of record: FastPathRecord) -> FastPathDecision? {
        guard let key = record.connectionKey, record.inHeaderHash == record.outHeaderHash,
              record.outDst == record.dst, record.outSrc == record.src,
              ports.indices.contains(record.inPort) else { return nil }
        guard let (decision, _) = workOutConnectionPath(key, now: record.recordedAt),
              decision.egressPort.index == record.outPort,
              decision.encapsulation?.header.count ?? 0 == Int(record.outerLength) else { return nil }
        let outTagged = decision.tagOperation == .push || decision.tagOperation == .set
            || (decision.tagOperation == .keep && record.tagged)
        let outTCI = decision.tagOperation == .keep ? record.tci : decision.outTCI
        let outLength = Int(record.inLength) + (decision.tagOperation == .push ? 4 : decision.tagOperation == .pop ? -4 : 0)
        guard record.outTagged == outTagged, !outTagged || record.outTCI == outTCI, Int(record.outLength) == outLength
        else { return nil }
        return decision
    }

    /// The path the next frame with `key` (a connection key) takes as the datapath stands
    /// at `now`, and when the first thing it depends on expires; nil when it is nothing
    /// the fast path repeats. Changes nothing (control path: borrows one frame of the pool
    /// for the headers).
    ///
    /// The walk goes bridge by bridge: through the tables of the bridge the frame is in
    /// (`walkTables`), then on from their output — a port with a transmit queue or a GRE
    /// port ends it, a patch port to a bridge with tables starts the next hop, NORMAL goes
    /// on as Datapath+FastPath.swift walks it (to a port, a GRE port, a router, or into the
    /// next bridge with tables: the reference design's br-int → br-tun). The tables may
    /// change the frame's VLAN tag before an output (br-tun's `strip_vlan`), nothing else.
    func workOutConnectionPath(_ key: FastPathKey, now: UInt64) -> (FastPathDecision, expiry: UInt64)? {
        guard let connection = key.connection, ports.indices.contains(key.inPort.index),
              connection.proto == 17 || (connection.proto == 6 && connection.tcpFlags & 0x37 == 0x10),
              openFlow.segmentCacheEnabled, let frameAddress = pool.allocate() else { return nil }
        defer { pool.free(frameAddress) }
        let address = frameAddress &+ UInt64(pool.headroom)
        var dependencies = FastPathDependencies()
        var expiry = UInt64.max
        var steps: [FastPathStep] = []
        // The frame as it enters the bridge with tables the walk is in: by which port, its
        // tag, and bytes more (or fewer) than as it entered the datapath.
        var at = key.inPort, tagged = key.tagged, tci = key.tagged ? key.tci : 0, delta = 0
        func finish(_ outID: PortID, tagged outTagged: Bool, tci outTCI: UInt16,
                    encapsulation: FastPathEncapsulation? = nil) -> (FastPathDecision, expiry: UInt64) {
            let operation = FastPathTagOperation.between(tagged: key.tagged, tci: key.tci, outTagged: outTagged, outTCI: outTCI)
            var decision = FastPathDecision(key: key, steps: steps, outPort: outID, tagOperation: operation,
                                            outTCI: operation == .push || operation == .set ? outTCI : 0, encapsulation: encapsulation)
            decision.dependencies = dependencies
            return (decision, expiry)
        }
        for hop in 0..<FastPathStage.maximumSteps {
            var entering = key
            entering.tagged = tagged
            entering.tci = tci
            let length = writeConnectionHeaders(entering, connection, at: address)
            guard let end = walkTables(connection, address: address, length: length, from: at, lengthDelta: delta, now: now,
                                       dependencies: &dependencies, expiry: &expiry) else { return nil }
            // The tag as the output writes it to the frame (FlowInterpreter's writeKeyToFrame).
            let outTagged = end.key.hasVLAN, outTCI = outTagged ? end.key.wireTCI : 0
            let outDelta = delta + (outTagged ? 4 : 0) - (tagged ? 4 : 0)
            switch end.output {
            case .port(let outID):
                guard outID != at else { return nil }
                steps.append(FastPathStep(bridge: fastPorts[at].bridgeID, vlan: 0, inPort: at, outPort: outID,
                                          inLengthDelta: delta, outLengthDelta: outDelta, learnsSource: false))
                switch fastPorts[outID].egressKind {
                case .queue:
                    return finish(outID, tagged: outTagged, tci: outTCI)
                case .tunnel:
                    guard let encapsulation = fastPathEncapsulation(tunnelPort: outID, delta: outDelta, tunnelID: end.key.tunID)
                    else { return nil }
                    return finish(outID, tagged: outTagged, tci: outTCI, encapsulation: encapsulation)
                case .patch:
                    // On into the peer's tables (a NORMAL-only bridge after an output:patch is not repeated).
                    let peer = fastPorts[outID].peerID
                    guard openFlow.active[fastPorts[peer].bridgeID.index] else { return nil }
                    (at, tagged, tci, delta) = (peer, outTagged, outTCI, outDelta)
                case .service:
                    return nil
                }
            case .normal:
                // Lengths relative to the frame as it entered the datapath: `base` stands for it.
                let base: UInt32 = 1 << 16
                var record = FastPathRecord(entering: entering, length: UInt32(Int(base) + outDelta))
                (record.tagged, record.tci) = (outTagged, outTCI)
                (record.tpid, record.vlanCount) = outTagged ? (0x8100, 1) : (0, 0)
                if walkNormal(&record, from: at, now: now, tablesAtFirstStep: true, toTunnel: true, intoTables: true) {
                    let normalSteps = fastPathSteps(record, steps: fastPath.steps, base: base)
                    guard let macExpiry = macExpiry(of: normalSteps[...], src: key.src, dst: key.dst, now: now) else { return nil }
                    expiry = min(expiry, macExpiry)
                    steps += normalSteps
                    let leftDelta = Int(record.outLength) - Int(base)
                    if record.tablesPort >= 0 {
                        (at, tagged, tci, delta) = (PortID(record.tablesPort), record.outTagged, record.outTCI, leftDelta)
                        continue
                    }
                    let outID = PortID(record.outPort)
                    guard record.outerLength > 0 else { return finish(outID, tagged: record.outTagged, tci: record.outTCI) }
                    // NORMAL outputs with the key's tun_id (0 after a patch port).
                    guard let encapsulation = fastPathEncapsulation(tunnelPort: outID, delta: leftDelta, tunnelID: end.key.tunID)
                    else { return nil }
                    return finish(outID, tagged: record.outTagged, tci: record.outTCI, encapsulation: encapsulation)
                }
                // NORMAL to a router port: on through the router (Datapath+FastPathRoutes.swift),
                // from the bridge the frame entered by, its tag untouched.
                guard hop == 0, outTagged == key.tagged, outTCI == tci else { return nil }
                var toRouter = FastPathRecord(entering: key, length: 64)
                guard walkNormal(&toRouter, from: at, now: now, tablesAtFirstStep: true, toRouter: true),
                      let onward = routeOnward(key, toRouter: toRouter, now: now) else { return nil }
                var routed = onward.0
                routed.dependencies = dependencies
                return (routed, min(expiry, onward.expiry))
            case .flood, .all:
                return nil
            }
        }
        return nil
    }

    /// The walk through the tables of the bridge of `inID` (entered by it) of the frame
    /// `address` holds (the connection's headers, `lengthDelta` bytes more or fewer than
    /// as it entered the datapath), made of remembered segments joined by `ct(table=T)`s
    /// that find the connection established: its output and the flow key then; nil when it
    /// is nothing the fast path repeats. Adds the bridge's tables version, the flows hit and
    /// the connections found to `dependencies`, and their expiry to `expiry`.
    private func walkTables(_ connection: FastPathConnection, address: UInt64, length: UInt32, from inID: PortID,
                            lengthDelta: Int, now: UInt64, dependencies: inout FastPathDependencies,
                            expiry: inout UInt64) -> (output: OutputTarget, key: FlowKey)? {
        var meta = PacketMetadata()
        guard PacketParser.parse(pool.pointer(address), length: Int(length), into: &meta), meta.error == .none else { return nil }
        let port = fastPorts[inID]
        let bridge = port.bridgeID.index
        // Each bridge once (a loop through patch ports is nothing to repeat).
        guard !port.isUnderlay, openFlow.active[bridge], !dependencies.tables.contains(where: { $0.bridge == port.bridgeID })
        else { return nil }
        let table = openFlow.views[bridge]
        let flows = openFlow.tables[bridge].takeUnretainedValue().flows
        let cache = openFlow.segmentCaches[bridge]
        let start = FlowKey(meta, inPort: ofports[inID.index])
        // What the frame's bytes say (the ct fields follow the key: they are not in the bytes).
        var flowKey = start, frameKey = start
        let facts = UInt16(0x100) | UInt16(connection.proto)
        dependencies.tables.append(.init(bridge: port.bridgeID, version: table.version))
        var t = 0, resubmits = 0
        for _ in 0..<FastPathStage.maximumSegments {
            let slot = cache.slot(key: flowKey, table: t)
            guard slot.pointee.tag == table.cacheTag(table: t), slot.pointee.inPortID == Int32(truncatingIfNeeded: inID.index),
                  slot.pointee.parseFacts == facts, slot.pointee.key.equals(flowKey),
                  resubmits &+ Int(slot.pointee.resubmits) <= Datapath.maximumResubmits else { return nil }
            for i in 0..<Int(slot.pointee.hitCount) {
                let hit = Int(FlowSegment.hit(slot, i))
                guard flows.indices.contains(hit) else { return nil }
                dependencies.flows.append(.init(counters: flows[hit].counters, lengthDelta: lengthDelta))
            }
            resubmits &+= Int(slot.pointee.resubmits)
            flowKey = slot.pointee.endKey
            // The tables may not change the frame's bytes (writeKeyToFrame's words) but for
            // the VLAN tag, and that only before an output.
            let tagKept = flowKey.w2 == frameKey.w2
            guard flowKey.w0 == frameKey.w0, flowKey.w1 == frameKey.w1, flowKey.w2 & 0x0000_FFFF_FFFF_FFFF == frameKey.w2 & 0x0000_FFFF_FFFF_FFFF,
                  flowKey.w3 == frameKey.w3, flowKey.w4 == frameKey.w4, tagKept || slot.pointee.end == .output else { return nil }
            switch slot.pointee.end {
            case .none:
                return nil
            case .output:
                return (slot.pointee.output, flowKey)
            case .conntrack:
                guard let tracker = connectionTracking.tracker.pointee?.takeUnretainedValue() else { return nil }
                let list = table.actionLists[Int(slot.pointee.conntrackFlow)]
                let step = list.conntrackSteps + Int(slot.pointee.conntrackIndex)
                guard step.pointee.table >= 0, step.pointee.nat.flags == 0, !step.pointee.commit || step.pointee.markMask == 0
                else { return nil }
                let zone = step.pointee.zone(of: &flowKey)
                let conntrackKey = ConntrackKey.ipv4(zone: zone, source: connection.source, destination: connection.destination,
                                                     proto: connection.proto, sourcePort: connection.sourcePort,
                                                     destinationPort: connection.destinationPort)
                guard let found = tracker.fastPathEstablished(conntrackKey, now: now), resubmits < Datapath.maximumResubmits
                else { return nil }
                let original = found.reply ? tracker.entries[found.entry].original : conntrackKey
                dependencies.connections.append(.init(entry: found.entry, original: original, reply: found.reply,
                                                      tuple: conntrackKey, mark: found.mark))
                expiry = min(expiry, found.expiration)
                let state: CTState = found.reply ? [.tracked, .established, .reply] : [.tracked, .established]
                flowKey.ctState = state.rawValue; flowKey.ctZone = zone; flowKey.ctMark = found.mark
                frameKey.ctState = state.rawValue; frameKey.ctZone = zone; frameKey.ctMark = found.mark
                resubmits &+= 1
                t = Int(step.pointee.table)
            }
        }
        return nil
    }

    /// Writes an Ethernet (and 802.1Q) header, an IPv4 header without options and a UDP or
    /// TCP header with `key`'s fields at `address`; returns the frame's length.
    private func writeConnectionHeaders(_ key: FastPathKey, _ connection: FastPathConnection, at address: UInt64) -> UInt32 {
        let frame = pool.pointer(address)
        frame.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        frame.storeBE48(key.dst, at: 0)
        frame.storeBE48(key.src, at: 6)
        var l3 = 14
        if key.tagged {
            frame.storeBE16(0x8100, at: 12)
            frame.storeBE16(key.tci, at: 14)
            l3 = 18
        }
        frame.storeBE16(0x0800, at: l3 - 2)
        let l4Length = connection.proto == 6 ? 20 : 8
        frame.storeBE8(0x45, at: l3)
        frame.storeBE8(connection.tos, at: l3 + 1)
        frame.storeBE16(UInt16(20 + l4Length), at: l3 + 2)
        frame.storeBE8(connection.ttl, at: l3 + 8)
        frame.storeBE8(connection.proto, at: l3 + 9)
        frame.storeBE32(connection.source.rawValue, at: l3 + 12)
        frame.storeBE32(connection.destination.rawValue, at: l3 + 16)
        frame.storeBE16(Checksum.ipv4Header(frame + l3, headerLength: 20), at: l3 + 10)
        let l4 = l3 + 20
        frame.storeBE16(connection.sourcePort, at: l4)
        frame.storeBE16(connection.destinationPort, at: l4 + 2)
        if connection.proto == 6 {
            frame.storeBE8(0x50, at: l4 + 12)
            frame.storeBE8(connection.tcpFlags, at: l4 + 13)
            frame.storeBE16(0xFFFF, at: l4 + 14)
        } else {
            frame.storeBE16(8, at: l4 + 4)
        }
        return UInt32(max(60, l4 + l4Length))
    }

    /// When a decision through tables stops holding, or nil when it no longer holds now.
    /// While its bridges' tables are the versions it was made under, its segments give the
    /// same answers, so only its connections (still established, same entry, direction and
    /// mark), MAC entries and tunnel headers are looked at again; after a change of the
    /// tables it is worked out afresh and must come out the same (it does not: the versions
    /// are part of it).
    func connectionExpiry(of decision: FastPathDecision, now: UInt64) -> UInt64? {
        let dependencies = decision.dependencies
        let unchanged = !dependencies.tables.isEmpty && dependencies.tables.allSatisfy {
            $0.bridge.index >= 0 && $0.bridge.index < openFlow.bridgeCount && openFlow.views[$0.bridge.index].version == $0.version
        }
        guard unchanged else {
            guard let (again, expiry) = workOutConnectionPath(decision.key, now: now), again == decision else { return nil }
            return expiry
        }
        guard fastPathEncapsulationHolds(decision) else { return nil }
        guard var expiry = macExpiry(of: decision.steps[...], src: decision.key.src, dst: decision.key.dst, now: now) else { return nil }
        if !dependencies.connections.isEmpty {
            guard let tracker = connectionTracking.tracker.pointee?.takeUnretainedValue() else { return nil }
            for connection in dependencies.connections {
                guard let found = tracker.fastPathEstablished(connection.tuple, now: now), found.entry == connection.entry,
                      found.reply == connection.reply, found.mark == connection.mark,
                      tracker.fastPathHolds(entry: found.entry, original: connection.original) else { return nil }
                expiry = min(expiry, found.expiration)
            }
        }
        return expiry
    }

    /// When the first MAC entry `steps` (NORMAL decisions of a frame from `src` to `dst`)
    /// depend on ages out, or nil when one of them no longer gives the same port (or, for a
    /// flooded step, the destination became known).
    func macExpiry(of steps: ArraySlice<FastPathStep>, src: UInt64, dst: UInt64, now: UInt64) -> UInt64? {
        var expiry = UInt64.max
        for step in steps {
            let bridge = step.bridge.index, inPort = step.inPort.index, outPort = step.outPort.index
            guard bridge >= 0, bridge < l2.bridgeCount, inPort >= 0, inPort < ports.count, outPort >= 0, outPort < ports.count
            else { return nil }
            guard step.learnsSource else { continue }
            let table = l2.macTables[bridge]
            guard let srcSeen = table.seen(src, vlan: step.vlan, port: inPort, now: now) else { return nil }
            expiry = min(expiry, srcSeen &+ table.agingTime)
            if step.flooded {
                // Still no entry, and still one port to flood to (learning it makes the
                // transport re-check: NormalAction's `macChanged`).
                guard !table.hasEntry(dst, vlan: step.vlan),
                      soleFloodPort(bridge: step.bridge, except: step.inPort, vlan: step.vlan) == outPort else { return nil }
            } else {
                guard let dstSeen = table.seen(dst, vlan: step.vlan, port: outPort, now: now) else { return nil }
                expiry = min(expiry, dstSeen &+ table.agingTime)
            }
        }
        return expiry
    }

    /// Adds what the kernel carried for a decision through tables to the flows it hit and
    /// refreshes its connections (`creditFastPath` does the ports and MACs).
    func creditDependencies(_ dependencies: FastPathDependencies, packets: UInt64, bytes: UInt64, lastUsed: UInt64) {
        for flow in dependencies.flows {
            let counters = flow.counters
            counters.slots[0] &+= packets
            counters.slots[1] &+= FastPathStep.bytes(bytes, packets: packets, delta: flow.lengthDelta)
            if counters.slots[3] < lastUsed { counters.slots[3] = lastUsed }
        }
        guard !dependencies.connections.isEmpty, let tracker = connectionTracking.tracker.pointee?.takeUnretainedValue() else { return }
        for connection in dependencies.connections {
            tracker.creditFastPath(entry: connection.entry, original: connection.original, lastUsed: lastUsed)
        }
    }

    /// Tracks the TCP connections of `decision` liberally from now on (Conntrack+FastPath.swift),
    /// its router's translation too.
    func trackLiberally(_ decision: FastPathDecision) {
        if let route = decision.route, let translation = route.translation, routers.indices.contains(route.router) {
            routers[route.router].trackLiberally(translation)
        }
        guard decision.key.connection?.proto == 6, let tracker = connectionTracking.tracker.pointee?.takeUnretainedValue() else { return }
        for connection in decision.dependencies.connections where tracker.fastPathHolds(entry: connection.entry, original: connection.original) {
            tracker.trackLiberally(entry: connection.entry)
        }
    }

    /// A number that changes whenever some bridge's OpenFlow tables change (flow add, mod,
    /// delete, `learn`, expiry, security-group updates): the fast path re-checks its entries
    /// when it moved.
    public var flowTablesGeneration: UInt64 {
        var total: UInt64 = 0
        for i in 0..<openFlow.bridgeCount { total &+= openFlow.views[i].version }
        return total
    }

    /// Notes the connection of a TCP segment with FIN or RST (see `takeFastPathClosingConnections`).
    private func noteClosing(_ meta: PacketMetadata) {
        let connection = FastPathConnection(meta)
        let closing = fastPath.closing
        guard !closing.pointee.contains(where: { $0.sameTuple(connection) }) else { return }
        guard closing.pointee.count < FastPathStage.closingCapacity else { fastPath.closingOverflow.pointee = true; return }
        closing.pointee.append(connection)
    }

    /// The TCP connections (their tuples: compare with `FastPathConnection.sameTuple`) whose
    /// segments with FIN or RST went through a bridge with tables since the last call: their
    /// cached entries must be re-checked. Nil when there were too many to list (re-check
    /// every entry).
    public func takeFastPathClosingConnections() -> [FastPathConnection]? {
        defer {
            fastPath.closing.pointee.removeAll(keepingCapacity: true)
            fastPath.closingOverflow.pointee = false
        }
        return fastPath.closingOverflow.pointee ? nil : fastPath.closing.pointee
    }
}

extension FastPathConnection {
    /// The fields of the IPv4 TCP or UDP packet `meta` describes.
    init(_ meta: PacketMetadata) {
        self.init(source: IPv4Address(rawValue: meta.nwSrc), destination: IPv4Address(rawValue: meta.nwDst), proto: meta.nwProto,
                  tos: meta.nwTOS, ttl: meta.nwTTL, tcpFlags: UInt8(truncatingIfNeeded: meta.tcpFlags),
                  sourcePort: meta.tpSrc, destinationPort: meta.tpDst)
    }
}

extension FastPathRecord {
    /// The record of a frame with `key` (at most one 802.1Q tag) and `length` entering by
    /// `key.inPort`, with its connection fields; nothing about how it left yet.
    init(entering key: FastPathKey, length: UInt32) {
        self.init()
        inPort = key.inPort.index
        dst = key.dst
        src = key.src
        tagged = key.tagged
        tpid = key.tagged ? 0x8100 : 0
        tci = key.tci
        vlanCount = key.tagged ? 1 : 0
        inLength = length
        connection = key.connection
    }

    /// The key of a recorded frame through tables (nil for a NORMAL-only record).
    var connectionKey: FastPathKey? {
        connection.map { FastPathKey(inPort: PortID(inPort), tagged: tagged, tci: tci, dst: dst, src: src, connection: $0) }
    }
}
