import ArgumentParser
import XDPSwitch

/// `xdpswitch dump-fastpath`: the in-kernel fast path's entries of the running switch
/// (`run --fast-path on`), like `ovs-appctl dpctl/dump-flows`.
struct DumpFastPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dump-fastpath")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dump-fastpath") }
}
