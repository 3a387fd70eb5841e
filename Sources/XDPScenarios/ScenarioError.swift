/// A scenario that cannot be set up (the security-group compiler refused its model, a
/// port it names is missing): one line saying why.
public struct ScenarioError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
