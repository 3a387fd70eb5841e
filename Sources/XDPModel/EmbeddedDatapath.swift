import XDPDatapath

/// A datapath with in-memory ports and a manual clock, for tests and tools — in the
/// manner of swift-nio's `EmbeddedChannel`: write a frame in on a port, read what came
/// out of another, advance time by hand, and `finish()` to learn what is left.
///
/// ```swift
/// let switch = try EmbeddedDatapath(configuration: SwitchConfiguration.parse(yaml: yaml))
/// try switch.writeInbound(frame, on: "vm1")              // frame: [UInt8]
/// let out = try switch.readOutbound(on: "uplink")        // the frame, tagged, or nil
/// switch.advanceTime(by: .seconds(301))                  // MAC entries age out
/// #expect(switch.finish().isClean)
/// ```
///
/// Frames are bytes (`[UInt8]`, Ethernet header first, no FCS): the embedded datapath
/// copies each into a `FrameHandle` from its pool (past the pool's headroom), and takes
/// every frame the datapath queued for a port out of the pool again after each write or
/// tick, so no pointer is handed out. Time starts at `startTime` and moves only through
/// `advanceTime(by:)`, which also runs the datapath's timers (flow timeouts, learned flows,
/// router ARP retries, conntrack expiry), as an engine's idle loop would.
///
/// Not thread-safe, like the `Datapath` it wraps: use it from one task or thread.
public final class EmbeddedDatapath {
    /// Why a frame could not be written in.
    public enum WriteError: Error, Equatable, Sendable, CustomStringConvertible {
        /// No port has this name.
        case noSuchPort(String)
        /// The port has no wire: a patch port, or a router's or DHCP responder's port.
        case notAWire(String)
        /// The frame is longer than a pool frame holds after the headroom.
        case frameTooLong(length: Int, limit: Int)
        /// Every pool frame is held by the datapath (fragments waiting for the rest, frames
        /// waiting for an ARP answer): unread outbound frames are copies and hold none.
        case poolExhausted

        /// What went wrong, in one line.
        public var description: String {
            switch self {
            case .noSuchPort(let name): "\(name): no such port"
            case .notAWire(let name): "\(name): a patch or service port has no wire to write into"
            case .frameTooLong(let length, let limit): "frame of \(length) bytes: longer than \(limit)"
            case .poolExhausted: "no free frame in the pool: the datapath holds them all"
            }
        }
    }

    /// What `finish()` found.
    public struct Leftovers: Equatable, Sendable {
        /// Frames written out on ports and never read, by port name, oldest first.
        public var outbound: [String: [[UInt8]]]
        /// Frames the datapath still holds (fragments waiting for the rest, frames waiting
        /// for an ARP answer).
        public var held: Int
        /// Nothing left: every frame written in was read out or dropped.
        public var isClean: Bool { outbound.isEmpty && held == 0 }
    }

    /// The datapath under test. Its methods take the time as `now:`; pass ``now``.
    public let datapath: Datapath
    /// The manual clock's time: where `startTime` put it plus every `advanceTime(by:)`.
    public private(set) var now: DatapathInstant
    private var outbound: [PortID: [[UInt8]]] = [:]

    /// The datapath `configuration` describes — bridges, flows, security groups, routers,
    /// DHCP, tunnels — over a pool of `frameCount` frames, with the clock at `startTime`.
    public init(configuration: SwitchConfiguration, frameCount: Int = 1024,
                startTime: DatapathInstant = DatapathInstant(nanoseconds: 1_000_000_000)) throws(ConfigurationError) {
        datapath = try configuration.makeDatapath(pool: FramePool(frameCount: frameCount), now: startTime)
        now = startTime
    }

    /// A datapath built elsewhere (its own pool); the clock at `startTime`.
    public init(datapath: Datapath, startTime: DatapathInstant = DatapathInstant(nanoseconds: 1_000_000_000)) {
        self.datapath = datapath
        now = startTime
    }

    /// Moves the clock forward by `amount` (not backwards: a negative amount is ignored)
    /// and runs the datapath's timers at the new time.
    public func advanceTime(by amount: Duration) {
        if amount > .zero { now += amount }
        datapath.tick(now: now)
        collect()
    }

    /// Processes `frame` as received on the port named `port` at the current time.
    public func writeInbound(_ frame: [UInt8], on port: String) throws(WriteError) {
        guard let target = datapath.port(named: port) else { throw .noSuchPort(port) }
        if case .patch = target.type { throw .notAWire(port) }
        guard target.serviceKind == .none else { throw .notAWire(port) }
        let limit = datapath.pool.dataCapacity
        guard frame.count <= limit else { throw .frameTooLong(length: frame.count, limit: limit) }
        guard var handle = datapath.pool.allocateFrame() else { throw .poolExhausted }
        do { try handle.write(bytes: frame) } catch { throw .frameTooLong(length: frame.count, limit: handle.capacity) }
        datapath.process(handle, from: target, now: now)
        collect()
    }

    /// The oldest frame sent out of the port named `port` and not read yet, nil when none.
    public func readOutbound(on port: String) throws(WriteError) -> [UInt8]? {
        guard let target = datapath.port(named: port) else { throw .noSuchPort(port) }
        guard var queue = outbound[target.id], !queue.isEmpty else { return nil }
        let first = queue.removeFirst()
        outbound[target.id] = queue.isEmpty ? nil : queue
        return first
    }

    /// Every frame sent out of the port named `port` and not read yet, oldest first.
    public func readAllOutbound(on port: String) throws(WriteError) -> [[UInt8]] {
        guard let target = datapath.port(named: port) else { throw .noSuchPort(port) }
        return outbound.removeValue(forKey: target.id) ?? []
    }

    /// What is left: frames never read, by port, and frames the datapath holds. The
    /// unread frames are handed back and forgotten; the datapath stays usable.
    public func finish() -> Leftovers {
        collect()
        var byName: [String: [[UInt8]]] = [:]
        for (id, frames) in outbound { byName[datapath[id].name] = frames }
        outbound.removeAll()
        return Leftovers(outbound: byName, held: datapath.framesQueued)
    }

    /// Takes what the datapath queued on every port out of the pool.
    private func collect() {
        for port in datapath.ports where !port.txQueue.isEmpty {
            outbound[port.id, default: []].append(contentsOf: datapath.drainTransmitted(port))
        }
    }
}
