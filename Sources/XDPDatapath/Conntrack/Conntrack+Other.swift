// UDP and other protocols
// =======================
//
// Without a handshake to follow, a connection is the key (ports for UDP, SCTP,
// UDP-Lite and DCCP; the address pair for anything else: GRE, ESP, …) and a
// pseudo-state: +new until a packet is seen in the reply direction, +est after, as
// netfilter does (OVS calls a third unanswered packet established; we do not, so a
// security group's "reply allowed" rule never admits a one-way stream). Timeouts:
// `udpFirst`/`udpMultiple`, `otherFirst`/`otherMultiple`. Every packet is valid.

extension ConnectionTracker {
    /// A packet of existing connection `e`: refresh its timer on the class for its phase.
    func otherUpdate(entry e: Int, reply: Bool, now: UInt64, first: ConntrackTimeoutClass,
                     multiple: ConntrackTimeoutClass) {
        let both = reply || entries[e].flags & ConntrackEntry.seenReply != 0
        setTimeout(entry: e, both ? multiple : first, now: now)
    }
}
