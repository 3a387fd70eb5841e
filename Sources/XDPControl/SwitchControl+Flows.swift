import XDPDatapath

extension SwitchControl {
    /// Flow-table commands, like `ovs-ofctl`'s. `trace` runs the packet through the live
    /// datapath: it learns and counts like any other.
    static let flowCommands: [ControlCommand] = [
        ControlCommand("dump-flows", "BRIDGE", summary: "the flows with counters, like ovs-ofctl dump-flows") { call in
            SwitchText.flows(try call.datapath.flowStatistics(bridge: call.arguments[0], now: call.now))
        },
        ControlCommand("add-flow", "BRIDGE FLOW", summary: "add (or replace) a flow, in ovs-ofctl add-flow syntax (docs/flows.md)") { call in
            try call.datapath.addFlow(try FlowParser.parse(call.arguments[1]), bridge: call.arguments[0], now: call.now)
            return ""
        },
        ControlCommand("del-flows", "BRIDGE [FLOW] [--strict]", summary: "delete the flows a match selects (all without one)") { call in
            let selector = call.arguments.count == 2 ? try FlowParser.parseSelector(call.arguments[1]) : FlowSelector()
            let n = try call.datapath.deleteFlows(selector, strict: call.flags.contains("--strict"), bridge: call.arguments[0])
            return "deleted \(n) flow\(n == 1 ? "" : "s")\n"
        },
        ControlCommand("mod-flows", "BRIDGE FLOW [--strict]", summary: "replace the selected flows' actions, keeping their counters") { call in
            let n = try call.datapath.modifyFlows(try FlowParser.parseSelector(call.arguments[1]), strict: call.flags.contains("--strict"),
                                                  bridge: call.arguments[0], now: call.now)
            return "modified \(n) flow\(n == 1 ? "" : "s")\n"
        },
        ControlCommand("trace", "BRIDGE FLOW", summary: "the tables and flows a packet hits, like ofproto/trace") { call in
            try call.datapath.trace(flow: call.arguments[1], bridge: call.arguments[0], now: call.now).description
        },
    ]
}
