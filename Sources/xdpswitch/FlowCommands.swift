import ArgumentParser
import XDPSwitch

/// `xdpswitch dump-flows BRIDGE`: the flows of a running switch's bridge, as
/// `ovs-ofctl dump-flows` prints them.
struct DumpFlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dump-flows")
    @Argument(help: "The bridge.") var bridge: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dump-flows", [bridge]) }
}

/// `xdpswitch add-flow BRIDGE FLOW`.
struct AddFlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("add-flow")
    @Argument(help: "The bridge.") var bridge: String
    @Argument(help: "The flow, e.g. \"priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL\".") var flow: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("add-flow", [bridge, flow]) }
}

/// `xdpswitch del-flows BRIDGE [FLOW] [--strict]`.
struct DelFlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("del-flows")
    @Argument(help: "The bridge.") var bridge: String
    @Argument(help: "The match; loose unless --strict (then priority and match must be equal).") var flow: String?
    @Flag(help: "Delete only the flow with exactly this match and priority.") var strict = false
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("del-flows", [bridge] + (flow.map { [$0] } ?? []) + (strict ? ["--strict"] : [])) }
}

/// `xdpswitch mod-flows BRIDGE FLOW [--strict]`.
struct ModFlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("mod-flows")
    @Argument(help: "The bridge.") var bridge: String
    @Argument(help: "The match and the new actions=.") var flow: String
    @Flag(help: "Modify only the flow with exactly this match and priority.") var strict = false
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("mod-flows", [bridge, flow] + (strict ? ["--strict"] : [])) }
}

/// `xdpswitch trace BRIDGE FLOW`: every table and flow a packet hits and where it goes,
/// like `ovs-appctl ofproto/trace`: offline on a configuration, or on the running switch.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control(
        "trace",
        discussion: """
        FLOW names the input port and header fields, e.g. \
        "in_port=1,dl_vlan=1,dl_dst=ff:ff:ff:ff:ff:ff". With --config the trace runs on a \
        datapath built from the file; with --control on the running switch (the packet is \
        then learned from and counted like any other).
        """)
    @Argument(help: "The bridge the packet enters.") var bridge: String
    @Argument(help: "The packet: in_port=N plus header fields.") var flow: String
    @OptionGroup var config: ConfigOption
    @Option(name: .long, help: "Trace on the running switch behind this control socket instead.") var control: String?

    func run() throws {
        if let control { return try ControlOption.run("trace", [bridge, flow], control: control) }
        let datapath = try config.load().makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        do {
            print(try datapath.trace(flow: flow, bridge: bridge, now: .zero + .seconds(1)), terminator: "")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
