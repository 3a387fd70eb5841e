import FuzzDriver
import XDPDatapath
import XDPPacket

/// `PacketParser.parse` and `FlowKey` on any bytes: no crash and no read outside the
/// frame (AddressSanitizer sees the exact allocation), offsets that stay inside the frame
/// when the parse succeeds, and the same answer twice.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacket(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // An exact-size copy: any read past the frame's end is a heap overflow ASan reports.
    let frame = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 1)
    defer { frame.deallocate() }
    if let data, size > 0 { frame.copyMemory(from: data, byteCount: size) }
    var meta = PacketMetadata()
    let ok = PacketParser.parse(frame, length: size, into: &meta)
    if ok {
        precondition(Int(meta.l3Offset) <= size, "l3Offset \(meta.l3Offset) beyond \(size) bytes")
        precondition(Int(meta.l4Offset) <= size, "l4Offset \(meta.l4Offset) beyond \(size) bytes")
        let key = FlowKey(meta, inPort: UInt16(truncatingIfNeeded: size))
        precondition(key.equals(key) && key.matches(key, mask: key), "a key must match itself")
        let zero = FlowKey()
        precondition(key.masked(by: zero).equals(zero), "masking by zeros gives zeros")
    }
    var again = PacketMetadata()
    precondition(PacketParser.parse(frame, length: size, into: &again) == ok, "the parse is not deterministic")
    return 0
}

runFuzzer(fuzzPacket)
