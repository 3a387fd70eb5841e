import Foundation
import FuzzDriver
import FuzzSupport
import XDPSwitch

/// The control socket's requests on any bytes, answered by the network node of the
/// datapath fuzzer. State carries over from input to input, as on a running switch (and
/// as in fuzz-datapath); the node is built again every `inputsPerNode` inputs so that
/// what requests add cannot grow without bound (building it for every input ran ten
/// inputs a second). An
/// input is one request per line, each the JSON the socket reads (`{"command": …,
/// "arguments": […]}`); a line that is no request is what the socket refuses, and the
/// rest still run, in order, so that sequences (add a flow, then dump, delete, flush)
/// are explored. Invariants:
///   - no request crashes the server, whatever its command and arguments;
///   - a refused request says why (a non-empty message);
///   - after every request the frame accounting holds (a command that frees or drops
///     frames — del-flows, flush-conntrack, router changes — loses none);
///   - every flow the switch then holds prints as text that parses back to the same
///     flow (what `dump-flows` shows can be fed back to it, as with ovs-ofctl).
nonisolated(unsafe) var node = NetworkNodeFuzzer(frameCount: 64)
nonisolated(unsafe) var inputs = 0
let inputsPerNode = 1_000

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControl(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    inputs += 1
    if inputs % inputsPerNode == 0 { node = NetworkNodeFuzzer(frameCount: 64) }
    let now = DatapathInstant(nanoseconds: 2_000_000_000)
    for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).prefix(64) {
        guard let request = try? JSONDecoder().decode(ControlSocket.Request.self, from: Data(line)),
              request.command != "set-security-groups"  // reads a file named by the request: not the socket's bytes
        else { continue }
        let reply = SwitchControl.handle(request, datapath: node.datapath, now: now)
        precondition(reply.ok || !reply.output.isEmpty, "\(request) refused without a message")
        node.checkAccounting()
    }
    for bridge in node.datapath.bridges.map(\.name) {
        _ = try? node.datapath.flowStatistics(bridge: bridge, now: now).map(\.description)
        for flow in node.datapath.flows(bridge: bridge) {
            let printed = flow.rule.description
            guard let again = try? FlowParser.parse(printed), again.description == printed else {
                fatalError("\(bridge): a flow the switch holds prints as text that does not parse back to it: \(printed)")
            }
        }
    }
    return 0
}

runFuzzer(fuzzControl)
