import FuzzDriver
import XDPDatapath

/// The `ovs-ofctl` flow parser on any text: a refusal is a `FlowSyntaxError`, never a crash;
/// a flow it accepts prints as text it accepts again, to the same printed form.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFlowSyntax(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? FlowParser.parseSelector(text)
    guard let rule = try? FlowParser.parse(text) else { return 0 }
    let printed = rule.description
    guard let again = try? FlowParser.parse(printed) else {
        fatalError("printed flow does not parse again: \(text.debugDescription) -> \(printed.debugDescription)")
    }
    precondition(again.description == printed, "print(parse(print(x))) != print(x): \(printed) vs \(again.description)")
    return 0
}

runFuzzer(fuzzFlowSyntax)
