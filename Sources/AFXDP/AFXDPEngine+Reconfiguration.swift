#if canImport(Glibc)
import Glibc
#endif
import XDPDatapath

// Bringing a running engine to a new configuration (docs/operations.md, "Changing a running
// switch"). The new datapath is built off the worker, over the engine's frame pool, with the
// OpenFlow port numbers of the ports that stay and the routers and DHCP responders that did
// not change (Datapath+Reconfiguration.swift); a refusal there changes nothing. Then one job
// on the worker, between two batches (the `perform` machinery): the old datapath's port
// queues go out on their interfaces, the new one takes over the old one's state, becomes
// the datapath, interfaces no longer configured are closed (every frame they held back to
// the pool) and new ones attached — or left waiting when they do not exist yet. Sockets of
// interfaces that stay are untouched: their rings never stop.
extension AFXDPEngine {
    /// A reference handed between `reconfigure`'s task and the worker: the predecessor's
    /// connection tracker (worker to task) and the successor datapath (task to worker).
    ///
    /// Why `@unchecked Sendable` holds: each crosses once, through the job queue's mutex
    /// or the continuation, and is used by one side at a time. The task only stores the
    /// tracker in the successor it builds (`DatapathSuccession`), touching none of its
    /// state, while the worker goes on using it; the successor is built by the task, which
    /// does not touch it again after queueing the job that hands it to the worker.
    private struct Handoff<Value>: @unchecked Sendable { let value: Value }

    /// Brings the running (or stopped) engine to `configuration` without stopping: see the
    /// top of AFXDPEngine+Reconfiguration.swift. Throws `AFXDPEngineError.configuration`
    /// with the new datapath's `DatapathConfigurationError` — then nothing changed — or
    /// `.system` for an engine made without a datapath. Calls are serialised. An interface
    /// that cannot be attached does not refuse the configuration: its port is down
    /// (`interfaceStates()`).
    public func reconfigure(to configuration: DatapathConfiguration) async throws(AFXDPEngineError<DatapathConfigurationError>)
        -> ReconfigurationSummary {
        try await reconfigure(to: configuration) { pool, numbered, succession throws(DatapathConfigurationError) in
            try Datapath(configuration: numbered, pool: pool, now: DatapathInstant.now(), succeeding: succession)
        }
    }

    /// Like `reconfigure(to:)`, with `makeDatapath` building the new datapath from the
    /// configuration as numbered for succession and the succession instead of
    /// `Datapath(configuration:pool:now:succeeding:)`. What it throws is thrown as
    /// `AFXDPEngineError.configuration` — then nothing changed.
    public func reconfigure<Failure: Error>(
        to configuration: DatapathConfiguration,
        makeDatapath: @Sendable (FramePool, DatapathConfiguration, DatapathSuccession?) throws(Failure) -> Datapath
    ) async throws(AFXDPEngineError<Failure>) -> ReconfigurationSummary {
        guard hasDatapath else {
            throw .system(AFXDPError(call: "reconfigure", errno: EINVAL, detail: "the engine was made without a datapath"))
        }
        return try await reconfiguration.run { () async throws(AFXDPEngineError<Failure>) -> ReconfigurationSummary in
            // Only a reconfiguration replaces the datapath, and they are serialised: reading
            // the reference here is safe; the build reads only what never changes in it.
            let current = datapath.unsafelyUnwrapped
            let numbered = configuration.keepingPortNumbers(of: current)
            var succession: DatapathSuccession?
            if let previousConfiguration = appliedConfiguration.withLock({ $0 }) {
                // The one thing of `current` its worker changes that the succession takes is
                // the tracker (created by the first table with ct()): read on the worker.
                let tracker = await withCheckedContinuation { (continuation: CheckedContinuation<Handoff<ConnectionTracker?>, Never>) in
                    submit(ControlJob { engine, _ in
                        continuation.resume(returning: Handoff(value: engine.datapath.unsafelyUnwrapped.conntrack))
                    })
                }
                succession = DatapathSuccession(previous: current, previousConfiguration: previousConfiguration,
                                                configuration: numbered, previousTracker: tracker.value)
            }
            let candidate: Datapath
            do throws(Failure) {
                candidate = try makeDatapath(pool, numbered, succession)
            } catch {
                throw .configuration(error)
            }
            if let underlay = candidate.underlay { try? Self.adoptInterfaceMAC(underlay) }
            let handoff = Handoff(value: candidate)
            let interfaces = Self.interfaces(of: numbered)
            let summary = await withCheckedContinuation { (continuation: CheckedContinuation<ReconfigurationSummary, Never>) in
                submit(ControlJob { engine, now in
                    continuation.resume(returning: engine.replaceDatapath(with: handoff.value, interfaces: interfaces, now: now))
                })
            }
            appliedConfiguration.withLock { $0 = numbered }
            return summary
        }
    }

    /// Worker side of `reconfigure` (or a stopped engine under `lifecycle`).
    private func replaceDatapath(with candidate: Datapath, interfaces: [String], now: UInt64) -> ReconfigurationSummary {
        let previous = datapath.unsafelyUnwrapped
        drainDatapathQueues(previous)
        fastPathFlush(previous)
        var summary = candidate.takeOver(from: previous, now: DatapathInstant(nanoseconds: now))
        datapath = candidate
        try? prepareFastPath(candidate)
        var byName: [String: IOPort] = [:]
        for port in ports { byName[port.name] = port }
        var next: [IOPort] = []
        var added: [String] = []
        for name in interfaces where !next.contains(where: { $0.name == name }) {
            if let port = byName.removeValue(forKey: name) {
                next.append(port)
            } else {
                next.append(IOPort(name: name, ifindex: 0, datapathPortID: nil))
                added.append(name)
            }
        }
        for port in ports where byName[port.name] != nil {
            if port.state == .attached { summary.interfacesDetached.append(port.name) }
            closeInterface(port, interfaceGone: false)
        }
        ports = next
        interfacesChanged()
        checkInterfaces()
        for port in ports where added.contains(port.name) {
            if port.state == .attached { summary.interfacesAttached.append(port.name) }
        }
        summary.interfacesAbsent = ports.filter { $0.state != .attached }.map(\.name)
        return summary
    }
}
