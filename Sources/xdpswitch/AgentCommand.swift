#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import XDPAgent
import XDPDatapath
import XDPModel
#if canImport(XDPNodeAgent)
import Logging
import XDPMetadata
import XDPNodeAgent
import XDPSwitch

/// `xdpswitch agent run --server URL --host NAME …`: the long-running node agent.
struct AgentRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Register with the server, follow this host's view and run the datapath it compiles to.",
        discussion: """
        The agent registers the host (role, tunnel endpoint, bridge mappings), waits for the \
        host's view (a long poll), compiles it and applies it to the AF_XDP engine it runs, and \
        reports each VM port ACTIVE or DOWN and the revision applied every --report-interval. \
        The control socket answers show, dump-flows br-tun, ... as for `xdpswitch run`. The \
        state folder keeps the local VLANs and the last view, so a restart rebuilds the same \
        datapath. The settings may come from a YAML file with the flags' names as keys \
        (`tunnel-ip: 172.16.0.1/24`, `bridge-mappings: {physnet1: eth2}`); flags override it.
        Example: xdpswitch agent --server http://127.0.0.1:9696 --host compute1 --role compute \
                   --tunnel-ip 172.16.0.1/24 --tunnel-interface eth1 --state-dir /var/lib/xdpswitch/agent
        """)

    @Option(name: .long, help: ArgumentHelp("Settings in YAML (keys: the flags' names); flags given override them.", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The model server.", valueName: "URL"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp("This host's name (binding:host_id of its ports).", valueName: "NAME"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp("compute (default), network (routers and DHCP) or all.", valueName: "ROLE"))
    var role: String?

    @Option(name: .customLong("tunnel-ip"), help: ArgumentHelp("The tunnel endpoint on the underlay (prefix length 24 if none).", valueName: "A.B.C.D[/LEN]"))
    var tunnelIP: String?

    @Option(name: .customLong("tunnel-interface"), help: ArgumentHelp("The interface carrying the tunnels.", valueName: "IFACE"))
    var tunnelInterface: String?

    @Option(name: .customLong("tunnel-gateway"), help: ArgumentHelp("Next hop for tunnel endpoints outside the underlay subnet.", valueName: "A.B.C.D"))
    var tunnelGateway: String?

    @Option(name: .customLong("tunnel-mtu"), help: ArgumentHelp("The underlay MTU (default 1500).", valueName: "N"))
    var tunnelMTU: String?

    @Option(name: .customLong("bridge-mappings"), help: ArgumentHelp("Physical networks and their interfaces.", valueName: "PHYSNET:IFACE[,…]"))
    var bridgeMappings: String?

    @Option(name: .customLong("external-interface"), help: ArgumentHelp("The interface of br-ex (network node).", valueName: "IFACE"))
    var externalInterface: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the local VLANs, the last view and node.yaml are kept.", valueName: "DIR"))
    var stateDir: String?

    @Option(name: .customLong("report-interval"), help: ArgumentHelp("Seconds between heartbeats (default 10).", valueName: "SECONDS"))
    var reportInterval: String?

    @Option(name: .customLong("poll-timeout"), help: ArgumentHelp("Seconds the server holds a view request without change (default 30).", valueName: "SECONDS"))
    var pollTimeout: String?

    @Flag(name: .customLong("arp-responder"), help: "Answer ARP for remote ports in br-tun (Neutron's arp_responder).")
    var arpResponder = false

    @Flag(name: .customLong("no-metadata"), help: "Do not serve instance metadata at 169.254.169.254 (network and all roles serve it on the networks whose DHCP they serve).")
    var noMetadata = false

    @Option(name: .customLong("metadata-prefix"), help: ArgumentHelp("Prefix of the metadata namespaces (default xdsmeta-).", valueName: "PREFIX"))
    var metadataPrefix = MetadataNamespaces.defaultPrefix

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var metrics: MetricsOptions

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let options = try engineOptions.engineConfiguration()
        let metricsEndpoint = try metrics.endpoint()
        try logging.bootstrap()
        let log = Logger(label: "xdpswitch.agent")
        var fields = AgentSettings.Fields()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw CommandFailure("--config \(config): cannot read the file")
            }
            do { fields = try AgentSettings.Fields.parse(yaml: text, file: config) } catch { throw CommandFailure("\(error)") }
        }
        let flags: [String: String?] = [
            "server": server, "host": host, "role": role, "tunnel-ip": tunnelIP, "tunnel-interface": tunnelInterface,
            "tunnel-gateway": tunnelGateway, "tunnel-mtu": tunnelMTU, "bridge-mappings": bridgeMappings,
            "external-interface": externalInterface, "state-dir": stateDir, "report-interval": reportInterval,
            "poll-timeout": pollTimeout,
        ]
        fields = fields.overridden(by: AgentSettings.Fields(flags.compactMapValues { $0 }))
        let settings: AgentSettings
        do { settings = try AgentSettings(fields) } catch { throw CommandFailure("\(error)") }

        // Block the stop signals before any other thread exists so only sigwait sees them.
        var signals = StopSignals.block()
        let datapath = EngineNodeDatapath(options: options, stateDirectory: settings.stateDirectory + "/datapath")
        // Before the agent: its counters (swift-metrics) are made with the registry this bootstraps.
        let exporter = try metrics.start(metricsEndpoint) { [datapath] in datapath.runningEngine }
        defer { exporter?.close() }
        let agent: NodeAgent
        do {
            let metadata = noMetadata || settings.role == .compute ? nil
                : MetadataNamespaces(prefix: metadataPrefix, serverURL: settings.server.absoluteString,
                                     runDirectory: settings.stateDirectory + "/metadata")
            agent = try NodeAgent(settings: settings, datapath: datapath, compileOptions: CompileOptions(arpResponder: arpResponder),
                                  metadata: metadata, logger: log)
        } catch {
            throw CommandFailure("\(error)")
        }
        let control: ControlServer
        do {
            control = try ControlServer(path: engineOptions.control) { [datapath] request in datapath.answerControlRequest(request) }
        } catch {
            throw CommandFailure("\(error)")
        }
        log.notice("""
            host \(settings.host) (\(settings.role.rawValue)), server \(settings.server.absoluteString), \
            state \(settings.stateDirectory), control socket \(engineOptions.control)\(exporter.map { "; metrics \($0.url)" } ?? ""); \
            SIGINT or SIGTERM stops
            """)
        Task { await agent.run() }
        var received: Int32 = 0
        sigwait(&signals, &received)
        // The agent's task is not cancelled: cancelling a request FoundationNetworking has
        // in flight can trap in its task registry. The process ends with this function.
        datapath.close()
        control.close()
        log.notice("\(StopSignals.name(received)): stopped, detached from every interface")
    }
}

/// The agent's verbs that need the control plane (`run`, the default, and
/// `metadata-proxy`), when the package was built with it.
enum AgentControlPlaneCommands {
    static var all: [ParsableCommand.Type] { [AgentRunCommand.self, MetadataProxyCommand.self] }
}
#else
enum AgentControlPlaneCommands {
    static var all: [ParsableCommand.Type] { [] }
}
#endif

/// `xdpswitch agent`: the node agent (docs/agent-protocol.md): `run` (the default) follows
/// the server's view of this host and runs the datapath; `compile` turns one host view into
/// the node's configuration.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The node agent: turns a host's share of the Neutron model into the node's datapath.",
        subcommands: AgentControlPlaneCommands.all + [AgentCompileCommand.self],
        defaultSubcommand: AgentControlPlaneCommands.all.first)
}

/// `xdpswitch agent compile --host-view FILE.json [--output FILE] [--local-vlans FILE]`.
struct AgentCompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile a host view (JSON) into the node's YAML configuration.",
        discussion: """
        The host view is the document of docs/agent-protocol.md; the output is the \
        configuration `xdpswitch run --config` reads. With --local-vlans, the networks' \
        local VLANs are read from the file (when it exists) and written back, so that a \
        network keeps its VLAN from one compile to the next. A refused view prints the \
        field at fault and writes nothing.
        Example: xdpswitch agent compile --host-view compute1.json --output compute1.yaml
        """)

    @Option(name: .customLong("host-view"), help: ArgumentHelp("The host view to compile.", valueName: "FILE.json"))
    var hostView: String

    @Option(name: .long, help: ArgumentHelp("Where to write the configuration (default: standard output).", valueName: "FILE"))
    var output: String?

    @Option(name: .customLong("local-vlans"), help: ArgumentHelp("The local VLANs of the previous compile (JSON: network id → VLAN), updated.", valueName: "FILE"))
    var localVLANs: String?

    @Flag(name: .customLong("arp-responder"), help: "Answer ARP for remote ports in br-tun (Neutron's arp_responder).")
    var arpResponder = false

    @Flag(inversion: .prefixedNo, help: "Serve metadata at 169.254.169.254 on the networks whose DHCP this node serves (docs/agent-protocol.md).")
    var metadata = true

    @Flag(name: .customLong("count-flows"), help: "Also build the node's datapath from the output and print each bridge's flow count (standard error).")
    var countFlows = false

    func run() throws {
        let data = try read(hostView, "--host-view")
        var previous: [String: UInt16] = [:]
        if let localVLANs, FileManager.default.fileExists(atPath: localVLANs) {
            do {
                previous = try JSONDecoder().decode([String: UInt16].self, from: try read(localVLANs, "--local-vlans"))
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure("\(localVLANs): expected a JSON object of network id → VLAN id")
            }
        }
        let compiled: CompiledNode
        do {
            let view = try HostView.decode(json: data)
            compiled = try NodeCompiler(view: view, previousLocalVLANs: previous,
                                        options: CompileOptions(arpResponder: arpResponder, metadata: metadata)).compile()
        } catch {
            throw CommandFailure("\(hostView): \(error)")
        }
        if let output {
            try write(Data(compiled.yaml.utf8), to: output)
        } else {
            print(compiled.yaml, terminator: "")
        }
        if countFlows {
            let datapath = try SwitchConfiguration.parse(yaml: compiled.yaml, file: output ?? "<compiled>")
                .makeDatapath(pool: FramePool(frameCount: 16), now: .zero)
            for bridge in datapath.bridges {
                FileHandle.standardError.write(Data("\(bridge.name): \(datapath.flows(bridge: bridge.name).count) flows\n".utf8))
            }
        }
        if let localVLANs {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try write((try? encoder.encode(compiled.localVLANs)) ?? Data(), to: localVLANs)
        }
    }

    private func read(_ path: String, _ option: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("\(option) \(path): cannot read the file")
        }
        return data
    }

    private func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("\(path): cannot write: \((error as NSError).localizedDescription)")
        }
    }
}
