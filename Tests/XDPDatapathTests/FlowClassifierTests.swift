import Testing
import XDPDatapath

@Suite struct FlowClassifierTests {
    /// The reference: scan every rule, highest priority wins, first added on ties.
    func linearLookup(_ entries: [FlowClassifier.Entry], _ key: FlowKey) -> Int32 {
        var best: FlowClassifier.Entry?
        for e in entries where key.matches(e.value, mask: e.mask) {
            if best == nil || e.priority > best!.priority { best = e }
        }
        return best?.id ?? -1
    }

    @Test func randomRulesAgreeWithALinearScan() {
        var rng = SystemRandomNumberGenerator()
        // A few masks over a few fields, values drawn from small ranges so keys collide.
        let masks: [FlowKey] = (0..<6).map { i in
            var m = FlowKey()
            if i & 1 != 0 { m.inPort = 0xFFFF }
            if i & 2 != 0 { m.dlDst = 0xFFFF_FFFF_FFFF }
            if i >= 3 { m.tunID = ~0 }
            if i == 5 { m.vlanTCI = 0x1FFF; m.dlDst = 0x0100_0000_0000 }
            return m
        }
        func randomKey() -> FlowKey {
            var k = FlowKey()
            k.inPort = UInt16.random(in: 1...4, using: &rng)
            k.dlDst = UInt64.random(in: 0...5, using: &rng) | (Bool.random(using: &rng) ? 0x0100_0000_0000 : 0)
            k.tunID = UInt64.random(in: 0...3, using: &rng)
            k.vlanTCI = UInt16.random(in: 0...2, using: &rng) | 0x1000
            return k
        }
        var entries: [FlowClassifier.Entry] = []
        for id in 0..<300 {
            entries.append(.init(value: randomKey(), mask: masks.randomElement(using: &rng)!,
                                 priority: Int.random(in: 0...10, using: &rng), id: Int32(id)))
        }
        let classifier = FlowClassifier(entries)
        #expect(classifier.count == 300)
        #expect(classifier.maskCount == 6)
        for _ in 0..<5000 {
            let key = randomKey()
            let found = classifier.lookup(key)
            let expected = linearLookup(entries, key)
            if found != expected {
                // Equal priorities may legitimately pick another rule; both must match with the same priority.
                let f = entries[Int(found)], e = entries[Int(expected)]
                #expect(key.matches(f.value, mask: f.mask) && f.priority == e.priority, "key \(key) got \(found), want \(expected)")
            }
        }
    }

    @Test func emptyClassifierMatchesNothing() {
        #expect(FlowClassifier([]).lookup(FlowKey()) == -1)
    }

    @Test func catchAllLosesToAnyHigherPriorityRule() {
        var exact = FlowKey(); exact.inPort = 0xFFFF
        var value = FlowKey(); value.inPort = 1
        let c = FlowClassifier([
            .init(value: FlowKey(), mask: FlowKey(), priority: 0, id: 0),
            .init(value: value, mask: exact, priority: 4, id: 1),
        ])
        var key = FlowKey(); key.inPort = 1
        #expect(c.lookup(key) == 1)
        key.inPort = 2
        #expect(c.lookup(key) == 0)
    }

    @Test func fieldAccessorsRoundTripAndStayInTheirBits() {
        var k = FlowKey()
        k.inPort = 0xBEEF; k.ctZone = 0x1234; k.nwProto = 6; k.nwTTL = 64; k.nwTOS = 0xB8; k.ctState = 0x22
        k.dlDst = 0x0102_0304_0506; k.dlType = 0x0800; k.dlSrc = 0xFA16_3E00_0001; k.vlanTCI = 0x1001
        k.nwSrc = 0x0A01_0001; k.nwDst = 0x0A01_0002; k.tpSrc = 1000; k.tpDst = 22; k.tcpFlags = 0x12
        k.tunID = 0x2; k.ctMark = 0xDEAD; k.metadata = 7; k.arpSHA = 0xAABB_CCDD_EEFF; k.arpTHA = 1
        for n in 0..<8 { k.setReg(n, UInt32(0x1000 + n)) }
        #expect(k.inPort == 0xBEEF && k.ctZone == 0x1234 && k.nwProto == 6 && k.nwTTL == 64 && k.nwTOS == 0xB8 && k.ctState == 0x22)
        #expect(k.dlDst == 0x0102_0304_0506 && k.dlType == 0x0800 && k.dlSrc == 0xFA16_3E00_0001 && k.vlanTCI == 0x1001)
        #expect(k.nwSrc == 0x0A01_0001 && k.nwDst == 0x0A01_0002 && k.tpSrc == 1000 && k.tpDst == 22 && k.tcpFlags == 0x12)
        #expect(k.tunID == 2 && k.ctMark == 0xDEAD && k.metadata == 7 && k.arpSHA == 0xAABB_CCDD_EEFF && k.arpTHA == 1)
        #expect((0..<8).map { k.reg($0) } == (0..<8).map { UInt32(0x1000 + $0) })
    }
}
