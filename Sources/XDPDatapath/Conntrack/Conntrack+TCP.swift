import XDPPacket

// TCP tracking
// ============
//
// Each side of a connection (peer 0 = the originator, peer 1 = the responder) has a
// state and a window, as in OVS lib/conntrack-tcp.c, which took it from pf (Guido van
// Rooij, "Real Stateful TCP Packet Filtering in IP Filter"):
//
//   seqlo   the highest sequence number this side has sent (end of its data),
//   seqhi   the highest it may send: what the other side acknowledged plus its window,
//   maxWin  the largest window it advertised (unscaled), wscale its window scale.
//
// A segment [seq, end) from `src` to `dst` is in window when
//
//   end ≤ src.seqhi                                   (inside what dst allows)
//   seq ≥ src.seqlo − (dst.maxWin << dws)             (a retransmission at most one window back)
//   −MAXACKWINDOW ≤ dst.seqlo − ack ≤ MAXACKWINDOW << sws   (the ack is plausible)
//   a RST's seq is exactly src.seqlo (±1)
//
// with all comparisons modulo 2^32. In-window segments move the windows and the
// states; a segment that fails but is "close" (within MAXACKWINDOW) while the
// connection is opening or closing is let through without refreshing the timer (pf's
// loose case: shotgunned SYNs, stacks that spew ACK|FIN after close). Anything else
// is +inv and changes nothing.
//
// States only ever increase (CLOSED < … < TIME_WAIT): SYN → SYN_SENT, FIN → CLOSING,
// the other side's ACK moves SYN_SENT → ESTABLISHED and CLOSING → FIN_WAIT_2, RST →
// both TIME_WAIT. A SYN on a connection whose two sides are both ≥ FIN_WAIT_2 ends it
// and starts a new one (port reuse after TIME_WAIT).
//
// Impossible flag combinations are +inv whatever the state: SYN with FIN or RST; no
// SYN, ACK or RST at all; FIN, PSH or URG without ACK. A new connection must begin
// with a SYN without ACK unless `tcpLoose` (then anything valid but SYN|ACK may open
// one, with window scaling unknown on both sides as OVS does).

/// The state of one side of a TCP connection, in OVS's order (`ct_dpif_tcp_state`).
public enum TCPConnectionState: UInt8, Sendable, Comparable, CustomStringConvertible {
    /// RFC 9293's states, numbered 0 (`closed`) to 10 (`timeWait`) as OVS numbers them.
    case closed, listen, synSent, synReceived, established, closeWait, finWait1, closing, lastAck, finWait2, timeWait

    /// Orders states as OVS numbers them: `closed` first, `timeWait` last.
    public static func < (a: TCPConnectionState, b: TCPConnectionState) -> Bool { a.rawValue < b.rawValue }

    /// The name `dump-conntrack` prints.
    public var description: String {
        switch self {
        case .closed: "CLOSED"
        case .listen: "LISTEN"
        case .synSent: "SYN_SENT"
        case .synReceived: "SYN_RECV"
        case .established: "ESTABLISHED"
        case .closeWait: "CLOSE_WAIT"
        case .finWait1: "FIN_WAIT_1"
        case .closing: "CLOSING"
        case .lastAck: "LAST_ACK"
        case .finWait2: "FIN_WAIT_2"
        case .timeWait: "TIME_WAIT"
        }
    }
}

/// One side's window tracking state (see the essay above).
struct TCPPeer {
    var seqlo: UInt32 = 0
    var seqhi: UInt32 = 0
    var maxWin: UInt32 = 0
    /// Low 4 bits: the scale; `wscaleFlag`: the side sent a window scale option;
    /// `wscaleUnknown`: picked up mid-stream, scale not known.
    var wscale: UInt8 = 0
    var state: UInt8 = TCPConnectionState.closed.rawValue
}

enum TCPBits {
    static let fin: UInt16 = 0x01, syn: UInt16 = 0x02, rst: UInt16 = 0x04, psh: UInt16 = 0x08
    static let ack: UInt16 = 0x10, urg: UInt16 = 0x20
    static let wscaleFlag: UInt8 = 0x80, wscaleUnknown: UInt8 = 0x40, wscaleMask: UInt8 = 0x0F
    static let maxWscale: UInt8 = 14
    /// How far an ack may lag (one 64 KiB window plus a fudge factor of 1500, pf's).
    static let maxAckWindow: Int64 = 0xFFFF + 1500
    static let closed = TCPConnectionState.closed.rawValue
    static let synSent = TCPConnectionState.synSent.rawValue
    static let established = TCPConnectionState.established.rawValue
    static let closing = TCPConnectionState.closing.rawValue
    static let finWait2 = TCPConnectionState.finWait2.rawValue
    static let timeWait = TCPConnectionState.timeWait.rawValue
}

// Sequence-space comparisons (RFC 1982 serial arithmetic).
@inline(__always) func seqLT(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
@inline(__always) func seqGEQ(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) >= 0 }
@inline(__always) func seqGT(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) > 0 }

extension ConnectionTracker {
    /// The control bits (low 9 bits of bytes 12–13) of the TCP header at `l4`.
    @inline(__always)
    static func tcpFlags(_ l4: UnsafeMutableRawPointer) -> UInt16 {
        UInt16(l4.loadBE8(at: 12) & 1) << 8 | UInt16(l4.loadBE8(at: 13))
    }

    /// True for flag combinations no TCP sends.
    @inline(__always)
    static func tcpInvalidFlags(_ flags: UInt16) -> Bool {
        typealias B = TCPBits
        if flags & B.syn != 0 {
            if flags & (B.rst | B.fin) != 0 { return true }
        } else if flags & (B.ack | B.rst) == 0 {
            return true  // no SYN, ACK or RST: nothing a stack sends
        }
        if flags & B.ack == 0 && flags & (B.fin | B.psh | B.urg) != 0 { return true }
        return false
    }

    /// Why a segment may not open a connection, or nil when it may.
    @inline(__always)
    func tcpNewInvalidReason(flags: UInt16) -> ConntrackCounter? {
        typealias B = TCPBits
        if Self.tcpInvalidFlags(flags) { return .tcpBadFlags }
        if flags & (B.syn | B.ack) == B.syn | B.ack { return .tcpSynAckWithoutConnection }
        if !tcpLoose && flags & B.syn == 0 { return .tcpNoSYN }
        return nil
    }

    /// The window scale option of the header at `l4` (`headerLength` bytes):
    /// `wscaleFlag | min(shift, 14)`, or 0 when absent.
    static func tcpWindowScale(_ l4: UnsafeMutableRawPointer, headerLength: Int) -> UInt8 {
        var i = 20
        while i &+ 3 <= headerLength {
            let kind = l4.loadBE8(at: i)
            switch kind {
            case 0: return 0  // end of options
            case 1: i &+= 1   // no-op
            default:
                if kind == 3 { return min(l4.loadBE8(at: i &+ 2), TCPBits.maxWscale) | TCPBits.wscaleFlag }
                i &+= max(2, Int(l4.loadBE8(at: i &+ 1)))
            }
        }
        return 0
    }

    /// Sets up a new connection's peers from its first segment (OVS `tcp_new_conn`).
    func tcpNew(entry e: Int, l4: UnsafeMutableRawPointer, l4Length: Int, now: UInt64) {
        typealias B = TCPBits
        let flags = Self.tcpFlags(l4)
        let headerLength = Int(l4.loadBE8(at: 12) >> 4) &* 4
        let src = peers + 2 &* e
        let dst = src + 1
        src.pointee.seqlo = l4.loadBE32(at: 4)
        src.pointee.seqhi = src.pointee.seqlo &+ UInt32(truncatingIfNeeded: l4Length &- headerLength) &+ 1
        if flags & B.syn != 0 {
            src.pointee.seqhi &+= 1
            src.pointee.wscale = Self.tcpWindowScale(l4, headerLength: headerLength)
        } else {
            src.pointee.wscale = B.wscaleUnknown
            dst.pointee.wscale = B.wscaleUnknown
        }
        src.pointee.maxWin = max(UInt32(l4.loadBE16(at: 14)), 1)
        if src.pointee.wscale & B.wscaleMask != 0 {
            let sws = UInt32(src.pointee.wscale & B.wscaleMask)
            src.pointee.maxWin = (src.pointee.maxWin &+ (1 << sws) &- 1) >> sws
        }
        if flags & B.fin != 0 { src.pointee.seqhi &+= 1 }
        dst.pointee.seqhi = 1
        dst.pointee.maxWin = 1
        src.pointee.state = B.synSent
        dst.pointee.state = B.closed
        setTimeout(entry: e, .tcpSynSent, now: now)
    }

    /// A segment of existing connection `e` (OVS `tcp_conn_update`).
    func tcpUpdate(entry e: Int, reply: Bool, l4: UnsafeMutableRawPointer, l4Length: Int,
                   now: UInt64) -> ConntrackUpdate {
        typealias B = TCPBits
        let src = peers + (2 &* e &+ (reply ? 1 : 0))
        let dst = peers + (2 &* e &+ (reply ? 0 : 1))
        let flags = Self.tcpFlags(l4)
        let headerLength = Int(l4.loadBE8(at: 12) >> 4) &* 4
        let payload = UInt32(truncatingIfNeeded: l4Length &- headerLength)
        var win = UInt32(l4.loadBE16(at: 14))

        if Self.tcpInvalidFlags(flags) { return .invalid(.tcpBadFlags) }

        if flags & (B.syn | B.ack) == B.syn {
            if dst.pointee.state >= B.finWait2 && src.pointee.state >= B.finWait2 {
                return .recreate
            } else if src.pointee.state <= B.synSent {
                // A retransmitted SYN (or one from the responder first: simultaneous open).
                src.pointee.state = B.synSent
                setTimeout(entry: e, .tcpSynSent, now: now)
                return .validNew
            }
        }

        var sws: UInt32 = 0, dws: UInt32 = 0
        if src.pointee.wscale & B.wscaleFlag != 0 && dst.pointee.wscale & B.wscaleFlag != 0 && flags & B.syn == 0 {
            sws = UInt32(src.pointee.wscale & B.wscaleMask)
            dws = UInt32(dst.pointee.wscale & B.wscaleMask)
        } else if src.pointee.wscale & B.wscaleUnknown != 0 && dst.pointee.wscale & B.wscaleUnknown != 0
                    && flags & B.syn == 0 {
            sws = UInt32(B.maxWscale)
            dws = UInt32(B.maxWscale)
        }

        var seq = l4.loadBE32(at: 4)
        let originalSeq = seq
        var ack = l4.loadBE32(at: 8)
        var end = seq &+ payload
        var checkAckSkew = true
        if src.pointee.state < B.synSent {
            // The first segment from this side (the SYN|ACK, or mid-stream pickup).
            if flags & B.syn != 0 {
                end &+= 1
                if dst.pointee.wscale & B.wscaleFlag != 0 {
                    src.pointee.wscale = Self.tcpWindowScale(l4, headerLength: headerLength)
                    if src.pointee.wscale & B.wscaleFlag != 0 {
                        // Both sides scale: the SYN's own window is never scaled.
                        sws = UInt32(src.pointee.wscale & B.wscaleMask)
                        win = (win &+ (1 << sws) &- 1) >> sws
                        dws = UInt32(dst.pointee.wscale & B.wscaleMask)
                    } else {
                        // Only one side offered scaling: neither scales (RFC 7323 §2.2).
                        dst.pointee.maxWin <<= UInt32(dst.pointee.wscale & B.wscaleMask)
                        dst.pointee.wscale = 0
                    }
                }
            }
            if flags & B.fin != 0 { end &+= 1 }
            src.pointee.seqlo = seq
            src.pointee.state = B.synSent
            let span = max(1, dst.pointee.maxWin << dws)
            if src.pointee.seqhi == 1 || seqGEQ(end &+ span, src.pointee.seqhi) {
                src.pointee.seqhi = end &+ span
                checkAckSkew = false  // picking up: be lenient with the first ack
            }
            if win > src.pointee.maxWin { src.pointee.maxWin = win }
        } else {
            if flags & B.syn != 0 { end &+= 1 }
            if flags & B.fin != 0 { end &+= 1 }
        }

        if flags & B.ack == 0 {
            ack = dst.pointee.seqlo  // nothing acknowledged: passes the skew check
        } else if ack == 0 && flags & (B.ack | B.rst) == B.ack | B.rst {
            ack = dst.pointee.seqlo  // stacks that send RST|ACK with ack 0
        }
        if seq == end {
            // No data: ease the sequence check.
            seq = src.pointee.seqlo
            end = seq
        }

        let ackSkew: Int64 = checkAckSkew ? Int64(Int32(bitPattern: dst.pointee.seqlo &- ack)) : 0
        let rstOK = flags & B.rst == 0 || originalSeq == src.pointee.seqlo
            || originalSeq == src.pointee.seqlo &+ 1 || originalSeq &+ 1 == src.pointee.seqlo
        let inWindow = seqGEQ(src.pointee.seqhi, end)
            && seqGEQ(seq, src.pointee.seqlo &- (dst.pointee.maxWin << dws))
            && ackSkew >= -B.maxAckWindow
            && ackSkew <= B.maxAckWindow << Int64(sws)
            && rstOK

        if inWindow || !windowChecking || entries[e].flags & ConntrackEntry.liberal != 0 {
            if src.pointee.maxWin < win { src.pointee.maxWin = win }
            if seqGT(end, src.pointee.seqlo) { src.pointee.seqlo = end }
            let scaled = win << sws
            if seqGEQ(ack &+ scaled, dst.pointee.seqhi) { dst.pointee.seqhi = ack &+ max(scaled, 1) }
            if flags & B.syn != 0 && src.pointee.state < B.synSent { src.pointee.state = B.synSent }
            if flags & B.fin != 0 && src.pointee.state < B.closing { src.pointee.state = B.closing }
            if flags & B.ack != 0 {
                if dst.pointee.state == B.synSent {
                    dst.pointee.state = B.established
                } else if dst.pointee.state == B.closing {
                    dst.pointee.state = B.finWait2
                }
            }
            if flags & B.rst != 0 {
                src.pointee.state = B.timeWait
                dst.pointee.state = B.timeWait
            }
            let s = src.pointee.state, d = dst.pointee.state
            if s >= B.finWait2 && d >= B.finWait2 {
                setTimeout(entry: e, .tcpTimeWait, now: now)
            } else if s >= B.closing && d >= B.closing {
                setTimeout(entry: e, .tcpFinWait, now: now)
            } else if s < B.established || d < B.established {
                setTimeout(entry: e, .tcpSynReceived, now: now)
            } else if s >= B.closing || d >= B.closing {
                setTimeout(entry: e, .tcpFinWait, now: now)
            } else {
                setTimeout(entry: e, .tcpEstablished, now: now)
            }
            return .valid
        }

        let maxAck = UInt32(B.maxAckWindow)
        if (dst.pointee.state < B.synSent || dst.pointee.state >= B.finWait2 || src.pointee.state >= B.finWait2)
            && seqGEQ(src.pointee.seqhi &+ maxAck, end)
            && seqGEQ(seq, src.pointee.seqlo &- maxAck) {
            // pf's loose case (see the essay): let it through, do not refresh the timer.
            if src.pointee.maxWin < win { src.pointee.maxWin = win }
            if seqGT(end, src.pointee.seqlo) { src.pointee.seqlo = end }
            let scaled = win << sws
            if seqGEQ(ack &+ scaled, dst.pointee.seqhi) { dst.pointee.seqhi = ack &+ max(scaled, 1) }
            if flags & B.fin != 0 && src.pointee.state < B.closing { src.pointee.state = B.closing }
            if flags & B.rst != 0 {
                src.pointee.state = B.timeWait
                dst.pointee.state = B.timeWait
            }
            return .valid
        }
        return .invalid(.tcpOutOfWindow)
    }

    /// The two sides' states of TCP connection `e`.
    func tcpStates(entry e: Int) -> (TCPConnectionState, TCPConnectionState) {
        (TCPConnectionState(rawValue: peers[2 &* e].state) ?? .closed,
         TCPConnectionState(rawValue: peers[2 &* e &+ 1].state) ?? .closed)
    }
}
