import XDPPacket

// Ingress: where every frame enters the pipeline. One packet's path (docs/architecture.md,
// "The life of a packet"):
//
//   process ─▶ ingress ─┬▶ normalAction ─▶ egressVLAN ─▶ egress            (NORMAL-only bridge)
//                       └▶ interpretFlows ─▶ … ─▶ sendToPendingOutput ─▶ egress (flow tables)
//   egress ─┬▶ the port's txQueue (then the transport's TX ring)
//           ├▶ ingress of the peer bridge (patch port)
//           ├▶ tunnelEgress (gre port) ─▶ the underlay's txQueue
//           └▶ deliverToService (router / DHCP port)
//
// A frame on the underlay port goes to `underlayIngress` (Datapath+Tunnel.swift) and, once
// decapsulated, enters `ingress` as received on its `gre` port.
extension Datapath {
    /// Runs every frame of `batch`, received on `port`, through the pipeline, and empties
    /// the batch: `process(_:from:now:)` with the port's id, as `inject(_:into:now:)` and
    /// `trace(_:on:now:)` take a `DatapathPort`.
    @inlinable
    public func process(_ batch: PacketBatch, from port: DatapathPort, now: DatapathInstant) {
        process(batch, from: port.id, now: now)
    }

    /// Runs every frame of `batch`, received on the port with id `inID`, through the
    /// pipeline, and empties the batch. Each frame ends on some port's `txQueue` or in
    /// the pool. `now` is the time on the caller's clock, which never goes backwards.
    @inlinable
    public func process(_ batch: PacketBatch, from inID: PortID, now instant: DatapathInstant) {
        let now = instant.nanoseconds
        let storage = batch.storage
        let count = storage.countPointer.pointee
        // Touch every frame's first bytes before working on any: the kernel wrote them on
        // another CPU, and independent loads overlap their cache misses (one miss's wait
        // for the whole batch instead of one per frame). The byte is kept so the loads stay.
        var touched: UInt8 = 0
        for i in 0..<count { touched |= pool.pointer(storage.addresses[i]).load(as: UInt8.self) }
        frameTouch.pointee = touched
        // Every frame of a batch comes from one port: the underlay's go to the tunnel
        // stage here, once per batch, so `ingress` needs no per-frame check (nothing else
        // hands it a frame of the underlay port, which is on no bridge).
        if fastPorts[inID].isUnderlay {
            if fastPath.recording.pointee {
                processRecordingDecapsulation(storage, count: count, from: inID, now: now)
            } else {
                for i in 0..<count {
                    underlayIngress(address: storage.addresses[i], length: storage.lengths[i], wireID: inID, now: now)
                }
            }
        } else if fastPath.recording.pointee {
            processRecordingFastPath(storage, count: count, from: inID, now: now)
        } else {
            for i in 0..<count {
                ingress(address: storage.addresses[i], length: storage.lengths[i], port: inID, now: now, depth: 0, tunnelID: 0)
            }
        }
        storage.countPointer.pointee = 0
        tick(now: instant)
    }

    /// Housekeeping between batches: runs the services (router timers, and frames they
    /// emitted enter their bridges), installs learned flows and, once a second, expires
    /// flows past their timeouts. `process` calls it; a transport whose ports are idle
    /// calls it from its idle loop so timeouts fire without traffic.
    @inlinable
    public func tick(now instant: DatapathInstant) {
        let now = instant.nanoseconds
        if services.outputCount > 0 { runServices(now: now) }
        if !openFlow.learned.pointee.isEmpty { installLearned(now: now) }
        if connectionTracking.tracker.pointee != nil { conntrackHousekeeping(now: now) }
        if now &- openFlow.lastExpiry.pointee >= 1_000_000_000 {
            openFlow.lastExpiry.pointee = now
            if anyTimeouts { expireFlows(now: instant) }
        }
    }

    /// One frame received on port `inID` from outside (what `process` does for each frame
    /// of a batch, for a caller with a single frame: `trace`): the underlay port's go to
    /// the tunnel stage, every other port's to `ingress`.
    @inlinable
    func receiveFrame(address: UInt64, length: UInt32, port inID: PortID, now: UInt64, tunnelID: UInt64) {
        if fastPorts[inID].isUnderlay {
            underlayIngress(address: address, length: length, wireID: inID, now: now)
        } else {
            ingress(address: address, length: length, port: inID, now: now, depth: 0, tunnelID: tunnelID)
        }
    }

    /// One frame entering the bridge of port `inID` (from outside, through a patch port,
    /// from a service, or decapsulated from a tunnel with `tunnelID`): parsed once, then
    /// the bridge's flow tables (`interpretFlows`) or, for a bridge with only the default
    /// NORMAL flow, `normalAction`.
    @inlinable
    func ingress(address: UInt64, length: UInt32, port inID: PortID, now: UInt64, depth: Int, tunnelID: UInt64) {
        let inPort = fastPorts[inID]
        let frame = pool.pointer(address)
        // Parsed straight into the depth's slot: service ports and the ct() action read
        // this parse instead of parsing again (no copy of it either).
        let slot = frameMeta + depth
        slot.pointee = PacketMetadata()
        inPort.counters.received(bytes: length)
        guard PacketParser.parse(frame, length: Int(length), into: &slot.pointee) else {
            drop(address, reason: DropReason(slot.pointee.error) ?? .truncatedEthernet, port: inID)
            return
        }
        if slot.pointee.flags.contains(.unknownEtherType) { inPort.counters.unknownEtherType() }
        if openFlow.active[inPort.bridgeID.index] {
            interpretFlows(address: address, length: length, meta: slot, inID: inID, bridgeID: inPort.bridgeID, depth: depth,
                           tunnelID: tunnelID, now: now)
            return
        }
        if tracer.active.pointee {
            recordTrace(bridgeID: inPort.bridgeID.index, table: nil, index: -1,
                        key: FlowKey(slot.pointee, inPort: ofports[inID.index]))
        }
        normalAction(address: address, length: length, dlSrc: slot.pointee.dlSrc, dlDst: slot.pointee.dlDst,
                     tagged: slot.pointee.vlanCount > 0, tci: slot.pointee.outerTCI, inID: inID, now: now, depth: depth,
                     tunnelID: tunnelID)
    }
}
