import Foundation
import Testing
import XDPSwitch

// The README's embedding example, compiled and run as a test so it cannot rot.
@Test func readmeEmbeddingExampleWorks() throws {
    // --- README example begins ---
    let config = try SwitchConfiguration.parse(yaml: """
        bridges:
          - name: br-int
            ports:
              - {name: vm1, tag: 1}
              - {name: vm2, tag: 1}
              - {name: uplink, trunks: [1]}
        """)
    let node = try EmbeddedDatapath(configuration: config)   // in-memory ports, manual clock
    let vm1: [UInt8] = [0x02, 0, 0, 0, 0, 1], peer: [UInt8] = [0x02, 0, 0, 0, 0, 9]
    let payload = [UInt8](repeating: 0, count: 46)
    try node.writeInbound([0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + vm1 + [0x88, 0xb5] + payload, on: "vm1")
    let tagged = try node.readOutbound(on: "uplink")         // the broadcast leaves the trunk tagged VLAN 1
    let flooded = try node.readOutbound(on: "vm2")           // and reaches vm2 untagged

    let reply = vm1 + peer + [0x81, 0x00, 0x00, 0x01, 0x88, 0xb5] + payload
    try node.writeInbound(reply, on: "uplink")               // vm1's MAC was learned:
    let toVM1 = try node.readOutbound(on: "vm1")             // the reply goes to vm1 only
    let toVM2 = try node.readOutbound(on: "vm2")             // (nil)

    node.advanceTime(by: .seconds(301))                      // past mac_aging_time (300 s)
    try node.writeInbound(reply, on: "uplink")               // vm1 is forgotten: flooded again
    let leftovers = node.finish()                            // unread: the flood to vm1 and vm2
    print("left on ports: \(leftovers.outbound.mapValues(\.count))")
    // --- README example ends ---
    #expect(tagged.map { Array($0[12..<16]) } == [0x81, 0x00, 0x00, 0x01])
    #expect(flooded?.count == 60 && flooded.map { Array($0[12..<14]) } == [0x88, 0xb5])
    #expect(toVM1.map { Array($0[0..<6]) } == vm1)
    #expect(toVM2 == nil)
    #expect(leftovers.outbound.mapValues(\.count) == ["vm1": 1, "vm2": 1])
    #expect(leftovers.held == 0)
    #expect(node.finish().isClean, "finish hands the frames back once")
}

/// The embedded datapath's refusals and its clock.
@Suite struct EmbeddedDatapathTests {
    static let yaml = """
        bridges:
          - name: br-int
            ports:
              - {name: a, tag: 1}
              - {name: b, tag: 1}
              - {name: patch-tun, type: patch, options: {peer: patch-int}}
          - name: br-tun
            ports:
              - {name: patch-int, type: patch, options: {peer: patch-tun}}
        """

    @Test func refusesWhatNoWireCouldCarry() throws {
        let node = try EmbeddedDatapath(configuration: SwitchConfiguration.parse(yaml: Self.yaml), frameCount: 4)
        let frame = [UInt8](repeating: 0xff, count: 12) + [0x88, 0xb5] + [UInt8](repeating: 0, count: 46)
        #expect(throws: EmbeddedDatapath.WriteError.noSuchPort("c")) { try node.writeInbound(frame, on: "c") }
        #expect(throws: EmbeddedDatapath.WriteError.notAWire("patch-tun")) { try node.writeInbound(frame, on: "patch-tun") }
        let limit = node.datapath.pool.frameSize - node.datapath.pool.headroom
        #expect(throws: EmbeddedDatapath.WriteError.frameTooLong(length: limit + 1, limit: limit)) {
            try node.writeInbound([UInt8](repeating: 0, count: limit + 1), on: "a")
        }
        // Unread frames are copied out of the pool: a 4-frame pool carries any number.
        for _ in 0..<10 { try node.writeInbound(frame, on: "a") }
        #expect(try node.readAllOutbound(on: "b").count == 10)
        #expect(node.datapath.pool.freeCount == 4)
        try node.writeInbound(frame, on: "a")
        #expect(node.finish().outbound == ["b": [frame]])
    }

    @Test func macEntryAgesOutAfterTheConfiguredAgingAndNotBefore() throws {
        let node = try EmbeddedDatapath(configuration: SwitchConfiguration.parse(yaml: """
            bridges:
              - name: br-int
                mac_aging_time: 30
                ports:
                  - {name: a, tag: 1}
                  - {name: b, tag: 1}
                  - {name: c, tag: 1}
            """))
        let bridge = try #require(node.datapath.bridge(named: "br-int"))
        #expect(bridge.macTable.agingTime == .seconds(30))
        let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0a], macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0b]
        let payload = [UInt8](repeating: 0, count: 46)
        try node.writeInbound([0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + macA + [0x88, 0xb5] + payload, on: "a")
        _ = node.finish()
        let learnedAt = node.now
        #expect(bridge.macTable.entries(now: node.now).map(\.mac) == [0x0200_0000_000a])

        let toA = macA + macB + [0x88, 0xb5] + payload
        node.advanceTime(by: .seconds(30) - .nanoseconds(1))       // one nanosecond short
        try node.writeInbound(toA, on: "b")
        #expect(node.finish().outbound == ["a": [toA]], "still known just before the aging time")

        node.advanceTime(by: .nanoseconds(1))                      // B's entry is fresh, A's is 30 s old
        #expect(node.now - learnedAt == .seconds(30))
        #expect(bridge.macTable.entries(now: node.now).map(\.mac) == [0x0200_0000_000b])
        try node.writeInbound(toA, on: "b")
        #expect(node.finish().outbound == ["a": [toA], "c": [toA]], "aged out: flooded")
    }

    @Test func clockMovesOnlyForward() throws {
        let node = try EmbeddedDatapath(configuration: SwitchConfiguration.parse(yaml: Self.yaml), startTime: .zero + .seconds(5))
        #expect(node.now == DatapathInstant(nanoseconds: 5_000_000_000))
        node.advanceTime(by: .milliseconds(1500))
        #expect(node.now.nanoseconds == 6_500_000_000)
        node.advanceTime(by: .seconds(-3))
        #expect(node.now == .zero + .milliseconds(6500))
    }
}

/// The README shows the code this file runs, line for line (after `import XDPSwitch`).
@Test func readmeShowsTheExampleThisFileRuns() throws {
    let here = #filePath
    let root = here.components(separatedBy: "/Tests/XDPSwitchTests/").first ?? ""
    let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
    let test = try String(contentsOfFile: here, encoding: .utf8)
    let section = try #require(readme.components(separatedBy: "## Embedding").dropFirst().first)
    let shown = try #require(section.components(separatedBy: "```swift\nimport XDPSwitch\n\n").dropFirst().first?
        .components(separatedBy: "\n```").first)
    let begin = "    // --- README example begins ---\n", end = "    // --- README example ends ---"
    let run = try #require(test.components(separatedBy: begin).dropFirst().first?.components(separatedBy: end).first)
    let dedented = run.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
    #expect(shown + "\n" == dedented)
}
