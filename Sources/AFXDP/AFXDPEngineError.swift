import XDPDatapath

/// Why an engine could not be made or reconfigured: the datapath's configuration was
/// refused, or the system refused a step of the set-up. Nothing stays attached, and a
/// reconfiguration changes nothing, when one is thrown.
///
/// `ConfigurationFailure` is what builds the datapath throws:
/// `DatapathConfigurationError` for `AFXDPEngine(configuration:options:)` and
/// `reconfigure(to:)`, or the error of the `makeDatapath` closure given instead.
///
/// ```swift
/// let engine: AFXDPEngine
/// do {
///     engine = try AFXDPEngine(configuration: configuration)
/// } catch .configuration(let refusal) {
///     fatalError("configuration refused: \(refusal)")
/// } catch .system(let failure) {
///     fatalError("set-up failed: \(failure)")
/// }
/// try engine.start()
/// ```
public enum AFXDPEngineError<ConfigurationFailure: Error>: Error, CustomStringConvertible {
    /// Building the datapath refused the configuration (a duplicate name, a VLAN id out
    /// of range, a patch port without its peer, ...).
    case configuration(ConfigurationFailure)
    /// A system call of the set-up failed (an interface that does not exist, no
    /// permission to load the steering program, an invalid ring size, ...).
    case system(AFXDPError)

    /// The underlying error's one-line description.
    public var description: String {
        switch self {
        case .configuration(let error): "\(error)"
        case .system(let error): error.description
        }
    }
}
