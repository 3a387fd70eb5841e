#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XDPSwitch

/// The datapath a node agent keeps equal to its compiled configuration: the one seam
/// between the agent's loop and the engine.
public protocol NodeDatapath: AnyObject, Sendable {
    /// Whether a configuration may name VM interfaces that do not exist yet (the datapath
    /// attaches them when they appear). When false, the agent compiles only the ports whose
    /// interface exists and compiles again when one appears or goes.
    var attachesAbsentInterfaces: Bool { get }

    /// Brings the datapath to `configuration`. On error the previous configuration keeps
    /// running and the error says why.
    func apply(_ configuration: SwitchConfiguration) async throws

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

/// The network interfaces of this host (`/sys/class/net`).
public enum HostInterfaces {
    /// The names of every interface now.
    public static func names() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
    }
}

/// A `NodeDatapath` that applies a configuration by closing the running engine and
/// starting one made from the new configuration; when that fails, the previous
/// configuration is started again. Every port and flow blinks and learned state is lost
/// on each apply, so the agent gives it only configurations whose interfaces all exist.
public final class RestartingEngineDatapath: NodeDatapath, @unchecked Sendable {
    // `engine`, `configuration` and `closed` are read and written only under `lock`,
    // which is also held while a control request runs, so a request never meets an
    // engine being replaced.
    private let lock = NSLock()
    private var engine: Engine?
    private var configuration: SwitchConfiguration?
    private var closed = false
    private let options: EngineConfiguration

    public init(options: EngineConfiguration = EngineConfiguration()) {
        self.options = options
    }

    public var attachesAbsentInterfaces: Bool { false }

    public func apply(_ configuration: SwitchConfiguration) async throws {
        try lock.withLock {
            guard !closed else { throw NodeDatapathClosed() }
            let previous = self.configuration
            engine?.close()
            engine = nil
            do {
                engine = try Self.start(configuration, options)
                self.configuration = configuration
            } catch {
                if let previous { engine = try? Self.start(previous, options) }
                throw error
            }
        }
    }

    private static func start(_ configuration: SwitchConfiguration, _ options: EngineConfiguration) throws -> Engine {
        let engine = try Engine(configuration: configuration, options: options)
        do { try engine.start() } catch { engine.close(); throw error }
        return engine
    }

    public func attachedInterfaces() async -> Set<String> {
        lock.withLock { Set(engine?.attachments.map { $0.interface } ?? []) }
    }

    public func answerControlRequest(_ request: ControlSocket.Request) -> ControlSocket.Reply {
        lock.withLock { engine?.answerControlRequest(request) ?? .failure("no datapath yet: the agent has applied no configuration") }
    }

    public func close() {
        lock.withLock {
            closed = true
            engine?.close()
            engine = nil
        }
    }
}
