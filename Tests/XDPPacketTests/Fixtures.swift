import Foundation
import Testing
@testable import XDPPacket

/// The scapy-made fixtures (see Fixtures/make_fixtures.py).
enum Fixtures {
    static func url(_ name: String, _ ext: String) -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures")
            ?? Bundle.module.url(forResource: name, withExtension: ext) else {
            fatalError("fixture \(name).\(ext) missing from the test bundle")
        }
        return url
    }

    /// Non-comment lines of a fixture text file, split at the first space.
    static func lines(_ name: String) -> [(String, String)] {
        let text = try! String(contentsOf: url(name, "txt"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.firstIndex(of: " ") else { return nil }
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }
    }

    static let frames: [String: [UInt8]] = Dictionary(uniqueKeysWithValues: lines("frames").map { ($0.0, hex($0.1)) })

    static func frame(_ name: String) -> [UInt8] {
        guard let bytes = frames[name] else { fatalError("no fixture frame \(name)") }
        return bytes
    }
}

func hex(_ text: some StringProtocol) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let hi = iterator.next(), let lo = iterator.next() {
        out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
    }
    return out
}

/// Runs `body` over a mutable copy of `bytes`; returns what it returns.
@discardableResult
func withFrame<R>(_ bytes: [UInt8], _ body: (UnsafeMutableRawPointer, Int) throws -> R) rethrows -> R {
    var copy = bytes
    return try copy.withUnsafeMutableBytes { try body($0.baseAddress!, $0.count) }
}

/// Runs `body` over `count` zero bytes and returns them afterwards.
func writing(_ count: Int, _ body: (UnsafeMutableRawPointer) -> Void) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { body($0.baseAddress!) }
    return bytes
}

/// A reproducible generator for randomized tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let macA = MACAddress("02:00:00:00:00:01")!
let macB = MACAddress("02:00:00:00:00:02")!
let ipA = IPv4Address(10, 0, 0, 1)
let ipB = IPv4Address(10, 0, 0, 2)
let ip6A = IPv6Address("2001:db8::1")!
let ip6B = IPv6Address("2001:db8::2")!
