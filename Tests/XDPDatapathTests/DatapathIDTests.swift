import Testing
import XDPDatapath
import XDPPacket

/// The typed ids of the public API (Core/DatapathIDs.swift): ports and bridges found by
/// id and by name, "none" said by nil, frames entering by a `DatapathPort` or its id alike, and
/// every per-bridge call naming the bridge by its name.
@Suite struct DatapathIDTests {
    static func datapath(pool: FramePool) throws -> Datapath {
        try Datapath(configuration: DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-a", tag: 1), PortConfiguration(name: "qvo-b", tag: 1),
                PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
            ]),
            BridgeConfiguration(name: "br-tun", ports: [
                PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun")),
                PortConfiguration(name: "uplink"),
            ]),
        ]), pool: pool, now: .zero)
    }

    @Test func portsAndBridgesAreFoundByTheirIds() throws {
        let datapath = try Self.datapath(pool: FramePool(frameCount: 256))
        for port in datapath.ports {
            #expect(datapath[port.id] === port && datapath.port(named: port.name) === port)
            let bridge = try #require(datapath.bridge(of: port))
            #expect(port.bridgeID == bridge.id && datapath[bridge.id] === bridge && bridge.portIDs.contains(port.id))
        }
        #expect(datapath.ports.map(\.id) == datapath.ports.map(\.id).sorted(), "ids in configuration order")
        #expect(datapath.bridges.map(\.id) == [BridgeID(0), BridgeID(1)])
        let a = try #require(datapath.port(named: "qvo-a")), patch = try #require(datapath.port(named: "patch-tun"))
        #expect(a.peerID == nil && !a.isPatch && a.serviceIndex == nil && a.serviceElement == nil)
        #expect(patch.peerID == datapath.port(named: "patch-int")?.id && patch.isPatch)
        #expect(a.id.description == "port 0" && datapath.bridges[1].id.description == "bridge 1")
    }

    @Test func framesEnterByAPortOrItsIdAlike() throws {
        let pool = FramePool(frameCount: 256)
        let datapath = try Self.datapath(pool: pool)
        let a = try #require(datapath.port(named: "qvo-a")), b = try #require(datapath.port(named: "qvo-b"))
        func batch(_ frame: [UInt8]) throws -> PacketBatch {
            let batch = PacketBatch()
            let address = try #require(pool.allocate()) + UInt64(pool.headroom)
            frame.withUnsafeBytes { pool.pointer(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            batch.append(address: address, length: UInt32(frame.count))
            return batch
        }
        datapath.process(try batch(TestFrame.ethernet(dst: B, src: A)), from: a, now: DatapathInstant(nanoseconds: 1))
        datapath.process(try batch(TestFrame.ethernet(dst: A, src: B)), from: b.id, now: DatapathInstant(nanoseconds: 2))
        let table = try #require(datapath.bridge(named: "br-int")).macTable
        #expect(table.lookup(TestFrame.mac(A).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: 3)) == a.id)
        #expect(table.lookup(TestFrame.mac(B).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: 3)) == b.id)
        #expect(table.entries(now: DatapathInstant(nanoseconds: 3)).map(\.port).sorted() == [a.id, b.id])
        #expect(datapath.drainTransmitted(a).count == 1, "B's frame to A, learned from A's frame by port")
    }

    @Test func perBridgeCallsNameTheBridge() throws {
        let datapath = try Self.datapath(pool: FramePool(frameCount: 256))
        #expect(datapath.fdb(bridge: "br-int", now: DatapathInstant(nanoseconds: 1)) != nil)
        #expect(datapath.fdb(bridge: "br-none", now: DatapathInstant(nanoseconds: 1)) == nil)
        #expect(datapath.flowSegmentCacheCounters(bridge: "br-tun") != nil)
        #expect(datapath.flowSegmentCacheCounters(bridge: "br-none") == nil)
        #expect(datapath.exactMatchCacheCounters(bridge: "br-tun") != nil)
        #expect(datapath.exactMatchCacheCounters(bridge: "br-none") == nil)
        #expect(throws: Datapath.FlowModificationError.self) { try datapath.flowStatistics(bridge: "br-none", now: DatapathInstant(nanoseconds: 1)) }
    }
}
