// What the in-kernel fast path needs from the tracker (Sources/XDPDatapath/FastPath/
// Datapath+FastPathConnections.swift): a look at a connection that changes nothing, and
// crediting it with the packets the kernel carried for it.
//
// The fast path carries only packets whose verdict cannot change the connection: those of
// an established, untranslated connection — UDP (or another datagram protocol) once a
// reply was seen, TCP once both sides are ESTABLISHED, never a segment with SYN, FIN or
// RST (the program sends those here). Such a packet, tracked, would only have refreshed the
// timer and, for TCP, moved the window edges forward. The timer is refreshed by the credit
// (from the entry's last use in the kernel). The windows cannot be: the tracker does not
// see the sequence numbers the kernel forwarded. So, like netfilter's flowtable (which sets
// IP_CT_TCP_FLAG_BE_LIBERAL on a connection it offloads), a TCP connection taken by the fast
// path is tracked liberally from then on (`ConntrackEntry.liberal`): its segments that reach
// the tracker are not refused for being out of the window it last saw.
//
// A router's tracker (DatapathRouter+NAT.swift) is asked another question: the translated
// connection a packet belongs to (`fastPathTranslated`). The router translates every packet
// of such a connection the same way, replied or not, so a UDP connection's original
// direction may be carried before any reply (its reply direction only once one was seen,
// since the first reply changes the entry); TCP still only once both sides are
// ESTABLISHED. The credit refreshes the timer in the class the entry is in.
extension ConnectionTracker {
    /// The established, untranslated connection `key` (zone, family 4, protocol, addresses,
    /// ports) belongs to, at `now`: its entry, whether `key` is its reply direction, its mark
    /// and when it expires; nil when there is none or it is not (yet, or any more) one the
    /// fast path may carry. Changes nothing.
    func fastPathEstablished(_ key: ConntrackKey, now: UInt64)
        -> (entry: Int, reply: Bool, mark: UInt32, expiration: UInt64)? {
        guard let (e, reply, entry) = fastPathLookup(key, now: now),
              entry.flags & ConntrackEntry.seenReply != 0, entry.flags & ConntrackEntry.natMask == 0 else { return nil }
        return (e, reply, entry.mark, entry.expiration)
    }

    /// The translated connection `key` belongs to at `now` (a router's question, see the
    /// top): its entry, whether `key` is its reply direction, the tuple the packet leaves
    /// with (the other direction's key reversed) and when the connection expires; nil when
    /// there is none, it is untranslated, or it is not one the fast path may carry. Changes
    /// nothing.
    func fastPathTranslated(_ key: ConntrackKey, now: UInt64)
        -> (entry: Int, reply: Bool, translated: ConntrackKey, expiration: UInt64)? {
        guard key.proto == 6 || key.proto == 17, let (e, reply, entry) = fastPathLookup(key, now: now),
              entry.flags & ConntrackEntry.natMask != 0, !reply || entry.flags & ConntrackEntry.seenReply != 0 else { return nil }
        return (e, reply, (reply ? entry.original : entry.reply).reversed(), entry.expiration)
    }

    /// The live entry `key` finds at `now`, a TCP connection's only while both its sides are
    /// ESTABLISHED: its index, whether `key` is its reply direction, and the entry. Changes nothing.
    private func fastPathLookup(_ key: ConntrackKey, now: UInt64) -> (entry: Int, reply: Bool, value: ConntrackEntry)? {
        let found = lookup(key, hash: key.hash(seed: seed))
        guard found >= 0 else { return nil }
        let e = found >> 1
        let entry = entries[e]
        guard entry.flags & ConntrackEntry.inUse != 0, entry.expiration > now else { return nil }
        if key.proto == 6 {
            guard peers[2 &* e].state == TCPBits.established, peers[2 &* e &+ 1].state == TCPBits.established else { return nil }
        }
        return (e, found & 1 == 1, entry)
    }

    /// Whether `entry` still holds the connection `original`.
    func fastPathHolds(entry e: Int, original: ConntrackKey) -> Bool {
        e >= 0 && e < capacity && entries[e].flags & ConntrackEntry.inUse != 0 && entries[e].original == original
    }

    /// From now on `entry`'s TCP segments are not refused for their window (see the top).
    func trackLiberally(entry e: Int) {
        entries[e].flags |= ConntrackEntry.liberal
    }

    /// Refreshes the timer of `entry` (holding `original`) as a packet of it at `lastUsed`
    /// would have, when that is later than what the timer already counts from.
    func creditFastPath(entry e: Int, original: ConntrackKey, lastUsed: UInt64) {
        guard fastPathHolds(entry: e, original: original) else { return }
        let timeoutClass: ConntrackTimeoutClass = switch original.proto {
        case 6: .tcpEstablished
        case 17: entries[e].flags & ConntrackEntry.seenReply != 0 ? .udpMultiple : .udpFirst
        default: .otherMultiple
        }
        let refreshed = lastUsed &+ timeoutNanos[Int(timeoutClass.rawValue)]
        guard refreshed > entries[e].expiration, entries[e].timeoutClass == timeoutClass.rawValue else { return }
        setTimeout(entry: e, timeoutClass, now: lastUsed)
    }
}
