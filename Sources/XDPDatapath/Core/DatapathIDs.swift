// The ids the per-packet path carries. Each is an index into one of the datapath's
// tables, typed so a port cannot be passed where a bridge is meant, and what used to be
// negative sentinels (no port, NORMAL, FLOOD, ALL) is said by an enum.

/// A port's index in `Datapath.ports` (`Port.id`).
@frozen
@usableFromInline
struct PortID: Equatable {
    @usableFromInline let index: Int

    @inlinable @inline(__always)
    init(_ index: Int) { self.index = index }
}

/// A bridge's index in `Datapath.bridges` (`Bridge.id`).
@frozen
@usableFromInline
struct BridgeID: Equatable {
    @usableFromInline let index: Int

    @inlinable @inline(__always)
    init(_ index: Int) { self.index = index }
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
