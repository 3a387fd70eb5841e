/// The eBPF objects compiled by the BPFObjects build plugin, each into the target whose
/// folder it sits in: `bpf/datapath/*.c` into AFXDP (`xskSteer`), `bpf/lab/*.c` into XDPLab
/// (`trafficGen`, `countSink`). Each is a `static let NAME: StaticString` of lowercase hex,
/// added by a generated extension in its own target; `bytes(_:)` turns one into the ELF
/// image that `bpf_object__open_mem` reads.
package enum EmbeddedBPF {
    /// Decodes a generated hex literal. Control path only (once per program load).
    package static func bytes(_ hex: StaticString) -> [UInt8] {
        precondition(hex.hasPointerRepresentation && hex.utf8CodeUnitCount % 2 == 0)
        let count = hex.utf8CodeUnitCount / 2
        let digits = hex.utf8Start
        @inline(__always) func nibble(_ c: UInt8) -> UInt8 {
            c <= 0x39 ? c &- 0x30 : c &- 0x57  // '0'-'9', 'a'-'f' (the generator writes lowercase)
        }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                buffer[i] = nibble(digits[2 * i]) << 4 | nibble(digits[2 * i + 1])
            }
            initialized = count
        }
    }
}
