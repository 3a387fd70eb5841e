import AFXDP
import XDPDatapath
import XDPModel

/// Why an engine could not be made from a configuration: the configuration was refused
/// (file, line and key), or the system refused a step of the set-up (the call and the
/// interface). Nothing stays attached when one is thrown.
public enum EngineSetupError: Error, Sendable, CustomStringConvertible {
    /// The configuration is inconsistent (a duplicate name, a security group naming a
    /// port that does not exist, ...).
    case configuration(ConfigurationError)
    /// A system call of the set-up failed (an interface that does not exist, no
    /// permission to load the steering program, ...).
    case system(AFXDPError)

    /// The underlying error's one-line description.
    public var description: String {
        switch self {
        case .configuration(let error): error.description
        case .system(let error): error.description
        }
    }
}

extension AFXDPEngine {
    /// The engine `xdpswitch run --config FILE` runs: the datapath `configuration`
    /// describes — bridges, ports, flows, security groups, routers, DHCP responders,
    /// tunnels and conntrack — over the engine's UMEM, attached to every `system` port's
    /// interface (and the tunnel underlay's). Call `start()` to forward.
    ///
    /// ```swift
    /// let engine = try AFXDPEngine(configuration: SwitchConfiguration.load(path: "switch.yaml"))
    /// try engine.start()
    /// let flows = await engine.perform { datapath, now in try? datapath.flowStatistics(bridge: "br-int", now: now) }
    /// ```
    public convenience init(configuration: SwitchConfiguration,
                            options: EngineConfiguration = EngineConfiguration()) throws(EngineSetupError) {
        do {
            try self.init(configuration: configuration.datapath, options: options) { pool throws(ConfigurationError) in
                try configuration.makeDatapath(pool: pool, now: DatapathInstant.now())
            }
        } catch {
            throw EngineSetupError(error)
        }
    }
}

extension EngineSetupError {
    /// `error`, thrown while an engine was made or reconfigured from a `SwitchConfiguration`
    /// (whose `makeDatapath` locates the datapath's refusals in the file), as an
    /// `EngineSetupError`.
    init(_ error: AFXDPEngineError<ConfigurationError>) {
        switch error {
        case .configuration(let error): self = .configuration(error)
        case .system(let error): self = .system(error)
        }
    }
}

extension AFXDPEngine {
    /// Brings the running (or stopped) engine to `configuration` — ports, interfaces,
    /// bridges' flows, security groups, routers, DHCP, tunnels — without stopping it.
    /// Unchanged ports keep their MAC entries, counters and conntrack (their OpenFlow port
    /// numbers, hence zones, do not change); unchanged flows keep their counters;
    /// unchanged routers keep NAT and neighbours, unchanged DHCP responders their state.
    /// Interfaces of new ports are attached, or waited for when they do not exist yet
    /// (`interfaceStates()`); those of removed ports are detached with every frame they
    /// held given back. Refused whole (nothing changed) on error:
    /// `EngineSetupError.configuration` with the file, line and key at fault.
    public func reconfigure(to configuration: SwitchConfiguration) async throws(EngineSetupError) -> ReconfigurationSummary {
        do {
            return try await reconfigure(to: configuration.datapath) { pool, numbered, succession throws(ConfigurationError) in
                var renumbered = configuration
                renumbered.datapath = numbered
                return try renumbered.makeDatapath(pool: pool, now: DatapathInstant.now(), succeeding: succession)
            }
        } catch {
            throw EngineSetupError(error)
        }
    }
}
