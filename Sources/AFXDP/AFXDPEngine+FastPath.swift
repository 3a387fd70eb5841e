#if canImport(Glibc)
import Glibc
#endif
import XDPDatapath

// The engine's side of the in-kernel fast path (EngineConfiguration.fastPath; the program is
// bpf/datapath/xsk_steer.bpf.c, the slow path's rules Sources/XDPDatapath/FastPath/).
//
// The Swift pipeline is the only truth; the kernel repeats decisions it took:
// - install: after each batch, the decisions the datapath recorded (learned unicast
//   through NORMAL-only bridges; established connections through OpenFlow tables) become
//   `fp_flows` entries, each checked against the datapath's state as it is now
//   (`fastPathExpiry`), with the time its first MAC entry ages out (or connection times
//   out) as the entry's expiry, which the program honours by itself;
// - revalidate (`fastPathSync`): every entry is re-checked, its counters folded into the
//   datapath's port counters (and flow counters and connection timers) and its source MACs
//   refreshed, and it is removed when it no longer holds, or updated when its expiry moved.
//   This runs after a batch in which a MAC entry moved or was evicted or some bridge's
//   tables changed (learn, expiry), once a second, before statistics are published, and
//   around every control operation; after a batch in which TCP segments with FIN or RST
//   went through tables, the entries of those connections are re-checked;
// - control operations (flow add/mod/del, fdb flushes, every control-socket command) run
//   with the program's fast path switched off (`fp_config`), then entries are re-checked
//   and the fast path switched back on: a change takes effect with no frame forwarded by a
//   decision it invalidated;
// - a new datapath (reconfigure) or any change of the interfaces served (one appeared, went
//   away or was closed) removes every entry first, crediting their counters to the
//   datapath that had them. (A link merely set down keeps its entries: frames redirected to
//   it are dropped by the kernel, where the slow path would count them `port-down`.)
// - a restart keeps them when the program is pinned: the next process adopts the entries
//   the datapath would still take (AFXDPEngine+FastPathRestart.swift, SteeringPins.swift).
// Egress interfaces must accept XDP redirects (`ndo_xdp_xmit`): physical NICs and tun do;
// a veth does only while its peer has an XDP program or GRO on (`ethtool -K PEER gro on`),
// otherwise the kernel drops redirected frames. So entries go only toward interfaces whose
// XDP features say NDO_XMIT (NetdevXDPFeatures.swift), asked again once a second.
extension AFXDPEngine {
    /// One entry the engine installed in the kernel.
    struct InstalledFastPathEntry {
        let decision: FastPathDecision
        let keyBytes: [UInt8]
        let egressIfindex: Int32
        /// The interfaces its frames enter and leave by (credited with what it carried).
        let ingress: IOPort
        let egress: IOPort
        var expiry: UInt64
        /// Counters already credited to the datapath.
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
        var lastUsed: UInt64 = 0
        let installed: UInt64
    }

    /// Whether the fast path is on (fixed at init).
    var fastPathOn: Bool { configuration.fastPath }

    /// Makes `datapath` record decisions when the fast path is on, and switches the
    /// program's fast path on. Init and reconfigure.
    func prepareFastPath(_ datapath: Datapath?) throws(AFXDPError) {
        guard fastPathOn, let datapath else { return }
        datapath.fastPathRecording = true
        datapath.fastPathReporter = { [weak self] now in
            self?.fastPathDump(now: now.nanoseconds) ?? FastPathDump(entries: [], framesDroppedWithoutSocket: 0)
        }
        fastPathEvictions = datapath.macEvictions
        fastPathTablesGeneration = datapath.flowTablesGeneration
        fastPathNeighbourChanges = datapath.neighbourChanges
        if fastPathEntries.isEmpty {
            steering.fastPath.removeTunnels()
            fastPathTunnelIDs.removeAll()
        }
        try steering.fastPath.setEnabled(true)
    }

    /// After a batch: re-check on MAC changes, then install the new decisions.
    @inline(__always)
    func fastPathAfterBatch(_ datapath: Datapath, now: UInt64) {
        let decisions = datapath.takeFastPathDecisions()
        let closing = datapath.takeFastPathClosingConnections()
        if datapath.takeFastPathMACChanged() || datapath.macEvictions != fastPathEvictions || closing == nil
            || (!fastPathEntries.isEmpty && datapath.flowTablesGeneration != fastPathTablesGeneration)
            || (!fastPathEntries.isEmpty && datapath.neighbourChanges != fastPathNeighbourChanges) {
            fastPathEvictions = datapath.macEvictions
            fastPathSync(datapath, now: now)
        } else if let closing, !closing.isEmpty, !fastPathEntries.isEmpty {
            fastPathRecheck(connections: closing, datapath: datapath, now: now)
        }
        for decision in decisions where fastPathEntries[decision.key] == nil {
            fastPathInstall(decision, datapath: datapath, now: now)
        }
    }

    /// The interface of datapath port `id` when it is attached, else nil.
    func fastPathInterface(ofPort id: PortID) -> IOPort? {
        guard ioPortOfDatapathPort.indices.contains(id.index) else { return nil }
        let io = ioPortOfDatapathPort[id.index]
        guard io >= 0, ports[io].state == .attached, !ports[io].sockets.isEmpty, ports[io].ifindex > 0 else { return nil }
        return ports[io]
    }

    /// The ifindex of datapath port `id` when its interface is attached, else nil.
    private func fastPathIfindex(ofPort id: PortID) -> Int32? { fastPathInterface(ofPort: id)?.ifindex }

    private func fastPathInstall(_ decision: FastPathDecision, datapath: Datapath, now: UInt64) {
        guard fastPathEntries.count < Self.fastPathCapacity,
              let ingress = fastPathInterface(ofPort: decision.ingressPort),
              let egress = fastPathInterface(ofPort: decision.egressPort),
              let expiry = datapath.fastPathExpiry(of: decision, now: DatapathInstant(nanoseconds: now))?.nanoseconds, expiry > now,
              egressAcceptsRedirects(egress.ifindex, now: now)
        else { return }
        var inIfindex = ingress.ifindex
        let outIfindex = egress.ifindex
        if let decapsulation = decision.decapsulation {
            // Keyed by the tunnel's id in place of the underlay's ifindex.
            guard let id = fastPathTunnelID(decapsulation, ifindex: ingress.ifindex) else {
                fastPathInstallErrors &+= 1
                return
            }
            inIfindex = Int32(bitPattern: id)
        }
        let key = FastPathMaps.keyBytes(ifindex: inIfindex, key: decision.key)
        let action = FastPathMaps.actionBytes(of: decision, egress: outIfindex, expires: expiry, maximumLength: fastPathMaximumLength)
        do {
            try steering.fastPath.addDevice(outIfindex)
            try steering.fastPath.install(key: key, action: action, fresh: true)
        } catch {
            fastPathInstallErrors &+= 1
            return
        }
        fastPathEntries[decision.key] = InstalledFastPathEntry(decision: decision, keyBytes: key, egressIfindex: outIfindex,
                                                               ingress: ingress, egress: egress, expiry: expiry, installed: now)
    }

    /// The id the fast path's keys use for the inner frames of `decapsulation`'s packets
    /// arriving on `ifindex`, installed in `fp_tunnels` the first time. Tunnels stay
    /// installed until the entries are flushed: one that no entry uses only costs a lookup
    /// that finds no entry under its id, and the slow path takes the packet whole.
    private func fastPathTunnelID(_ decapsulation: FastPathDecapsulation, ifindex: Int32) -> UInt32? {
        let key = FastPathMaps.tunnelKeyBytes(ifindex: ifindex, decapsulation: decapsulation)
        if let id = fastPathTunnelIDs[key] { return id }
        let id = FastPathMaps.firstTunnelID + UInt32(fastPathTunnelIDs.count)
        guard (try? steering.fastPath.installTunnel(key: key, id: id)) != nil else { return nil }
        fastPathTunnelIDs[key] = id
        return id
    }

    /// Whether `ifindex` takes XDP redirects (NetdevXDPFeatures), asked at most once a
    /// second per interface; a kernel that cannot say is taken at its word.
    private func egressAcceptsRedirects(_ ifindex: Int32, now: UInt64) -> Bool {
        if let known = fastPathEgressChecks[ifindex], now &- known.checked < 1_000_000_000 { return known.accepts }
        let accepts = NetdevXDPFeatures.features(ifindex: ifindex).map { $0 & NetdevXDPFeatures.ndoXmit != 0 } ?? true
        fastPathEgressChecks[ifindex] = (accepts, now)
        return accepts
    }

    /// Entries the engine installs at most (the map's size).
    static let fastPathCapacity = 65536

    /// The longest frame the fast path carries: what a UMEM frame holds, so a frame the
    /// slow path could not receive is not forwarded either.
    var fastPathMaximumLength: UInt32 { UInt32(umem.frameSize - pool.headroom) }

    /// Folds every entry's counters into `datapath` and re-checks it (see the top).
    func fastPathSync(_ datapath: Datapath, now: UInt64) {
        fastPathTablesGeneration = datapath.flowTablesGeneration
        fastPathNeighbourChanges = datapath.neighbourChanges
        guard !fastPathEntries.isEmpty else { return }
        lastFastPathSync = now
        for key in fastPathEntries.keys { fastPathRecheck(key, datapath: datapath, now: now) }
    }

    /// Re-checks only the entries of `connections` (either direction): after a batch in
    /// which they saw a FIN or RST, the other entries have no reason to change.
    func fastPathRecheck(connections: [FastPathConnection], datapath: Datapath, now: UInt64) {
        for (key, entry) in fastPathEntries where connections.contains(where: { entry.decision.concerns($0) }) {
            fastPathRecheck(key, datapath: datapath, now: now)
        }
    }

    /// Folds the counters of the entry `key` into `datapath` and re-checks it: removed when
    /// it no longer holds, its expiry moved when that changed.
    private func fastPathRecheck(_ key: FastPathKey, datapath: Datapath, now: UInt64) {
        guard var entry = fastPathEntries[key] else { return }
        credit(&entry, datapath: datapath)
        guard let expiry = datapath.fastPathExpiry(of: entry.decision, now: DatapathInstant(nanoseconds: now))?.nanoseconds, expiry > now,
              fastPathIfindex(ofPort: entry.decision.ingressPort) != nil,
              fastPathIfindex(ofPort: entry.decision.egressPort) == entry.egressIfindex,
              egressAcceptsRedirects(entry.egressIfindex, now: now)
        else {
            fastPathRemove(entry, datapath: datapath)
            fastPathEntries[key] = nil
            return
        }
        if expiry != entry.expiry {
            entry.expiry = expiry
            let action = FastPathMaps.actionBytes(of: entry.decision, egress: entry.egressIfindex, expires: expiry,
                                                  maximumLength: fastPathMaximumLength)
            if (try? steering.fastPath.install(key: entry.keyBytes, action: action, fresh: false)) == nil {
                fastPathRemove(entry, datapath: datapath)
                fastPathEntries[key] = nil
                return
            }
        }
        fastPathEntries[key] = entry
    }

    /// Removes every entry, crediting `datapath` with what they carried.
    func fastPathFlush(_ datapath: Datapath?) {
        for entry in fastPathEntries.values {
            if let datapath { fastPathRemove(entry, datapath: datapath) }
            else { steering.fastPath.remove(key: entry.keyBytes); steering.fastPath.forget(key: entry.keyBytes) }
        }
        fastPathEntries.removeAll()
        steering.fastPath.removeDevices()
        steering.fastPath.removeTunnels()
        fastPathTunnelIDs.removeAll()
    }

    /// The new counters of `entry` into the datapath.
    private func credit(_ entry: inout InstalledFastPathEntry, datapath: Datapath) {
        let counters = steering.fastPath.counters(key: entry.keyBytes)
        guard counters.packets > entry.packets else { return }
        let (packets, bytes) = (counters.packets &- entry.packets, counters.bytes &- entry.bytes)
        datapath.creditFastPath(entry.decision, packets: packets, bytes: bytes, lastUsed: DatapathInstant(nanoseconds: counters.lastUsed))
        fastPathPackets &+= packets
        entry.ingress.fastPathRx.packets &+= packets
        entry.ingress.fastPathRx.bytes &+= entry.decision.bytesArriving(bytes, packets: packets)
        entry.egress.fastPathTx.packets &+= packets
        entry.egress.fastPathTx.bytes &+= entry.decision.bytesLeaving(bytes, packets: packets)
        entry.packets = counters.packets
        entry.bytes = counters.bytes
        entry.lastUsed = counters.lastUsed
    }

    private func fastPathRemove(_ entry: InstalledFastPathEntry, datapath: Datapath) {
        var entry = entry
        steering.fastPath.remove(key: entry.keyBytes)
        credit(&entry, datapath: datapath)   // what hit it until the removal
        steering.fastPath.forget(key: entry.keyBytes)
    }

    /// Runs a control operation with the kernel's fast path off and every entry
    /// re-checked after it (see the top).
    func aroundControl<T>(now: UInt64, _ body: () -> T) -> T {
        guard fastPathOn, let datapath, !fastPathEntries.isEmpty else { return body() }
        try? steering.fastPath.setEnabled(false)
        fastPathSync(datapath, now: now)
        let result = body()
        if let current = self.datapath { fastPathSync(current, now: now) }
        try? steering.fastPath.setEnabled(true)
        return result
    }

    /// Once a second: counters and expiries.
    @inline(__always)
    func fastPathHousekeeping(now: UInt64) {
        guard fastPathOn, !fastPathEntries.isEmpty, now &- lastFastPathSync >= 1_000_000_000, let datapath else { return }
        fastPathSync(datapath, now: now)
    }

    /// `dump-fastpath`: the entries, oldest first, with their counters at `now`.
    func fastPathDump(now: UInt64) -> FastPathDump {
        guard let datapath else { return FastPathDump(entries: [], framesDroppedWithoutSocket: 0) }
        fastPathSync(datapath, now: now)
        let names = datapath.ports.map(\.name)
        func name(_ id: PortID) -> String { names.indices.contains(id.index) ? names[id.index] : "\(id.index)" }
        let entries = fastPathEntries.values
            .sorted { $0.installed != $1.installed ? $0.installed < $1.installed : $0.decision.key.description < $1.decision.key.description }
            .map { entry in
                FastPathEntry(decision: entry.decision, inPort: name(entry.decision.key.inPort), outPort: name(entry.decision.egressPort),
                              packets: entry.packets, bytes: entry.bytes,
                              sinceLastUse: entry.lastUsed == 0 ? nil : .nanoseconds(Int64(now &- min(entry.lastUsed, now))),
                              tunnelPort: entry.decision.encapsulation.map { name($0.tunnelPort) })
            }
        // Frames the program dropped while no switch ran (SteeringPins.swift), when any.
        return FastPathDump(entries: entries, framesDroppedWithoutSocket: steering.framesDroppedWithoutSocket)
    }
}
