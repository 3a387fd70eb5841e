// Walking the IPv6 extension header chain (RFC 8200 §4) to the upper-layer header.
//
// The walk steps over hop-by-hop options (0), routing (43), fragment (44), destination
// options (60), AH (51) and the headers RFC 7045 says share their format (mobility 135,
// HIP 139, Shim6 140). It stops at anything else (TCP, UDP, ICMPv6, ESP, No Next Header,
// unknown values): that value and its offset are the result.
//
// Every read is checked against `length` before it happens, so a chain that runs off
// the end of the packet yields nil instead of reading past it. Each header is at least
// 8 bytes, so the walk ends after at most `length / 8` steps.

/// Where an IPv6 extension header walk ended.
@frozen
public struct IPv6ExtensionWalk: Equatable, Sendable {
    /// The Next Header value that is not an extension header (the upper-layer protocol,
    /// or ESP / No Next Header / an unknown value).
    public var nextHeader: IPProtocol
    /// Offset of the header `nextHeader` names, from the start of the IPv6 header.
    /// May equal the walked length when nothing follows.
    public var offset: Int
    /// Offset of the fragment header, or nil when the packet is not a fragment.
    public var fragmentHeaderOffset: Int?
    /// True when a fragment header with a non-zero offset was found: the walk stops
    /// there and the bytes at `offset` are the middle of a payload, not a header.
    public var isLaterFragment: Bool

    /// Records where a walk ended; offsets count bytes from the start of the IPv6 header.
    @inlinable
    public init(nextHeader: IPProtocol, offset: Int, fragmentHeaderOffset: Int? = nil, isLaterFragment: Bool = false) {
        self.nextHeader = nextHeader
        self.offset = offset
        self.fragmentHeaderOffset = fragmentHeaderOffset
        self.isLaterFragment = isLaterFragment
    }
}

extension IPv6Header {
    /// Walks the extension headers of the packet starting at `base`, reading only within
    /// `length` bytes of it (pass the smaller of the bytes present and 40 + payload length).
    ///
    /// Returns nil when the chain is malformed or truncated: fewer than 40 bytes, an
    /// extension header that does not fit in `length`, or a hop-by-hop header anywhere but
    /// first (RFC 8200 §4.1).
    @inlinable
    public func walkExtensionHeaders(length: Int) -> IPv6ExtensionWalk? {
        guard length >= 40 else { return nil }
        var next = base.loadBE8(at: 6)
        var offset = 40
        var fragmentHeaderOffset: Int? = nil
        while true {
            switch next {
            case 0, 43, 60, 135, 139, 140:
                // Hop-by-hop is only valid straight after the fixed header.
                if next == 0 && offset != 40 { return nil }
                guard offset <= length &- 8 else { return nil }
                // Hdr Ext Len counts 8-octet units beyond the first 8 (≤ 2048 bytes).
                let size = (Int(base.loadBE8(at: offset &+ 1)) &+ 1) &* 8
                next = base.loadBE8(at: offset)
                guard size <= length &- offset else { return nil }
                offset &+= size  // ≤ length, checked just above
            case 51:
                guard offset <= length &- 8 else { return nil }
                // AH Payload Len counts 4-octet units minus 2 (RFC 4302 §2.2); 12 bytes minimum.
                let size = (Int(base.loadBE8(at: offset &+ 1)) &+ 2) &* 4
                next = base.loadBE8(at: offset)
                guard size >= 12, size <= length &- offset else { return nil }
                offset &+= size
            case 44:
                guard offset <= length &- 8 else { return nil }
                fragmentHeaderOffset = offset
                let fragment = IPv6FragmentHeader(base + offset)
                next = fragment.nextHeader.rawValue
                offset &+= 8
                if fragment.fragmentOffset != 0 {
                    return IPv6ExtensionWalk(nextHeader: IPProtocol(rawValue: next), offset: offset,
                                             fragmentHeaderOffset: fragmentHeaderOffset, isLaterFragment: true)
                }
            default:
                return IPv6ExtensionWalk(nextHeader: IPProtocol(rawValue: next), offset: offset,
                                         fragmentHeaderOffset: fragmentHeaderOffset, isLaterFragment: false)
            }
        }
    }
}
