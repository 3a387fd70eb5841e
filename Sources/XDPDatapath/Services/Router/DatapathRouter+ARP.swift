#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// ARP for a router interface: the responder, neighbour learning, and the frames that wait
// for a next hop. The same model as the underlay's (docs/tunnels.md, "ARP and
// neighbours"), per router and per interface:
//
// - A request for the receiving interface's address is answered in place: a unicast
//   reply from the interface's MAC to the asker, padded to 60 bytes. Requests for other
//   addresses (even the router's address on another interface, Linux `arp_ignore=1`
//   style) are not answered: a tenant network never learns the external side's MACs.
// - Any ARP addressed to the interface's address teaches its sender when the sender is on
//   the interface's subnet (RFC 826: the receiver of a request learns the asker). A sender
//   already known is updated by any ARP from it, whoever it is for (RFC 826's merge: a
//   gratuitous ARP after a move). Strangers' ARP for other addresses teaches nothing.
// - What the router did not ask for fills at most half the table: a sender the router is
//   resolving (frames wait for it) may take any free slot, anyone else only while fewer
//   than half the slots are used. A tenant flooding the router with ARP from made-up
//   on-link addresses (neighbours are never aged out) therefore cannot keep it from
//   resolving the hosts it forwards to: those are always asked for. (Linux bounds the
//   same flood with its neighbour garbage collector.)
// - A sender claiming the interface's own address is a conflict: dropped, never learned,
//   never answered. A probe (sender 0.0.0.0, RFC 5227) is answered, not learned.
// - A learned neighbour releases the frames waiting for it, in order.
// - The first frame for an unknown next hop sends an ARP request; `service(now:)`
//   repeats it every `arpRetransmitInterval` and, after `arpMaximumRequests`, drops the
//   waiting frames with ICMP host unreachable. Waiting is bounded per next hop and in all.
//
// All of this is cold (`@inline(never)`): the per-packet path is one probe of the
// neighbour table. The waiting queues are the only allocations the router makes.
extension DatapathRouter {
    @inline(never)
    @usableFromInline
    func receiveARP(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata,
                    on interface: Int, now: UInt64) {
        let input = fast[interface]
        guard meta.dlDst == input.mac || meta.dlDst == MACAddress.broadcast.rawValue else {
            drop(address, .notForRouterMAC)
            return
        }
        let l3 = Int(meta.l3Offset)
        let arp = ARPHeader(frame + l3)
        let senderMAC = arp.senderHardwareAddress.rawValue
        let sender = meta.nwSrc
        // The interface's address, or a floating IP the gateway interface answers for.
        let ours = meta.nwDst != input.address && answersARP(for: meta.nwDst, on: interface) ? meta.nwDst : input.address
        guard sender != ours, sender != input.address else { drop(address, .arpAddressConflict); return }
        let validMAC = ARPResponder.isValidSender(senderMAC)
        let onLink = validMAC && sender != 0 && sender & input.mask == input.network
        if onLink, meta.nwDst != ours, neighbours.lookup(sender) != nil {
            _ = neighbours.set(sender, mac: senderMAC)  // merge: known, so it fits
        }
        guard meta.nwDst == ours else { drop(address, .arpNotForUs); return }
        guard validMAC else { drop(address, .badARP); return }  // a multicast or zero sender MAC
        if onLink { learn(sender, mac: senderMAC, askedFor: state.pointee.pendingTotal > 0 && pending[sender] != nil) }
        let operation = meta.tpSrc
        guard operation == ARPOperation.request.rawValue else {
            guard operation == ARPOperation.reply.rawValue else { drop(address, .badARP); return }
            count(.arpRepliesReceived)
            pool.free(address)  // consumed: learned what there was to learn
            return
        }
        let replyLength = ARPResponder.answerInPlace(frame, length: length, l3: l3, senderMAC: senderMAC, senderIP: sender,
                                                     mac: input.mac, address: ours)
        count(.arpRepliesSent)
        enqueue(address: address, length: replyLength, out: interface)
    }

    /// Adds or updates a neighbour and releases the frames waiting for it. A new neighbour
    /// the router is not resolving (`askedFor` false) is added only while the table is
    /// less than half full (see the top).
    @inline(never)
    @usableFromInline
    func learn(_ neighbour: UInt32, mac: UInt64, askedFor: Bool) {
        switch neighbours.learn(neighbour, mac: mac, askedFor: askedFor) {
        case .full: count(.neighbourTableFull); return
        case .added: count(.neighboursLearned)
        case .updated: break
        }
        guard state.pointee.pendingTotal > 0, let hop = pending.removeValue(forKey: neighbour) else { return }
        state.pointee.pendingTotal &-= hop.frames.count  // they were counted in when queued
        for waiting in hop.frames {
            pool.pointer(waiting.address).storeBE48(mac, at: 0)
            enqueue(address: waiting.address, length: waiting.length, out: hop.interface)
        }
    }

    /// Parks a frame (source MAC already written) until `nextHop` is resolved.
    @inline(never)
    @usableFromInline
    func waitForNeighbour(_ nextHop: UInt32, address: UInt64, length: UInt32, out: Int, now: UInt64) {
        var hop = pending[nextHop] ?? PendingHop(interface: out)
        guard hop.frames.count < pendingLimit, state.pointee.pendingTotal < pendingTotalLimit else {
            drop(address, .pendingFull)
            return
        }
        hop.frames.append((address, length))
        state.pointee.pendingTotal &+= 1  // < pendingTotalLimit
        if hop.requests == 0 {
            hop.requests = 1
            hop.lastRequest = now
            sendARPRequest(for: nextHop, out: out)
            state.pointee.nextServiceTime = min(state.pointee.nextServiceTime, now &+ arpInterval)
        }
        pending[nextHop] = hop
    }

    /// Broadcasts "who has `target`, tell <interface address>" out of interface `out`.
    @inline(never)
    @usableFromInline
    func sendARPRequest(for target: UInt32, out: Int) {
        guard let start = pool.allocate() else { counters[Self.eventSlots &+ RouterDropReason.noBuffer.rawValue] &+= 1; return }
        let address = start &+ UInt64(pool.headroom)
        let p = pool.pointer(address)
        let o = fast[out]
        let requestLength = ARPResponder.writeRequest(p, mac: o.mac, address: o.address, target: target)
        count(.arpRequestsSent)
        enqueue(address: address, length: requestLength, out: out)
    }

    /// Runs the ARP timers due at `now`: repeats requests for next hops still unanswered
    /// after `arpRetransmitInterval` and gives up on those asked `arpMaximumRequests`
    /// times (their frames dropped, each answered with ICMP host unreachable). `receive`
    /// and `process` call it when a deadline has passed; call it from an idle loop too
    /// so waiting frames are released without traffic.
    ///
    /// Every deadline that passed by `now` runs, in order, as if the router had been
    /// called at each one: after an idle gap (or a jump between a replay's timestamps)
    /// the retransmissions that fell in the gap are sent and, when the give-up deadline
    /// passed too, the waiting frames are dropped in this call, not one step per call.
    /// The schedule stays on its grid (the next deadline is the last request's time plus
    /// the interval, not `now` plus it), so the outcome does not depend on how often
    /// the caller ticks. At most `arpMaximumRequests` requests per next hop come out of
    /// one call.
    @inline(never)
    public func service(now instant: DatapathInstant) {
        let now = instant.nanoseconds
        var next = UInt64.max
        var expired: [UInt32] = []
        // In address order, not the dictionary's (seeded per process): a replay sends the
        // same requests in the same order every run.
        for hop in pending.keys.sorted() {
            guard var waiting = pending[hop] else { continue }
            var due = waiting.lastRequest &+ arpInterval
            guard now >= due else { next = min(next, due); continue }
            while now >= due && waiting.requests < arpMaximumRequests {
                waiting.requests &+= 1
                waiting.lastRequest = due
                sendARPRequest(for: hop, out: waiting.interface)
                due = waiting.lastRequest &+ arpInterval
            }
            if now >= due {  // asked arpMaximumRequests times and the last one's wait is over
                expired.append(hop)
                continue
            }
            pending[hop] = waiting
            next = min(next, due)
        }
        state.pointee.nextServiceTime = next
        for hop in expired {
            guard let waiting = pending.removeValue(forKey: hop) else { continue }
            state.pointee.pendingTotal &-= waiting.frames.count
            for frame in waiting.frames {
                var meta = PacketMetadata()
                let p = pool.pointer(frame.address)
                if PacketParser.parse(p, length: Int(frame.length), into: &meta), meta.flags.contains(.ipv4) {
                    sendError(about: p, meta: meta, type: 3, code: ICMPType.Code.hostUnreachable, now: now)
                }
                drop(frame.address, .neighbourUnreachable)
            }
        }
    }
}
