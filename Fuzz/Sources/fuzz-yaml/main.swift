import FuzzDriver
import FuzzSupport
import XDPSwitch

/// The configuration loader on any text: a refusal is a `ConfigurationError`
/// (FILE:LINE: KEY: message), never a crash; a configuration it accepts builds a datapath
/// or is refused by the datapath's own checks, still without a crash. The security-group
/// loader gets the same text.
/// The network node, for the security-group loader to look ports up in.
nonisolated(unsafe) let node = NetworkNodeFuzzer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    if let configuration = try? SwitchConfiguration.parse(yaml: text, file: "fuzz.yaml") {
        _ = try? configuration.makeDatapath(pool: FramePool(frameCount: 64), now: .zero)
    }
    _ = try? SwitchConfiguration.parseSecurityGroups(yaml: text, file: "fuzz.yaml", datapath: node.datapath)
    return 0
}

runFuzzer(fuzzYAML)
