import Testing
import XDPDatapath
import XDPPacket

@Suite struct RouterRouteTableTests {
    func p(_ text: String) -> IPv4Prefix { IPv4Prefix(text)! }
    func a(_ text: String) -> IPv4Address { IPv4Address(text)! }

    @Test func longestOfOverlappingPrefixesWins() {
        let prefixes = [p("10.0.0.0/8"), p("10.1.0.0/16"), p("10.1.2.0/24"), p("10.1.2.3/32"), p("0.0.0.0/0"),
                        p("10.1.2.128/25")]
        let table = RouteTable(prefixes)
        #expect(table.count == 6)
        #expect(table.prefixLengths == [32, 25, 24, 16, 8, 0])
        #expect(table.lookup(a("10.1.2.3")) == 3)
        #expect(table.lookup(a("10.1.2.4")) == 2)
        #expect(table.lookup(a("10.1.2.200")) == 5)
        #expect(table.lookup(a("10.1.3.1")) == 1)
        #expect(table.lookup(a("10.200.0.1")) == 0)
        #expect(table.lookup(a("11.0.0.1")) == 4)
        #expect(table.lookup(a("255.255.255.255")) == 4)
    }

    @Test func withoutDefaultAMissIsNil() {
        let table = RouteTable([p("172.24.4.224/28"), p("10.1.0.0/24")])
        #expect(table.lookup(a("172.24.4.230")) == 0)
        #expect(table.lookup(a("172.24.4.240")) == nil)
        #expect(table.lookup(raw: a("8.8.8.8").rawValue) == -1)
        #expect(RouteTable([]).lookup(a("1.2.3.4")) == nil)
    }

    @Test func hostBitsOfPrefixesAreIgnoredAndLaterDuplicatesWin() {
        let table = RouteTable([p("10.1.0.77/24"), p("10.1.0.0/24"), p("0.0.0.0/0"), p("0.0.0.0/0")])
        #expect(table.count == 2)
        #expect(table.lookup(a("10.1.0.9")) == 1)
        #expect(table.lookup(a("9.9.9.9")) == 3)
    }

    /// Thousands of random prefixes (all lengths, many nested) against a linear scan.
    @Test func randomTablesAgreeWithLinearReference() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<4 {
            var seen = Set<IPv4Prefix>()
            var prefixes: [IPv4Prefix] = []
            let count = [10, 300, 3000, 5000][round]
            // Cluster addresses under a few /8s so prefixes nest and overlap.
            let roots: [UInt32] = [0x0A00_0000, 0xAC18_0000, 0xC0A8_0000]
            while prefixes.count < count {
                let length = Int.random(in: 0...32, using: &rng)
                let base = roots.randomElement(using: &rng)! | UInt32.random(in: 0...0x00FF_FFFF, using: &rng)
                let prefix = IPv4Prefix(IPv4Address(rawValue: base), length: length)!
                if seen.insert(prefix).inserted { prefixes.append(prefix) }
            }
            let table = RouteTable(prefixes)
            #expect(table.count == prefixes.count)
            func reference(_ address: IPv4Address) -> Int? {
                var best: Int?
                for (i, prefix) in prefixes.enumerated() where prefix.contains(address) {
                    if best == nil || prefixes[best!].length < prefix.length { best = i }
                }
                return best
            }
            for _ in 0..<(count > 1000 ? 1000 : 4000) {
                // Half the probes inside a prefix of the table (at a random host), half anywhere.
                let address: IPv4Address
                if Bool.random(using: &rng) {
                    let prefix = prefixes.randomElement(using: &rng)!
                    address = IPv4Address(rawValue: prefix.address.rawValue | (UInt32.random(in: 0...UInt32.max, using: &rng) & ~prefix.netmask.rawValue))
                } else {
                    address = IPv4Address(rawValue: roots.randomElement(using: &rng)! | UInt32.random(in: 0...0x00FF_FFFF, using: &rng))
                }
                let got = table.lookup(address)
                let want = reference(address)
                if got != want {
                    Issue.record("round \(round): \(address) → \(got.map { "\(prefixes[$0])" } ?? "nil"), want \(want.map { "\(prefixes[$0])" } ?? "nil")")
                    return
                }
            }
        }
    }
}
