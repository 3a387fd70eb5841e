import Testing
import XDPSwitch

/// The control socket's command registry: argument rules from the usage text, the help
/// built from it, and commands an embedding program adds.
@Suite struct ControlRegistryTests {
    let datapath = try! Datapath(configuration: DatapathConfiguration(bridges: [
        BridgeConfiguration(name: "br-int", ports: [PortConfiguration(name: "vm1", tag: 1)])]), pool: FramePool(frameCount: 64), now: .zero)

    @Test func usageTextGivesTheArgumentRules() {
        let command = ControlCommand("x", "A B [C] [--strict]", summary: "s") { _ in "" }
        #expect(command.argumentCount == 2...3)
        #expect(command.flags == ["--strict"])
        #expect(command.usage == "x A B [C] [--strict]")
        #expect(ControlCommand("y", summary: "s") { _ in "" }.argumentCount == 0...0)
    }

    @Test func wrongArgumentCountIsRefusedWithTheUsage() {
        let reply = SwitchControl.handle(.init(command: "dump-flows"), datapath: datapath, now: DatapathInstant(nanoseconds: 1))
        #expect(reply == .failure("usage: dump-flows BRIDGE"))
        let extra = SwitchControl.handle(.init(command: "del-flows", arguments: ["br-int", "priority=1", "x"]), datapath: datapath, now: DatapathInstant(nanoseconds: 1))
        #expect(extra == .failure("usage: del-flows BRIDGE [FLOW] [--strict]"))
        // The flag does not count as an argument.
        let strict = SwitchControl.handle(.init(command: "del-flows", arguments: ["br-int", "--strict"]), datapath: datapath, now: DatapathInstant(nanoseconds: 1))
        #expect(strict.ok, "\(strict.output)")
    }

    @Test func listCommandsShowsEveryCommandOnce() {
        let reply = SwitchControl.handle(.init(command: "list-commands"), datapath: datapath, now: DatapathInstant(nanoseconds: 1))
        #expect(reply.ok)
        for command in SwitchControl.registry.commands {
            let lines = reply.output.split(separator: "\n").filter { $0.hasPrefix("  \(command.usage) ") }
            #expect(lines.count == 1, "\(command.usage)")
            #expect(lines.first?.hasSuffix(command.summary) == true)
        }
        #expect(SwitchControl.registry.commands.count >= 23)
    }

    @Test func anEmbedderAddsItsOwnCommand() {
        var registry = SwitchControl.registry
        registry.register(ControlCommand("port-count", "[BRIDGE]", summary: "ports of a bridge") { call in
            guard let name = call.arguments.first else { return "\(call.datapath.ports.count)\n" }
            guard let bridge = call.datapath.bridge(named: name) else { throw ControlCommand.Failure("\(name): no such bridge") }
            return "\(bridge.portIDs.count)\n"
        })
        #expect(registry.handle(.init(command: "port-count"), datapath: datapath, now: DatapathInstant(nanoseconds: 1)) == .success("1\n"))
        #expect(registry.handle(.init(command: "port-count", arguments: ["br-x"]), datapath: datapath, now: DatapathInstant(nanoseconds: 1)) == .failure("br-x: no such bridge"))
        #expect(registry.handle(.init(command: "show"), datapath: datapath, now: DatapathInstant(nanoseconds: 1)).ok)
        #expect(SwitchControl.registry["port-count"] == nil, "the shared registry is a value: unchanged")
        #expect(registry.helpText.contains("port-count [BRIDGE]"))
    }
}
