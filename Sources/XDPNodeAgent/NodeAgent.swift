// The node agent: keeps one node's datapath equal to its share of the Neutron model, as
// Neutron's Open vSwitch, L3 and DHCP agents do together (docs/agent-protocol.md, "The
// agent").
//
// Three loops share the agent's state (an actor, so they take turns):
//   views       registers with the server, then asks for the host's view after the last
//               revision seen (a long poll: the server answers when the model changes, or
//               "unchanged" after --poll-timeout); 404 means the server forgot the host
//               (restarted with a new store): register again. Each view received becomes
//               the desired state and is reconciled.
//   heartbeat   every --report-interval, the registration again with the applied revision
//               and each VM port's status (ACTIVE when its interface is attached).
//   interfaces  every second: port status changes (a VM interface attached, or gone),
//               reported at once rather than at the next heartbeat.
//
// Reconciling compiles the desired view with the local VLANs of the configuration applied
// (`NodeCompiler`), compares the text with what runs — a view for a change elsewhere in the
// model compiles to the same text (but for the comment naming the revision) and is not
// applied — and hands a different configuration
// to the datapath (`NodeDatapath.apply`: the engine changes in place, keeping what did not
// change, and attaches VM interfaces when they appear). Only then are the local VLANs, the view and the
// configuration written to the state folder, so that a restart compiles the same text from
// the same view. A view the compiler refuses, or a configuration the datapath refuses,
// changes nothing: the previous configuration keeps forwarding, the refusal is logged once,
// and the next revision is tried afresh (a configuration the datapath refused, also after
// a pause). Reconciling never
// runs twice at once: a request arriving meanwhile makes the running one go round again.
//
// The server going away changes nothing either: forwarding continues with the last
// configuration, requests are retried with a growing pause (1 s doubling up to 30 s), and
// the log says "unreachable" once and "connected" once when it answers again. At start the
// last applied view is read back from the state folder and applied before the server is
// asked, so a restarted agent forwards again without waiting for it.
//
// Each state change is one log event (swift-log, at a level that says how much it matters:
// a revision applied is a notice, a refusal an error, the server lost a warning) and, for
// the ones worth graphing, a swift-metrics counter (`xdpswitch_agent_*`), which `xdpswitch
// agent --metrics` serves beside the engine's counters.
import Foundation
import Logging
import Metrics
import XDPAgent
import XDPMetadata
import XDPSwitch

/// The node agent (see the essay at the top of NodeAgent.swift). `run()` until cancelled;
/// then close the datapath.
public actor NodeAgent {
    public let settings: AgentSettings
    let client: ModelServerClient
    let datapath: any NodeDatapath
    let state: AgentStateDirectory
    let compileOptions: CompileOptions
    /// The metadata namespaces and proxies of the networks whose DHCP this node serves (nil:
    /// no metadata service; docs/agent-protocol.md, "Metadata").
    let metadata: MetadataNamespaces?
    /// Where the agent's events go: one line per state change, never one per retry.
    let logger: Logger
    /// Revisions applied and refused, and times the server became unreachable.
    private let revisionsApplied = Counter(label: "xdpswitch_agent_revisions_applied_total")
    private let revisionsRefused = Counter(label: "xdpswitch_agent_revisions_refused_total")
    private let serverLost = Counter(label: "xdpswitch_agent_server_unreachable_total")
    /// The revision running (0: none yet), and 1 while the server answers.
    private let revisionGauge = Gauge(label: "xdpswitch_agent_revision_applied")
    private let reachableGauge = Gauge(label: "xdpswitch_agent_server_reachable")

    /// The latest view received (or restored): what the node should run.
    private var desired: HostView?
    /// The configuration running, and the revision of the view it was compiled from.
    private var applied: (yaml: String, revision: UInt64)?
    /// Network id → local VLAN of the configuration running.
    private var localVLANs: [String: UInt16] = [:]
    /// The last refusal logged, so that a refusal repeated is not logged again.
    private var lastRefusal: String?
    /// When the last apply failed: retried after `applyRetryInterval` even without a new revision.
    private var applyFailedAt: ContinuousClock.Instant?
    private var reconciling = false
    private var reconcileAgain = false
    /// The port status last reported with success, and last logged.
    private var reportedStatus: [String: String]?
    private var shownStatus: [String: String] = [:]
    /// Whether the server answered the last request (nil: not asked yet), and when a
    /// request last failed.
    private var serverReachable: Bool?
    private var lastFailure: ContinuousClock.Instant?

    static let applyRetryInterval: Duration = .seconds(5)

    /// The revision of the view the node runs (nil: none yet).
    public var appliedRevision: UInt64? { applied?.revision }

    /// `metadata`: serve instance metadata on the networks whose DHCP this node serves; the
    /// compiler then adds their metadata ports and routes (`CompileOptions.metadata`).
    public init(settings: AgentSettings, datapath: any NodeDatapath, compileOptions: CompileOptions = CompileOptions(),
                metadata: MetadataNamespaces? = nil, logger: Logger) throws(AgentSettingsError) {
        self.settings = settings
        self.client = ModelServerClient(server: settings.server)
        self.datapath = datapath
        self.state = try AgentStateDirectory(path: settings.stateDirectory)
        var compileOptions = compileOptions
        compileOptions.metadata = metadata != nil
        self.compileOptions = compileOptions
        self.metadata = metadata
        self.logger = logger
    }

    /// Runs the three loops until the task is cancelled.
    public func run() async {
        restore()
        await reconcile()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.followViews() }
            group.addTask { await self.heartbeat() }
            group.addTask { await self.watchInterfaces() }
        }
    }

    // MARK: - State folder

    private func restore() {
        let (vlans, vlanWarning) = state.localVLANs()
        localVLANs = vlans
        if let vlanWarning { logger.warning("\(vlanWarning)") }
        let (view, viewWarning) = state.lastView()
        if let viewWarning { logger.warning("\(viewWarning)") }
        if let view {
            if view.host.name == settings.host {
                desired = view
                logger.notice("restoring revision \(view.revision) from \(state.viewFile) until the server answers")
            } else {
                logger.warning("\(state.viewFile) is host \(view.host.name)'s, not \(settings.host): ignored")
            }
        }
    }

    // MARK: - Views

    private func followViews() async {
        var registered = false
        // No revision at start: the current view at once (the server's store may have been
        // replaced meanwhile, its revisions starting again).
        var after: UInt64?
        var pause = 1.0
        while !Task.isCancelled {
            do {
                if !registered {
                    let asked = ContinuousClock.now
                    try await client.report(currentReport())
                    registered = true
                    serverAnswered(asked)
                }
                let asked = ContinuousClock.now
                switch try await client.view(host: settings.host, after: after, timeout: settings.pollTimeout) {
                case .view(let data):
                    serverAnswered(asked)
                    if let revision = await receive(data) {
                        after = revision
                    } else {
                        // A document without a revision: ask again later, not at once.
                        try? await Task.sleep(for: .seconds(pause))
                    }
                case .unchanged:
                    serverAnswered(asked)
                case .notRegistered:
                    serverAnswered(asked)
                    logger.warning("the server does not know host \(settings.host): registering again")
                    registered = false
                }
                pause = 1
            } catch {
                serverFailed(error)
                try? await Task.sleep(for: .seconds(pause))
                pause = min(pause * 2, 30)
            }
        }
    }

    /// Takes a view as received; returns the revision to wait after, or nil when the
    /// document does not even say its revision.
    func receive(_ data: Data) async -> UInt64? {
        let view: HostView
        do {
            view = try HostView.decode(json: data)
        } catch {
            struct Revision: Decodable { var revision: UInt64 }
            let revision = (try? JSONDecoder().decode(Revision.self, from: data))?.revision
            refuse("revision \(revision.map(String.init) ?? "?") refused: \(error)")
            return revision
        }
        guard view.host.name == settings.host else {
            refuse("revision \(view.revision) refused: the view is for host \(view.host.name), this is \(settings.host)")
            return view.revision
        }
        desired = view
        await reconcile()
        return view.revision
    }

    // MARK: - Reconciling

    /// Brings the datapath to the desired view (see the essay). Never runs twice at once.
    func reconcile() async {
        if reconciling { reconcileAgain = true; return }
        reconciling = true
        defer { reconciling = false }
        repeat {
            reconcileAgain = false
            await reconcileOnce()
        } while reconcileAgain
    }

    private func reconcileOnce() async {
        guard let view = desired else { return }
        let compiled: CompiledNode
        do {
            compiled = try NodeCompiler(view: view, previousLocalVLANs: localVLANs, options: compileOptions).compile()
        } catch {
            refuse("revision \(view.revision) refused: \(error)")
            return
        }
        if let applied, Self.withoutHeader(compiled.yaml) == Self.withoutHeader(applied.yaml) {
            if applied.revision != view.revision {
                self.applied = (compiled.yaml, view.revision)
                revisionGauge.record(Int64(clamping: view.revision))
                try? state.record(view: view, compiled: compiled)
                await reportNow()
            }
            return
        }
        // The metadata ports' interfaces first, so the engine finds them when it attaches.
        if let metadata {
            let subnets = Dictionary(view.networks.map { ($0.id, $0.subnets.map(\.cidr)) }, uniquingKeysWith: { a, _ in a })
            do {
                try metadata.reconcile(networks: view.dhcp.map { MetadataNamespaces.Network(id: $0.networkID, subnets: subnets[$0.networkID] ?? []) })
            } catch {
                logger.error("metadata for revision \(view.revision): \(error)")
            }
        }
        let changes: String
        do {
            let configuration = try SwitchConfiguration.parse(yaml: compiled.yaml, file: state.nodeConfigurationFile)
            changes = try await datapath.apply(configuration)
        } catch {
            applyFailedAt = ContinuousClock.now
            refuse("revision \(view.revision) not applied: \(error)")
            return
        }
        applyFailedAt = nil
        lastRefusal = nil
        localVLANs = compiled.localVLANs
        applied = (compiled.yaml, view.revision)
        do {
            try state.record(view: view, compiled: compiled)
        } catch {
            logger.error("cannot write the state folder \(state.path): \((error as NSError).localizedDescription)")
        }
        revisionsApplied.increment()
        revisionGauge.record(Int64(clamping: view.revision))
        let vmPorts = view.ports.filter { !$0.isNetworkService }.count
        logger.notice("""
            revision \(view.revision) applied: \(compiled.localVLANs.count) network(s) on br-int, \(vmPorts) VM port(s), \
            \(view.routers.count) router(s), \(view.dhcp.count) DHCP service(s); \(changes)
            """)
        await reportNow()
    }

    /// The configuration without its first line when that is the compiler's comment (which
    /// names the view's revision): two views that differ only by revision compile alike.
    static func withoutHeader(_ yaml: String) -> Substring {
        guard yaml.hasPrefix("#"), let end = yaml.firstIndex(of: "\n") else { return Substring(yaml) }
        return yaml[yaml.index(after: end)...]
    }

    /// Logs a refusal once, saying what keeps running.
    private func refuse(_ message: String) {
        let keeping = applied.map { "; revision \($0.revision) keeps running" } ?? "; nothing applied yet"
        guard message != lastRefusal else { return }
        lastRefusal = message
        revisionsRefused.increment()
        logger.error("\(message + keeping)")
    }

    // MARK: - Interfaces and status

    private func watchInterfaces() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if let failed = applyFailedAt, ContinuousClock.now - failed >= Self.applyRetryInterval { await reconcile() }
            let status = await portStatus()
            if status != shownStatus {
                let changed = status.filter { shownStatus[$0.key] != $0.value }.sorted { $0.key < $1.key }
                if !changed.isEmpty { logger.info("ports \(changed.map { "\($0.key) \($0.value)" }.joined(separator: ", "))") }
                shownStatus = status
            }
            if let reportedStatus, status != reportedStatus { await reportNow() }
        }
    }

    /// Each VM port of the desired view: ACTIVE when its interface is attached, else DOWN.
    func portStatus() async -> [String: String] {
        guard let view = desired, applied != nil else { return [:] }
        let attached = await datapath.attachedInterfaces()
        var status: [String: String] = [:]
        for port in view.ports where !port.isNetworkService {
            status[port.id] = attached.contains(port.tapName) ? "ACTIVE" : "DOWN"
        }
        return status
    }

    func currentReport() async -> AgentReport {
        AgentReport(settings: settings, revisionApplied: applied?.revision ?? 0, ports: await portStatus())
    }

    // MARK: - Heartbeat

    private func heartbeat() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(settings.reportInterval))
            await reportNow()
        }
    }

    /// Sends the registration with the applied revision and the port status now.
    func reportNow() async {
        let report = await currentReport()
        let asked = ContinuousClock.now
        do {
            try await client.report(report)
            reportedStatus = report.ports
            serverAnswered(asked)
        } catch {
            serverFailed(error)
        }
    }

    /// A request sent at `asked` was answered. An answer to a request older than the last
    /// failure (a long poll the server let go as it stopped) says nothing of the server now.
    private func serverAnswered(_ asked: ContinuousClock.Instant) {
        guard serverReachable != true, lastFailure.map({ asked > $0 }) ?? true else { return }
        serverReachable = true
        reachableGauge.record(1)
        logger.notice("connected to \(settings.server.absoluteString) as host \(settings.host)")
    }

    private func serverFailed(_ error: any Error) {
        // A request cut short by the agent's own stop says nothing about the server.
        lastFailure = ContinuousClock.now
        guard serverReachable != false, !Task.isCancelled else { return }
        serverReachable = false
        serverLost.increment()
        reachableGauge.record(0)
        let running = applied.map { "forwarding with revision \($0.revision)" } ?? "nothing applied yet"
        logger.warning("server unreachable: \(error); retrying, \(running)")
    }
}
