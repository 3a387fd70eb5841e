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

/// A CPU to pin a thread to, from `--cpu N`; `any` (or -1, written `--cpu=-1`) leaves the
/// thread unpinned. Checked by `cpuOption` before any set-up.
struct CPUChoice: ExpressibleByArgument {
    /// The CPU, nil for not pinned.
    var cpu: Int?

    init?(argument: String) {
        if argument == "any" || argument == "-1" { cpu = nil; return }
        guard let n = Int(argument), n >= 0 else { return nil }
        cpu = n
    }

    init(cpu: Int?) { self.cpu = cpu }
}

/// `FLAG N` checked against the CPUs this process may run on before any set-up (the
/// engine checks the worker's again): pinning to another would leave the thread unpinned
/// while the output said otherwise.
func cpuOption(_ choice: CPUChoice?, flag: String) throws -> Int? {
    guard let cpu = choice?.cpu else { return nil }
    guard EngineConfiguration.isValidCPU(cpu) else {
        throw CommandFailure("\(flag) \(cpu): expected \(EngineConfiguration.cpuRule), or any")
    }
    return cpu
}

/// A failure reported as one line (`Error: ...`) with exit status 1, without usage text.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
