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
    let pool = FramePool(frameCount: 1024)
    let datapath = try config.makeDatapath(pool: pool)
    let vm1 = datapath.port(named: "vm1")!, uplink = datapath.port(named: "uplink")!
    let frame = Array(repeating: UInt8(0xff), count: 6) + [0x02, 0, 0, 0, 0, 1, 0x88, 0xb5] + Array(repeating: 0, count: 46)
    datapath.inject(frame, into: vm1, now: 0)            // a broadcast from vm1 ...
    let sent = datapath.drainTransmitted(uplink)       // ... leaves the trunk tagged VLAN 1
    print("uplink sent \(sent.count) frame(s); vm1 stats: \(vm1.stats)")
    // --- README example ends ---
    #expect(sent.count == 1)
    #expect(sent.first.map { Array($0[12..<16]) } == [0x81, 0x00, 0x00, 0x01])
    #expect(datapath.drainTransmitted(datapath.port(named: "vm2")!).count == 1)
}
