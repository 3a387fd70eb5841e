import Foundation
import Synchronization
import XDPSwitch

/// The datapath a node agent keeps equal to its compiled configuration: the one seam
/// between the agent's loop and the engine (tests may put another datapath behind it).
public protocol NodeDatapath: AnyObject, Sendable {
    /// Brings the datapath to `configuration`; what changed, in one line. On error nothing
    /// changed: the previous configuration keeps running and the error says why.
    func apply(_ configuration: SwitchConfiguration) async throws -> String

    /// The interfaces of the configured ports that are attached now.
    func attachedInterfaces() async -> Set<String>

    /// Answers a control-socket request with the running datapath (blocks the caller).
    func answerControlRequest(_ request: ControlSocket.Request) -> ControlSocket.Reply

    /// Stops forwarding and detaches from every interface; `apply` refuses afterwards.
    func close()
}

/// `apply` after `close`: the agent is stopping.
public struct NodeDatapathClosed: Error, Sendable, CustomStringConvertible {
    public var description: String { "the datapath is closed" }
}

/// The AF_XDP engine as a node's datapath: made from the first configuration, then brought
/// to each next one in place (`AFXDPEngine.reconfigure`): unchanged ports keep their MAC entries,
/// counters and connections, unchanged flows their counters, and a VM interface that does
/// not exist yet is waited for (`waitForInterfaces`) and attached when it appears.
public final class EngineNodeDatapath: NodeDatapath {
    private let engine = Mutex<AFXDPEngine?>(nil)
    private let closed = Atomic<Bool>(false)
    private let options: EngineConfiguration
    private let stateDirectory: String?

    /// `stateDirectory`: where the connection trackers keep their connections and the
    /// learned-state snapshot is written, so a restarted agent's datapath adopts them
    /// (docs/operations.md); nil: not kept.
    public init(options: EngineConfiguration = EngineConfiguration(), stateDirectory: String? = nil) {
        var options = options
        options.waitForInterfaces = true
        self.options = options
        self.stateDirectory = stateDirectory
    }

    public func apply(_ configuration: SwitchConfiguration) async throws -> String {
        guard !closed.load(ordering: .acquiring) else { throw NodeDatapathClosed() }
        var configuration = configuration
        configuration.datapath.stateDirectory = stateDirectory
        // One caller at a time (the agent reconciles serially): the engine is made once,
        // by the first apply, and only `close` takes it away.
        if let running = engine.withLock({ $0 }) {
            return try await running.reconfigure(to: configuration).description
        }
        let made = try AFXDPEngine(configuration: configuration, options: options)
        var reports = await made.perform { datapath, _ in datapath.stateReports } ?? []
        // What the previous engine had learned, before the first packet (MAC entries, neighbours).
        if let learnedFile, let report = made.restoreLearnedState(from: learnedFile) { reports.append(report) }
        do { try made.start() } catch { made.close(); throw error }
        let kept = engine.withLock { current -> Bool in
            guard !closed.load(ordering: .acquiring) else { return false }
            current = made
            return true
        }
        guard kept else { made.close(); throw NodeDatapathClosed() }
        if let learnedFile { startSavingLearnedState(made, to: learnedFile) }
        let waiting = await made.interfaceStates().filter { $0.value != .attached }.keys.sorted()
        return "engine started on \(made.attachments.map { $0.interface }.sorted().joined(separator: ", "))"
            + (waiting.isEmpty ? "" : "; waiting for \(waiting.joined(separator: ", "))")
            + reports.map { "; " + $0 }.joined()
    }

    /// The engine, once the first configuration made it (nil before, and after `close`):
    /// what `xdpswitch agent --metrics` reads.
    public var runningEngine: AFXDPEngine? {
        closed.load(ordering: .acquiring) ? nil : engine.withLock { $0 }
    }

    public func attachedInterfaces() async -> Set<String> {
        guard let running = engine.withLock({ $0 }) else { return [] }
        return Set(await running.interfaceStates().filter { $0.value == .attached }.keys)
    }

    public func answerControlRequest(_ request: ControlSocket.Request) -> ControlSocket.Reply {
        guard let running = engine.withLock({ $0 }) else {
            return .failure("no datapath yet: the agent has applied no configuration")
        }
        return running.answerControlRequest(request)
    }

    public func close() {
        closed.store(true, ordering: .releasing)
        guard let running = engine.withLock({ $0 }) else { return }
        running.close()
        if let learnedFile { saving.withLock { _ in running.saveLearnedState(to: learnedFile) } }
    }

    /// One writer of the snapshot at a time (the saving thread, `close`).
    private let saving = Mutex(())

    /// The learned-state snapshot's file (AFXDPEngine+LearnedState.swift), when state is kept.
    private var learnedFile: String? { stateDirectory.map(AFXDPEngine.learnedStatePath(inStateDirectory:)) }

    /// Writes the snapshot every second until `close` (which writes the last one), as `run` does.
    private func startSavingLearnedState(_ running: AFXDPEngine, to path: String) {
        let thread = Thread { [weak self] in
            while let self, !self.closed.load(ordering: .acquiring) {
                sleep(1)
                self.saving.withLock { _ in
                    if !self.closed.load(ordering: .acquiring) { running.saveLearnedState(to: path) }
                }
            }
        }
        thread.name = "learned-state"
        thread.start()
    }
}
