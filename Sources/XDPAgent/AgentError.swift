/// A host view the agent refuses, or a node it cannot build from it: where (the JSON path
/// of the field at fault, e.g. `networks[1].segmentation_id`) and why. Nothing is produced.
public struct AgentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault, as a JSON path (`ports[0].network_id`); empty for the whole document.
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? "host view: \(message)" : "host view: \(path): \(message)" }
}
