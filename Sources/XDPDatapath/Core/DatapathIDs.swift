// The ids the public API and the per-packet path carry. Each is an index into one of the
// datapath's tables, typed so a port cannot be passed where a bridge is meant; "none" is
// nil (`DatapathPort.bridgeID` of the underlay port, `DatapathPort.peerID` of a port that is no patch),
// and what used to be negative sentinels on the per-packet path (no port, NORMAL, FLOOD,
// ALL) is said by an enum.

/// A port of a datapath: its index in `Datapath.ports` (`DatapathPort.id`).
///
/// Typed so a port cannot be passed where a bridge or an OpenFlow port number is meant;
/// a single stored `Int`, so carrying one costs what carrying the index would. Ids are
/// dense and stable for the life of a `Datapath` (a reconfiguration builds a new one).
/// Look a port up with `Datapath.subscript(_:)` or `Datapath.port(named:)`.
@frozen
public struct PortID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The position in `Datapath.ports`.
    public let index: Int

    /// The port at position `index` of `Datapath.ports`.
    @inlinable @inline(__always)
    public init(_ index: Int) { self.index = index }

    /// Ids order as their indices (configuration order).
    @inlinable
    public static func < (lhs: PortID, rhs: PortID) -> Bool { lhs.index < rhs.index }

    /// The index, as `port 3`.
    public var description: String { "port \(index)" }
}

/// A bridge of a datapath: its index in `Datapath.bridges` (`DatapathBridge.id`).
///
/// A single stored `Int`, like `PortID`. Look a bridge up with `Datapath.subscript(_:)`
/// or `Datapath.bridge(named:)`.
@frozen
public struct BridgeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The position in `Datapath.bridges`.
    public let index: Int

    /// The bridge at position `index` of `Datapath.bridges`.
    @inlinable @inline(__always)
    public init(_ index: Int) { self.index = index }

    /// Ids order as their indices (configuration order).
    @inlinable
    public static func < (lhs: BridgeID, rhs: BridgeID) -> Bool { lhs.index < rhs.index }

    /// The index, as `bridge 0`.
    public var description: String { "bridge \(index)" }
}

/// Where the flow interpreter sends a frame: a port of the bridge (an `output:N` or
/// `IN_PORT`), or the NORMAL, FLOOD or ALL action.
@frozen
@usableFromInline
enum OutputTarget: Equatable {
    case port(PortID)
    case normal
    case flood
    case all
}

/// What egress does with a frame for a port, decided once when the port is built.
@frozen
@usableFromInline
enum EgressKind: UInt8 {
    /// Queue it on the port's `txQueue` (AF_XDP, in-memory and replay ports, the underlay).
    case queue
    /// Enter it into the peer bridge of a patch port.
    case patch
    /// GRE-encapsulate it onto the underlay (Datapath+Tunnel.swift).
    case tunnel
    /// Hand it to the router or DHCP responder behind a service port (Datapath+Services.swift).
    case service
}

// The views are read in place (`unsafeAddress`, as the standard library's pointer
// subscript does): a getter returning the struct would copy all of it where the
// pipeline reads one or two fields.
extension UnsafeMutablePointer where Pointee == PortFastPath {
    /// The per-packet view of port `id`.
    @inlinable
    subscript(id: PortID) -> PortFastPath {
        @inline(__always) unsafeAddress { UnsafePointer(self + id.index) }
    }
}

extension UnsafeMutablePointer where Pointee == BridgeFastPath {
    /// The per-packet view of bridge `id`.
    @inlinable
    subscript(id: BridgeID) -> BridgeFastPath {
        @inline(__always) unsafeAddress { UnsafePointer(self + id.index) }
    }
}
