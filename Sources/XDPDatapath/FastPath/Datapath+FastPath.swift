import XDPPacket

// The slow path's side of the in-kernel fast path (bpf/datapath/xsk_steer.bpf.c; the engine
// installs and removes its entries, Sources/AFXDP/AFXDPEngine+FastPath.swift). This file is
// the NORMAL-only part; established connections through OpenFlow tables are
// Datapath+FastPathConnections.swift (a frame NORMAL alone does not explain goes there).
//
// Which frames: a frame received from outside whose whole path was NORMAL deciding a
// learned unicast — through NORMAL-only bridges (no flow but the default), patch ports
// between them, one output on a port with a transmit queue, the VLAN popped, pushed or
// rewritten on the way — and nothing else: no flood to several ports, no flow table (so no
// `ct()`, `learn`, controller action or security group), no service port, at most one
// 802.1Q tag; a GRE tunnel only at either end, whose outer headers are as much a function
// of the port as a tag (Datapath+FastPathTunnels.swift). A unicast to a destination the
// MAC table has no entry for counts too when NORMAL's flood is one output (one port but
// the input carries the VLAN): such a step (`FastPathStep.flooded`) holds while there is
// still no entry, and `learn` tells when one appears (NormalAction's `macChanged`; an aged
// entry seen again would not tell, so a flood to a destination with one is not decided).
// Such a frame's fate is a pure function of (ingress port, VLAN tag, destination MAC, source
// MAC) and of the MAC tables: while `fastPathRecording` is on, `process` works each frame's
// NORMAL path out from the MAC tables before running it and keeps it when the frame did
// exactly that (the recorder below); the per-packet path with recording off has no hook
// but the one branch per batch in `process`. `takeFastPathDecisions` turns the kept
// records into `FastPathDecision`s.
//
// Staying true: a decision holds while every step's MAC lookups (source on the input port,
// destination on the output port) still give the same ports and its bridges stay NORMAL-only;
// `fastPathExpiry` re-checks that and answers when the first of those MAC entries would age
// out, which the kernel honours to the nanosecond (same monotonic clock). The transport
// re-checks its entries after every control operation and after a MAC moved or was evicted
// (`takeFastPathMACChanged`), and forgets them all when the datapath is replaced. Packets
// the kernel carried are credited back with `creditFastPath`: the port counters along the
// path, and the source MAC entries refreshed as if NORMAL had seen them.
extension Datapath {
    /// Whether the datapath records decisions for an in-kernel fast path. Off by default;
    /// the engine turns it on for `--fast-path on`.
    public var fastPathRecording: Bool {
        get { fastPath.recording.pointee }
        set { fastPath.recording.pointee = newValue }
    }

    /// What `dump-fastpath` answers: set by the transport that runs an in-kernel fast path
    /// (called on the datapath's thread with its clock).
    public var fastPathReporter: ((DatapathInstant) -> FastPathDump)? {
        get { fastPath.reporter.pointee }
        set { fastPath.reporter.pointee = newValue }
    }

    /// The in-kernel fast path's entries at `now`, like `ovs-appctl dpctl/dump-flows`;
    /// nil when no fast path runs.
    public func fastPathDump(now: DatapathInstant) -> FastPathDump? {
        fastPath.reporter.pointee?(now)
    }

    // MARK: - The recorder (only while recording)

    /// `process` while recording: each frame runs through the pipeline as always; before
    /// it, NORMAL's decision for its header is worked out from the MAC tables
    /// (`predictNormalPath`), and after it the decision is kept when the frame did exactly
    /// that — one frame more queued in the whole datapath, on the predicted port, with the
    /// predicted header. Nothing of this runs with recording off.
    @usableFromInline
    func processRecordingFastPath(_ storage: BatchStorage, count: Int, from inID: PortID, now: UInt64) {
        let record = fastPath.record
        for i in 0..<count {
            let address = storage.addresses[i], length = storage.lengths[i]
            guard predictNormalPath(address: address, length: length, from: inID, now: now) else {
                recordConnectionFrame(address: address, length: length, from: inID, now: now)
                continue
            }
            // A frame output to a tunnel is queued on the underlay.
            let queueID = record.pointee.outerLength > 0 ? PortID(tunnel.table.underlayPortID) : PortID(record.pointee.outPort)
            keepIfForwarded(on: queueID) {
                ingress(address: address, length: length, port: inID, now: now, depth: 0, tunnelID: 0)
            }
        }
    }

    /// Runs `body` (one frame through the pipeline) and keeps `fastPath.record` when exactly
    /// one frame more was queued in the whole datapath, on `queueID`'s transmit queue.
    @inline(__always)
    func keepIfForwarded(on queueID: PortID, _ body: () -> Void) {
        let queuedBefore = framesInTransmitQueues
        let out = fastPorts[queueID].txQueue
        let outBefore = out.countPointer.pointee
        body()
        let outCount = out.countPointer.pointee
        guard outCount == outBefore &+ 1, framesInTransmitQueues == queuedBefore &+ 1 else { return }
        fastPath.record.pointee.outAddress = out.addresses[outCount &- 1]
        fastPath.record.pointee.outLength = out.lengths[outCount &- 1]
        keepRecord()
    }

    /// Frames on every port's transmit queue.
    var framesInTransmitQueues: Int {
        var total = 0
        for id in 0..<ports.count { total &+= fastPorts[PortID(id)].txQueue.countPointer.pointee }
        return total
    }

    /// NORMAL's path for the frame at `address` as the MAC tables stand, written to
    /// `fastPath.record` and `fastPath.steps`: through NORMAL-only bridges and patch ports to
    /// one port with a transmit queue, with the frame's predicted tag and length as it leaves
    /// (`outTagged`, `outTCI`, `outLength`; the recorder overwrites them with what the frame
    /// did). False when the frame is nothing the fast path repeats (multicast, a flood to
    /// several ports, flow tables, VXLAN, services, two tags, a refusal; a GRE port at the
    /// end unless `toTunnel`).
    func predictNormalPath(address: UInt64, length: UInt32, from inID: PortID, now: UInt64, toTunnel: Bool = true) -> Bool {
        guard length >= 14 else { return false }
        let frame = pool.pointer(address)
        var record = FastPathRecord()
        record.dst = frame.loadBE48(at: 0)
        record.src = frame.loadBE48(at: 6)
        guard record.dst & 0x0100_0000_0000 == 0 else { return false }
        let type = frame.loadBE16(at: 12)
        if type == 0x8100 {
            guard length >= 18 else { return false }
            let inner = frame.loadBE16(at: 16)
            guard inner != 0x8100 && inner != 0x88A8 else { return false }
            record.tagged = true
            record.tpid = type
            record.tci = frame.loadBE16(at: 14)
            record.vlanCount = 1
        } else if type == 0x88A8 {
            return false
        }
        record.inLength = length
        guard walkNormal(&record, from: inID, now: now, tablesAtFirstStep: false, toTunnel: toTunnel) else { return false }
        fastPath.record.pointee = record
        return true
    }

    /// NORMAL's path from `inID` for a frame whose entry fields `record` holds (MACs, tag,
    /// length), as the MAC tables stand: its steps into `fastPath.steps`, its port, tag and
    /// length as it leaves into `record`. `tablesAtFirstStep`: the first bridge may have
    /// OpenFlow tables (an `output:NORMAL` there); every later one must be NORMAL-only.
    /// `toRouter`: the walk must end on a router port instead, the frame untagged there
    /// (Datapath+FastPathRoutes.swift). `toTunnel`: the walk may end on a GRE port whose
    /// headers the fast path can push (`record.outerLength` then says how many bytes;
    /// Datapath+FastPathTunnels.swift). `intoTables`: the walk may end on entering a later
    /// bridge with tables through a patch port (`record.tablesPort` then says by which port,
    /// `outTagged`, `outTCI` and `outLength` how the frame enters it;
    /// Datapath+FastPathConnections.swift goes on from there).
    func walkNormal(_ record: inout FastPathRecord, from inID: PortID, now: UInt64, tablesAtFirstStep: Bool,
                    toRouter: Bool = false, toTunnel: Bool = false, intoTables: Bool = false) -> Bool {
        var current = inID
        var tagged = record.tagged, tci = record.tci, currentLength = record.inLength
        record.tablesPort = -1
        for depth in 0..<FastPathStage.maximumSteps {
            let port = fastPorts[current]
            if depth > 0 && intoTables && !port.isUnderlay && openFlow.active[port.bridgeID.index] {
                record.tablesPort = current.index
                record.outTagged = tagged
                record.outTCI = tagged ? tci : 0
                record.outLength = currentLength
                return true
            }
            guard !port.isUnderlay, !openFlow.active[port.bridgeID.index] || (depth == 0 && tablesAtFirstStep) else { return false }
            let vlan: UInt16
            if port.tag != 0 {
                guard !tagged || tci & 0x0FFF == 0 else { return false }
                vlan = port.tag
            } else {
                vlan = tagged ? tci & 0x0FFF : 0
                guard port.carries(vlan) else { return false }
            }
            let table = l2.macTables[port.bridgeID.index]
            var learned = table.lookup(record.dst, vlan: vlan, now: now)
            let flooded = learned < 0
            if flooded {
                // An unknown destination: NORMAL floods the VLAN, which is one output when
                // one port but the input carries it (a compute node's br-int to patch-tun).
                // Repeated while the table has no entry for it at all: a new one makes
                // `learn` say so (the transport re-checks), an aged one seen again would not.
                guard !table.hasEntry(record.dst, vlan: vlan) else { return false }
                learned = soleFloodPort(bridge: port.bridgeID, except: current, vlan: vlan)
                guard learned >= 0 else { return false }
            }
            guard learned != current.index else { return false }
            let outID = PortID(learned)
            let out = fastPorts[outID]
            var step = FastPathRecordStep()
            step.depth = depth
            step.bridge = port.bridgeID.index
            step.vlan = vlan
            step.inPort = current.index
            step.outPort = learned
            step.inLength = currentLength
            step.flooded = flooded
            fastPath.steps[depth] = step
            record.stepCount = depth &+ 1
            // NORMAL's egress VLAN step (Datapath+Egress.swift, egressVLAN).
            let wantTag = out.tag == 0 && vlan != 0
            if tagged && !wantTag {
                tagged = false
                currentLength &-= 4
            } else if !tagged && wantTag {
                tagged = true
                tci = vlan
                currentLength &+= 4
            } else if tagged {
                tci = tci & 0xF000 | vlan
            }
            switch out.egressKind {
            case .queue where !toRouter:
                record.outPort = learned
                record.outTagged = tagged
                record.outTCI = tagged ? tci : 0
                record.outLength = currentLength
                return true
            case .patch:
                current = out.peerID
            case .service where toRouter && !tagged && services.targets[learned].kind == ServiceKind.router.rawValue:
                record.outPort = learned
                record.outTagged = false
                record.outTCI = 0
                record.outLength = currentLength
                return true
            case .tunnel where toTunnel:
                guard let encapsulation = fastPathEncapsulation(tunnelPort: outID, delta: Int(currentLength) - Int(record.inLength))
                else { return false }
                record.outPort = learned
                record.outTagged = tagged
                record.outTCI = tagged ? tci : 0
                record.outLength = currentLength
                record.outerLength = UInt32(encapsulation.header.count)
                return true
            case .queue, .tunnel, .service:
                return false
            }
        }
        return false
    }

    /// The one port of `bridge` but `inID` that carries `vlan`, where NORMAL floods a frame
    /// to an unknown destination; -1 when there are none or several.
    func soleFloodPort(bridge id: BridgeID, except inID: PortID, vlan: UInt16) -> Int {
        let bridge = fastBridges[id]
        var sole = -1
        for j in 0..<bridge.portCount {
            let port = PortID(bridge.portList[j])
            guard port != inID, fastPorts[port].carries(vlan) else { continue }
            guard sole < 0 else { return -1 }
            sole = port.index
        }
        return sole
    }

    /// Keeps the finished record (its output read from the queued frame) for
    /// `takeFastPathDecisions`.
    private func keepRecord() {
        let record = fastPath.record
        let count = fastPath.pendingCount.pointee
        guard count < FastPathStage.pendingCapacity else { return }
        // The frame as it left the bridge: inside the tunnel's outer headers, if any.
        let outer = record.pointee.outerLength
        guard record.pointee.outLength >= outer &+ 14 else { return }
        record.pointee.outAddress &+= UInt64(outer)
        record.pointee.outLength &-= outer
        let frame = pool.pointer(record.pointee.outAddress)
        let length = record.pointee.outLength
        record.pointee.outDst = frame.loadBE48(at: 0)
        record.pointee.outSrc = frame.loadBE48(at: 6)
        record.pointee.outTagged = length >= 18 && frame.loadBE16(at: 12) == 0x8100
        record.pointee.outTCI = record.pointee.outTagged ? frame.loadBE16(at: 14) : 0
        fastPath.pending[count] = record.pointee
        let base = count &* FastPathStage.maximumSteps
        for i in 0..<record.pointee.stepCount { fastPath.pendingSteps[base &+ i] = fastPath.steps[i] }
        fastPath.pendingCount.pointee = count &+ 1
    }

    // MARK: - The transport's side (control path)

    /// The decisions recorded since the last call that the fast path can repeat: the
    /// NORMAL-only ones in the order their frames were forwarded (duplicates included), then
    /// those through tables (one per connection key).
    public func takeFastPathDecisions() -> [FastPathDecision] {
        let count = fastPath.pendingCount.pointee
        var decisions: [FastPathDecision] = []
        for i in 0..<count {
            if let decision = decision(of: fastPath.pending[i], steps: fastPath.pendingSteps + i * FastPathStage.maximumSteps) {
                decisions.append(decision)
            }
        }
        fastPath.pendingCount.pointee = 0
        fastPath.refusedConnections.pointee.removeAll(keepingCapacity: true)
        guard !fastPath.pendingConnections.pointee.isEmpty else { return decisions }
        decisions += fastPath.pendingConnections.pointee
        fastPath.pendingConnections.pointee.removeAll(keepingCapacity: true)
        return decisions
    }

    /// The decision a finished record stands for, or nil when its chain is not a plain
    /// NORMAL unicast path the fast path repeats exactly.
    func decision(of record: FastPathRecord, steps: UnsafeMutablePointer<FastPathRecordStep>) -> FastPathDecision? {
        // One tag at most, and an 802.1Q one (the kernel program parses just that).
        guard record.vlanCount <= 1, !record.tagged || record.tpid == 0x8100 else { return nil }
        guard record.dst & 0x0100_0000_0000 == 0, record.outDst == record.dst, record.outSrc == record.src else { return nil }
        let n = record.stepCount
        for i in 0..<n {
            let step = steps[i]
            guard step.depth == i else { return nil }
            let out = fastPorts[PortID(step.outPort)]
            if i + 1 < n {
                guard out.egressKind == .patch, out.peerID.index == steps[i + 1].inPort else { return nil }
            } else {
                guard out.egressKind == (record.outerLength > 0 ? .tunnel : .queue), step.outPort == record.outPort else { return nil }
            }
        }
        let path = fastPathSteps(record, steps: steps, base: record.inLength)
        let operation = FastPathTagOperation.between(tagged: record.tagged, tci: record.tci,
                                                     outTagged: record.outTagged, outTCI: record.outTCI)
        let expected = Int(record.inLength) + (operation == .push ? 4 : operation == .pop ? -4 : 0)
        guard Int(record.outLength) == expected else { return nil }
        var encapsulation: FastPathEncapsulation?
        if record.outerLength > 0 {
            encapsulation = fastPathEncapsulation(tunnelPort: PortID(record.outPort), delta: expected - Int(record.inLength))
            guard encapsulation?.header.count == Int(record.outerLength) else { return nil }
        }
        var decapsulation: FastPathDecapsulation?
        if record.fromTunnel {
            decapsulation = fastPathDecapsulation(tunnelPort: path[0].inPort, tunnelID: record.tunnelID)
            guard decapsulation != nil, encapsulation == nil else { return nil }
        }
        return FastPathDecision(key: FastPathKey(inPort: path[0].inPort, tagged: record.tagged, tci: record.tci,
                                                 dst: record.dst, src: record.src, tunnelID: record.fromTunnel ? record.tunnelID : nil),
                                steps: path, outPort: PortID(record.outPort), tagOperation: operation,
                                outTCI: operation == .push || operation == .set ? record.outTCI : 0, encapsulation: encapsulation,
                                decapsulation: decapsulation)
    }

    /// The `record.stepCount` steps at `steps` (a walk's, `walkNormal`) as `FastPathStep`s,
    /// their lengths relative to a frame of `base` bytes as it entered the datapath.
    func fastPathSteps(_ record: FastPathRecord, steps: UnsafeMutablePointer<FastPathRecordStep>, base: UInt32) -> [FastPathStep] {
        (0..<record.stepCount).map { i in
            let step = steps[i]
            let outLength = i + 1 < record.stepCount ? steps[i + 1].inLength : record.outLength
            return FastPathStep(bridge: BridgeID(step.bridge), vlan: step.vlan, inPort: PortID(step.inPort), outPort: PortID(step.outPort),
                                inLengthDelta: Int(step.inLength) - Int(base), outLengthDelta: Int(outLength) - Int(base),
                                flooded: step.flooded)
        }
    }

    /// Whether a MAC entry moved since the last call (the fast path's entries must be
    /// re-checked).
    public func takeFastPathMACChanged() -> Bool {
        let changed = fastPath.macChanged.pointee
        fastPath.macChanged.pointee = false
        return changed
    }

    /// Live MAC entries evicted so far, over every bridge (an eviction, like a move,
    /// makes the fast path re-check its entries).
    public var macEvictions: UInt64 {
        var total: UInt64 = 0
        for i in 0..<l2.bridgeCount { total &+= l2.macTables[i].evictions.pointee }
        return total
    }

    /// When `decision` stops holding (the first of its MAC entries to age out, or of its
    /// connections to time out), or nil when it no longer holds now: a bridge gained flows,
    /// a MAC lookup along the path gives another port (moved, flushed, aged, evicted), or,
    /// for a decision through tables, the path worked out again is not the same decision
    /// (Datapath+FastPathConnections.swift).
    public func fastPathExpiry(of decision: FastPathDecision, now instant: DatapathInstant) -> DatapathInstant? {
        let now = instant.nanoseconds
        if decision.route != nil {
            // Worked out afresh: through the tables first when it went through them.
            let again = decision.dependencies.bridge.index >= 0 ? workOutConnectionPath(decision.key, now: now)
                                                                : workOutRoutedPath(decision.key, now: now)
            guard let (again, expiry) = again, again == decision else { return nil }
            return DatapathInstant(nanoseconds: expiry)
        }
        if decision.key.connection != nil {
            return connectionExpiry(of: decision, now: now).map { DatapathInstant(nanoseconds: $0) }
        }
        for step in decision.steps where step.bridge.index >= 0 && step.bridge.index < l2.bridgeCount {
            guard !openFlow.active[step.bridge.index] else { return nil }
        }
        guard fastPathEncapsulationHolds(decision), fastPathDecapsulationHolds(decision) else { return nil }
        return macExpiry(of: decision.steps[...], src: decision.key.src, dst: decision.key.dst, now: now).map { DatapathInstant(nanoseconds: $0) }
    }

    /// Adds what the kernel forwarded for `decision` — `packets` frames of `bytes` bytes as
    /// they entered, the last at `lastUsed` — to the port counters along its path, and
    /// refreshes its source MAC entries as NORMAL would have.
    public func creditFastPath(_ decision: FastPathDecision, packets: UInt64, bytes: UInt64, lastUsed: DatapathInstant) {
        guard packets > 0 else { return }
        func adjusted(_ delta: Int) -> UInt64 { FastPathStep.bytes(bytes, packets: packets, delta: delta) }
        for (index, step) in decision.steps.enumerated()
        where ports.indices.contains(step.inPort.index) && ports.indices.contains(step.outPort.index) {
            let inSlots = fastPorts[step.inPort].counters.slots
            inSlots[0] &+= packets
            inSlots[1] &+= adjusted(step.inLengthDelta)
            if step.flooded { inSlots[4] &+= packets }  // PortCounters.flooded()
            let outSlots = fastPorts[step.outPort].counters.slots
            outSlots[2] &+= packets
            outSlots[3] &+= adjusted(step.outLengthDelta)
            if step.learnsSource && (0..<l2.bridgeCount).contains(step.bridge.index) {
                l2.macTables[step.bridge.index].refresh(decision.macs(onStep: index).src, vlan: step.vlan, port: step.inPort.index, seen: lastUsed.nanoseconds)
            }
        }
        creditDependencies(decision.dependencies, packets: packets, bytes: bytes, lastUsed: lastUsed.nanoseconds)
        creditRoute(decision, packets: packets, bytes: bytes, lastUsed: lastUsed.nanoseconds)
        creditEncapsulation(decision, packets: packets, bytes: bytes)
        creditDecapsulation(decision, packets: packets, bytes: bytes)
    }
}

extension MACTableStorage {
    /// When `mac` in `vlan` was last seen, if it is live on `port`.
    func seen(_ mac: UInt64, vlan: UInt16, port: Int, now: UInt64) -> UInt64? {
        let index = entryIndex(of: Self.key(mac, vlan))
        return index >= 0 && isLive(index, now: now) && Int(ports[index]) == port ? seen[index] : nil
    }

    /// Moves the last-seen time of `mac` in `vlan`, live on `port`, forward to `seen`.
    func refresh(_ mac: UInt64, vlan: UInt16, port: Int, seen time: UInt64) {
        let index = entryIndex(of: Self.key(mac, vlan))
        if index >= 0 && Int(ports[index]) == port && seen[index] < time { seen[index] = time }
    }
}
