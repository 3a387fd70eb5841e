import ArgumentParser
import XDPSwitch

/// `xdpswitch show`: the bridges and ports, as `ovs-vsctl show` prints them.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the bridges and ports of a configuration, like `ovs-vsctl show`.")

    @OptionGroup var config: ConfigOption

    @Option(name: .long, help: "Ask the running switch on this control socket instead of reading a configuration.")
    var control: String?

    func run() throws {
        if let control { return try ControlOption.run("show", control: control) }
        let loaded = try config.load()
        let datapath = try loaded.makeDatapath(pool: FramePool(frameCount: 16), now: .zero)
        print(SwitchText.show(datapath.topology(), header: "XDPSwitch (\(loaded.file))"), terminator: "")
    }
}
