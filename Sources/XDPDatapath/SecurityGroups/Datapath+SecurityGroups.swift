// Applying security groups to a running datapath. Control-path code: call it on the
// thread that runs `process` (the AF_XDP engine's `perform`), between batches.
//
// The bridge's whole flow table is replaced by the compiled one in a single
// `install` — one new table version that the next batch sees whole — and, in the same
// call, the tracked connections the new rules would not allow are removed. No packet
// runs between the two steps, so there is no moment where traffic passes that neither
// the old nor the new rules allow.
extension Datapath {
    /// What one `applySecurityGroups` did.
    public struct SecurityGroupUpdate: Sendable, Equatable {
        /// Flows in the bridge's new table.
        public var flows: Int
        /// Tracked connections removed because the new rules do not allow them.
        public var connectionsCut: Int
    }

    /// The ports of bridge `name` as the security-group compiler sees them.
    public func firewallBridgePorts(bridge name: String) -> [FirewallBridgePort]? {
        guard let bridge = bridge(named: name) else { return nil }
        return bridge.portIDs.map { FirewallBridgePort(name: self[$0].name, ofport: self[$0].ofport, tag: self[$0].tag) }
    }

    /// Compiles `configuration` and installs it as the whole flow table of its bridge
    /// (flows that stay the same keep their counters), then cuts the tracked connections
    /// the new rules no longer allow. Call it again with a changed configuration to
    /// change rules, groups or bindings at run time.
    /// - Throws: `DatapathConfigurationError` for a refused configuration (nothing changes).
    @discardableResult
    public func applySecurityGroups(_ configuration: SecurityGroupConfiguration, now instant: DatapathInstant) throws(DatapathConfigurationError) -> SecurityGroupUpdate {
        let now = instant.nanoseconds
        guard let bridge = bridge(named: configuration.bridge), let layout = firewallBridgePorts(bridge: configuration.bridge) else {
            throw DatapathConfigurationError(subject: configuration.bridge, key: "bridge", message: "no such bridge")
        }
        let rules = try SecurityGroupCompiler(configuration: configuration, bridgePorts: layout).flows()
        var old: [FlowRule: FlowCounters] = [:]
        for flow in bridge.flowTable.flows { old[flow.rule] = flow.counters }
        let flows = rules.map { FlowTable.Flow(rule: $0, counters: old[$0] ?? FlowCounters(now: now)) }
        install(flows, bridgeID: bridge.id.index)
        let policy = SecurityGroupPolicy(configuration: configuration, bridgePorts: layout)
        let cut = conntrack?.flush { !policy.allows($0.original) } ?? 0
        return SecurityGroupUpdate(flows: flows.count, connectionsCut: cut)
    }
}
