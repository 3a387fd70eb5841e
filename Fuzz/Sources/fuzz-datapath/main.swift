import FuzzDriver
import FuzzSupport

/// The network node under libFuzzer: see `NetworkNodeFuzzer` for the input format and the
/// invariants. One datapath for the whole run (state carries over between inputs).
nonisolated(unsafe) let node = NetworkNodeFuzzer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatapath(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    node.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

runFuzzer(fuzzDatapath)
