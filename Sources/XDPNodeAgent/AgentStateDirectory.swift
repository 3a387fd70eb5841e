import Foundation
import XDPAgent

/// What the agent keeps on disk so that a restart (`kill -9` included) rebuilds the same
/// datapath: in `--state-dir`,
/// - `local-vlans.json`: network id → local VLAN of the configuration applied (the
///   compiler's `previousLocalVLANs`), so every network keeps its tag;
/// - `view.json`: the host view that configuration was compiled from, applied at start
///   before the server answers, so forwarding resumes even while the server is away;
/// - `node.yaml`: the node configuration applied, for inspection
///   (`xdpswitch show --config node.yaml`).
/// Each file is replaced atomically (written beside, then renamed).
public struct AgentStateDirectory: Sendable {
    public let path: String

    public var localVLANsFile: String { path + "/local-vlans.json" }
    public var viewFile: String { path + "/view.json" }
    public var nodeConfigurationFile: String { path + "/node.yaml" }

    /// Creates the folder when it does not exist.
    public init(path: String) throws(AgentSettingsError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw AgentSettingsError("--state-dir \(path): cannot create it: \((error as NSError).localizedDescription)")
        }
    }

    /// The local VLANs of the last configuration applied; empty when there is none or the
    /// file is unreadable (the reason in `warning`).
    public func localVLANs() -> (vlans: [String: UInt16], warning: String?) {
        guard let data = FileManager.default.contents(atPath: localVLANsFile) else { return ([:], nil) }
        guard let vlans = try? JSONDecoder().decode([String: UInt16].self, from: data) else {
            return ([:], "\(localVLANsFile): not a JSON object of network id → VLAN, ignored")
        }
        return (vlans, nil)
    }

    /// The last view applied, when there is one and it still reads.
    public func lastView() -> (view: HostView?, warning: String?) {
        guard let data = FileManager.default.contents(atPath: viewFile) else { return (nil, nil) }
        do {
            return (try HostView.decode(json: data), nil)
        } catch {
            return (nil, "\(viewFile): \(error), ignored")
        }
    }

    /// Records what was just applied.
    public func record(view: HostView, compiled: CompiledNode) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(compiled.localVLANs).write(to: URL(fileURLWithPath: localVLANsFile), options: .atomic)
        try view.encodedJSON().write(to: URL(fileURLWithPath: viewFile), options: .atomic)
        try Data(compiled.yaml.utf8).write(to: URL(fileURLWithPath: nodeConfigurationFile), options: .atomic)
    }
}
