#if canImport(Glibc)
import Glibc
#endif
import XDPDatapath
import XDPPacket

/// A `PipelineScenario`'s datapath with 64 frames of its own and the plumbing to run
/// batches through it, as a port's transport would: `refill()` rewrites the frames from the
/// templates (an RX copy) so every batch sees fresh bytes, `recycle()` takes back what the
/// stage queued (a TX completion). Only `datapath.process` is the stage's own work; the
/// package benchmarks and `bench-micro` measure around it.
///
/// The rig's frames are the pool's first 64 (it allocates them before anything else), so
/// anything else found on a transmit queue is a copy (a flood) and goes back to the pool.
public final class ScenarioRig {
    public static let batchSize = 64

    public let scenario: PipelineScenario
    public let pool = FramePool(frameCount: 4096)
    public let datapath: Datapath
    public let batch = PacketBatch()
    /// The port frames enter by, and its id.
    public let inputPort: DatapathPort
    public let input: PortID
    /// The rig's frames (data addresses, past the pool's headroom).
    public private(set) var addresses: [UInt64] = []

    public init(_ scenario: PipelineScenario) throws {
        self.scenario = scenario
        datapath = try Datapath(configuration: scenario.configuration, pool: pool, now: .zero)
        guard let port = datapath.port(named: scenario.input), datapath.port(named: scenario.output) != nil else {
            throw ScenarioError("\(scenario.name): no port \(scenario.input) or \(scenario.output)")
        }
        inputPort = port
        input = port.id
        // The rig's frames first, from the fresh pool: the priming frames below then come
        // from elsewhere, whatever order they go back to the pool in.
        for _ in 0..<Self.batchSize {
            guard let frame = pool.allocate() else { throw ScenarioError("\(scenario.name): pool empty") }
            addresses.append(frame + UInt64(pool.headroom))
        }
        for (frame, name) in scenario.prime {
            guard let p = datapath.port(named: name) else { throw ScenarioError("\(scenario.name): no port \(name)") }
            datapath.inject(frame, into: p, now: DatapathInstant(nanoseconds: 1))
        }
        datapath.discardTransmitted()
    }

    /// Fills the batch with the rig's frames, rewritten from the templates (an RX copy).
    @inline(__always)
    public func refill() {
        batch.removeAll()
        let templates = scenario.templates
        for (i, address) in addresses.enumerated() {
            templates[i % templates.count].withUnsafeBytes { raw in
                memcpy(pool.pointer(address), raw.baseAddress!, raw.count)
                batch.append(address: address, length: UInt32(raw.count))
            }
        }
    }

    /// Takes back what the stage queued (a transport's TX completion): the rig's own frames
    /// stay the rig's, copies go back to the pool. Returns how many frames were queued.
    @discardableResult @inline(__always)
    public func recycle() -> Int {
        let ownEnd = UInt64(Self.batchSize * pool.frameSize)
        var queued = 0
        for port in datapath.ports where port.txQueue.count > 0 {
            let queue = port.txQueue
            for i in 0..<queue.count where queue.addresses[i] >= ownEnd { pool.free(queue.addresses[i]) }
            queued += queue.count
            queue.removeAll()
        }
        return queued
    }

    /// One batch: refill, the stage, recycle. A dropped frame would have gone back to the
    /// pool while the rig still uses it: that stops the run with the datapath's counters.
    @inline(__always)
    public func runBatch(now: DatapathInstant) {
        refill()
        datapath.process(batch, from: input, now: now)
        checkRecycled(recycle())
    }

    /// Stops the run unless every frame of the batch was queued for transmission and the
    /// pool holds everything but the rig's frames.
    @inline(__always)
    public func checkRecycled(_ queued: Int) {
        precondition(queued >= Self.batchSize && pool.freeCount == pool.frameCount - Self.batchSize,
                     "\(scenario.name): the stage dropped frames: \(datapath.portStatistics().map(\.description).joined(separator: "; "))")
    }
}
