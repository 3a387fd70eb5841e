import ArgumentParser
import Foundation
import XDPAgent

/// `xdpswitch agent`: the node agent (docs/agent-protocol.md). For now its compiler: a
/// host view in, the node's configuration out.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The node agent: turns a host's share of the Neutron model into the node's datapath.",
        subcommands: [AgentCompileCommand.self] + AgentControlPlaneCommands.all)
}

/// `xdpswitch agent compile --host-view FILE.json [--output FILE] [--local-vlans FILE]`.
struct AgentCompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile a host view (JSON) into the node's YAML configuration.",
        discussion: """
        The host view is the document of docs/agent-protocol.md; the output is the \
        configuration `xdpswitch run --config` reads. With --local-vlans, the networks' \
        local VLANs are read from the file (when it exists) and written back, so that a \
        network keeps its VLAN from one compile to the next. A refused view prints the \
        field at fault and writes nothing.
        Example: xdpswitch agent compile --host-view compute1.json --output compute1.yaml
        """)

    @Option(name: .customLong("host-view"), help: ArgumentHelp("The host view to compile.", valueName: "FILE.json"))
    var hostView: String

    @Option(name: .long, help: ArgumentHelp("Where to write the configuration (default: standard output).", valueName: "FILE"))
    var output: String?

    @Option(name: .customLong("local-vlans"), help: ArgumentHelp("The local VLANs of the previous compile (JSON: network id → VLAN), updated.", valueName: "FILE"))
    var localVLANs: String?

    @Flag(name: .customLong("arp-responder"), help: "Answer ARP for remote ports in br-tun (Neutron's arp_responder).")
    var arpResponder = false

    @Flag(inversion: .prefixedNo, help: "Serve metadata at 169.254.169.254 on the networks whose DHCP this node serves (docs/agent-protocol.md).")
    var metadata = true

    func run() throws {
        let data = try read(hostView, "--host-view")
        var previous: [String: UInt16] = [:]
        if let localVLANs, FileManager.default.fileExists(atPath: localVLANs) {
            do {
                previous = try JSONDecoder().decode([String: UInt16].self, from: try read(localVLANs, "--local-vlans"))
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure("\(localVLANs): expected a JSON object of network id → VLAN id")
            }
        }
        let compiled: CompiledNode
        do {
            let view = try HostView.decode(json: data)
            compiled = try NodeCompiler(view: view, previousLocalVLANs: previous,
                                        options: CompileOptions(arpResponder: arpResponder, metadata: metadata)).compile()
        } catch {
            throw CommandFailure("\(hostView): \(error)")
        }
        if let output {
            try write(Data(compiled.yaml.utf8), to: output)
        } else {
            print(compiled.yaml, terminator: "")
        }
        if let localVLANs {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try write((try? encoder.encode(compiled.localVLANs)) ?? Data(), to: localVLANs)
        }
    }

    private func read(_ path: String, _ option: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("\(option) \(path): cannot read the file")
        }
        return data
    }

    private func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("\(path): cannot write: \((error as NSError).localizedDescription)")
        }
    }
}
