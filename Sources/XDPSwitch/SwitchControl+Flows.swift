import XDPDatapath

extension SwitchControl {
    /// Flow-table commands; nil when `request` is not one of them.
    ///
    /// - `dump-flows BRIDGE`
    /// - `add-flow BRIDGE FLOW`
    /// - `del-flows BRIDGE [FLOW] [--strict]`
    /// - `mod-flows BRIDGE FLOW [--strict]`
    /// - `trace BRIDGE FLOW` (runs the packet through the live datapath: it learns and counts)
    static func handleFlowCommand(_ request: ControlSocket.Request, datapath: Datapath, now: UInt64) -> ControlSocket.Reply? {
        var args = request.arguments
        let strict = args.contains("--strict")
        args.removeAll { $0 == "--strict" }
        do {
            switch request.command {
            case "dump-flows":
                guard args.count == 1 else { return .failure("usage: dump-flows BRIDGE") }
                return .success(try datapath.dumpFlows(bridge: args[0], now: now).map { $0 + "\n" }.joined())
            case "add-flow":
                guard args.count == 2 else { return .failure("usage: add-flow BRIDGE FLOW") }
                try datapath.addFlow(try FlowParser.parse(args[1]), bridge: args[0], now: now)
                return .success("")
            case "del-flows":
                guard (1...2).contains(args.count) else { return .failure("usage: del-flows BRIDGE [FLOW] [--strict]") }
                let selector = args.count == 2 ? try FlowParser.parseSelector(args[1]) : FlowSelector()
                let n = try datapath.deleteFlows(selector, strict: strict, bridge: args[0])
                return .success("deleted \(n) flow\(n == 1 ? "" : "s")\n")
            case "mod-flows":
                guard args.count == 2 else { return .failure("usage: mod-flows BRIDGE FLOW [--strict]") }
                let n = try datapath.modifyFlows(try FlowParser.parseSelector(args[1]), strict: strict, bridge: args[0], now: now)
                return .success("modified \(n) flow\(n == 1 ? "" : "s")\n")
            case "trace":
                guard args.count == 2 else { return .failure("usage: trace BRIDGE FLOW") }
                return .success(try datapath.trace(flow: args[1], bridge: args[0], now: now).description)
            default:
                return nil
            }
        } catch {
            return .failure("\(error)")
        }
    }
}
