import ArgumentParser
import AFXDP
import XDPSwitch

/// `--config FILE`, shared by the verbs that read a configuration. Errors print as
/// `FILE:LINE: KEY: message` and exit non-zero.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The YAML configuration (docs/configuration.md). Default: the embedded demo configuration.")
    var config: String?

    func load() throws -> SwitchConfiguration {
        do {
            if let config { return try SwitchConfiguration.load(path: config) }
            return try SwitchConfiguration.parse(yaml: DefaultConfiguration.yaml, file: "<embedded default>")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// `--ring-size N` checked before any set-up (the engine checks it again) for
/// `EngineConfiguration.ringSize`.
func ringSizeOption(_ size: Int) throws -> UInt32 {
    guard EngineConfiguration.isValidRingSize(size) else {
        throw CommandFailure("--ring-size \(size): expected \(EngineConfiguration.ringSizeRule)")
    }
    return UInt32(size)
}

/// A failure reported as one line (`Error: ...`) with exit status 1, without usage text.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
