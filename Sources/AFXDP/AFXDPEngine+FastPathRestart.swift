#if canImport(Glibc)
import Glibc
#endif
import XDPDatapath

// The engine's side of forwarding while the daemon is away (SteeringPins.swift): adopting
// the fast path's entries a previous process left pinned, and leaving them pinned on a
// `close()` with `--on-exit keep`.
//
// Adoption runs once, after the datapath has its learned state back (the MAC tables the
// entries rest on): each `fp_flows` entry's key (ingress ifindex, tag, MACs) is mapped to
// the datapath port served on that ifindex, the datapath works NORMAL's decision out for it
// as its tables stand now (`Datapath.fastPathDecision(for:now:)`), and the entry is kept
// only when that decision leaves by the entry's egress interface with the entry's tag
// operation, and holds (`fastPathExpiry`). A kept entry becomes the engine's own, with the
// expiry and longest frame of this engine, and its counters as the kernel has them (what it
// carried before and while the daemon was away shows in `dump-fastpath`; the datapath's
// port counters, which start at zero with the process, are credited from here on). Every
// other entry is removed, with its counters; so are egress devices no kept entry uses.
// An entry of a connection through OpenFlow tables is worked out from the flow-segment cache,
// which starts empty in a new process: it is removed, and the connection's next packet,
// going the slow path, installs it again.
extension AFXDPEngine {
    /// What the engine found pinned and did about it at start, one line each: pins of a
    /// previous run removed, maps that did not fit, links adopted or replaced. Empty without
    /// pinning.
    public var fastPathPinningReports: [String] { fastPathPinReports }

    /// Whether `close()` left the program, its links and maps pinned and attached
    /// (`FastPathPinning.ExitAction.keep`).
    public var leftFastPathPinned: Bool { lifecycle.withLock { _ in leavesFastPathPinned } }

    /// The steering program's lines and what was adopted. Init only.
    func pinningReports() -> [String] {
        var lines = steering.reports
        if let directory = steering.pinDirectory {
            let adopted = ports.compactMap { $0.link?.adopted == true ? $0.name : nil }
            lines.append("fast path: pinned in \(directory); " + (adopted.isEmpty ? "no program to adopt"
                : "adopted the program attached to \(adopted.joined(separator: ", ")) (replaced in place)"))
        }
        return lines
    }

    /// Adopts the fast path's entries a previous process left in the pinned maps (see the
    /// top): call it once, after restoring the datapath's learned state. Returns the line
    /// that says what was kept and removed, nil when there was nothing pinned to adopt.
    public func adoptFastPath() -> String? {
        guard fastPathOn, steering.reusedMaps else { return nil }
        return perform { [self] datapath, now in
            let (kept, removed) = fastPathAdopt(datapath, now: now.nanoseconds)
            return "fast path: adopted \(kept) entries left pinned by the previous run, removed \(removed) the datapath "
                + "would not take now; \(steering.framesDroppedWithoutSocket) frames dropped while no socket"
        }
    }

    /// Worker (or a stopped engine) only.
    private func fastPathAdopt(_ datapath: Datapath, now: UInt64) -> (kept: Int, removed: Int) {
        var portOfIfindex: [Int32: PortID] = [:]
        for port in ports where port.state == .attached {
            if let id = port.datapathPortID { portOfIfindex[port.ifindex] = id }
        }
        let own = Set(fastPathEntries.values.map(\.keyBytes))
        var kept = 0, removed = 0
        var egresses = Set(fastPathEntries.values.map(\.egressIfindex))
        for (keyBytes, actionBytes) in steering.fastPath.kernelEntries() where !own.contains(keyBytes) {
            guard let entry = adoptedEntry(keyBytes, actionBytes, portOfIfindex: portOfIfindex, datapath: datapath, now: now),
                  fastPathEntries[entry.decision.key] == nil
            else {
                steering.fastPath.remove(key: keyBytes)
                steering.fastPath.forget(key: keyBytes)
                removed += 1
                continue
            }
            fastPathEntries[entry.decision.key] = entry
            egresses.insert(entry.egressIfindex)
            kept += 1
        }
        do { try steering.fastPath.keepDevices(egresses) } catch {
            fastPathInstallErrors &+= 1
        }
        lastFastPathSync = now
        return (kept, removed)
    }

    /// The engine's entry for a kernel entry, nil when the datapath would not take it now.
    private func adoptedEntry(_ keyBytes: [UInt8], _ actionBytes: [UInt8], portOfIfindex: [Int32: PortID],
                              datapath: Datapath, now: UInt64) -> InstalledFastPathEntry? {
        var (ifindex, key) = FastPathMaps.key(of: keyBytes)
        guard let inPort = portOfIfindex[ifindex], let action = FastPathMaps.action(of: actionBytes) else { return nil }
        key.inPort = inPort
        guard let decision = datapath.fastPathDecision(for: key, now: DatapathInstant(nanoseconds: now)),
              decision.tagOperation == action.operation,
              decision.tagOperation == .keep || decision.tagOperation == .pop || decision.outTCI == action.tci,
              portOfIfindex[action.egress] == decision.egressPort,
              let ingress = fastPathInterface(ofPort: key.inPort), let egress = fastPathInterface(ofPort: decision.egressPort),
              let expiry = datapath.fastPathExpiry(of: decision, now: DatapathInstant(nanoseconds: now))?.nanoseconds, expiry > now
        else { return nil }
        // The same rewrite (a router's, or none); the expiry and longest frame are this process's.
        let updated = FastPathMaps.actionBytes(of: decision, egress: action.egress, expires: expiry, maximumLength: fastPathMaximumLength)
        guard updated[FastPathMaps.rewriteBytes] == actionBytes[FastPathMaps.rewriteBytes] else { return nil }
        if updated != actionBytes {
            guard (try? steering.fastPath.install(key: keyBytes, action: updated, fresh: false)) != nil else { return nil }
        }
        let counters = steering.fastPath.counters(key: keyBytes)
        return InstalledFastPathEntry(decision: decision, keyBytes: keyBytes, egressIfindex: action.egress,
                                      ingress: ingress, egress: egress, expiry: expiry,
                                      packets: counters.packets, bytes: counters.bytes, lastUsed: counters.lastUsed,
                                      installed: now)
    }

    /// `close()` with `--on-exit keep`: counters folded into the datapath, the links let
    /// go of (their pins hold the program), the sockets closed with the ports left in the
    /// program's `ports` map (the fast path goes on, the rest is dropped and counted), and
    /// the entries left in the kernel. Under `lifecycle`, the worker stopped.
    func leaveFastPathPinned() {
        if let datapath { fastPathSync(datapath, now: DatapathInstant.now().nanoseconds) }
        leavesFastPathPinned = true
        steering.releaseAll()
        for port in ports {
            port.link = nil
            if !port.sockets.isEmpty { closeInterface(port, interfaceGone: false) }
        }
        fastPathEntries.removeAll()
        interfacesChanged()
    }
}
