import XDPPacket

// A DHCPv4 server for one network with static leases only: the reference design's `qdhcp-<network>`
// namespace (dnsmasq bound to `ns-…`, a hosts file, lease time 120 s, domain
// `openstacklocal`) as a datapath element.
//
// What it does, per frame it is given (`receive`, or `process` for a batch that still
// needs parsing):
//
// 1. Sanity, each failure counted by reason and the frame returned to the pool: a
//    well-formed frame (the parser's verdict), untagged (the bridge pops the access VLAN
//    before the server's port sees a frame), not a fragment, IPv4 UDP from port 68 to
//    port 67, to the server's MAC or broadcast and to a server address or 255.255.255.255,
//    correct IPv4 header checksum and UDP checksum (when present), a BOOTREQUEST on
//    Ethernet with the magic cookie, options whose lengths stay inside the message, and
//    an option 53. Relayed messages (`giaddr` set) are not served: the server sits on the
//    network's own segment, as Neutron's does.
// 2. The client is `chaddr`, looked up in a hash table of the static leases
//    (`DHCPLeaseTable`: open addressing, plain memory, rebuilt whole by `updateHosts`).
//    Unknown clients get no answer (counted), as dnsmasq without a dynamic range behaves.
// 3. The answer (RFC 2131 §4.3):
//    - DHCPDISCOVER → DHCPOFFER of the host's fixed address.
//    - DHCPREQUEST, told apart by its fields (§4.3.2): SELECTING (option 54 present) —
//      another server's identifier means the client took that server's offer: silence;
//      ours with the host's address → DHCPACK, another address → DHCPNAK.
//      INIT-REBOOT (option 50, no 54) and RENEWING/REBINDING (`ciaddr`, no 50 or 54):
//      the host's address → DHCPACK, another → DHCPNAK.
//    - DHCPINFORM → DHCPACK without `yiaddr` and without lease options (§4.3.5).
//    - DHCPRELEASE, DHCPDECLINE: counted, no answer (leases are static: nothing to free,
//      and there is no other address to offer).
//    Replies carry the options encoded once per host when the server is built
//    (`DHCPOptionBlock`), the client identifier echoed (RFC 6842) when it fits, and are
//    padded to the 300-byte BOOTP minimum. They go (§4.1) broadcast for a DHCPNAK or when
//    the client set the broadcast flag, to `ciaddr` when the client has an address, and
//    otherwise unicast to `yiaddr` at `chaddr` (the client accepts it before it
//    configures the address).
// 4. ARP requests for one of the server's addresses are answered in place, so renewing
//    clients can unicast to the server (the namespace's kernel did that for dnsmasq).
//
// Frames: the server takes every frame it is given. A request ends back in the pool
// (dropped or answered); a reply is built into a new frame from the same pool and appended
// to `txQueue`, which whoever serves the server's port drains. ARP answers reuse the
// request's frame. `pool.freeCount + txQueue.count` stays constant across calls.
//
// Threads: one worker owns a server (and its pool); no locks, no clock. The per-packet
// path allocates nothing, takes no locks and never throws: the host table, the option
// blocks and the counters are plain memory allocated in `init`.

/// What the per-packet path reads of a static lease.
@frozen
@usableFromInline
struct DHCPHostEntry {
    /// The host's fixed address (host order).
    @usableFromInline let address: UInt32
    /// The server's address on the host's subnet: reply source and option 54.
    @usableFromInline let serverAddress: UInt32
    /// Where the host's encoded options start in `DHCPResponder.options`, and their length.
    @usableFromInline let optionsOffset: Int
    @usableFromInline let optionsLength: Int
    /// The lease options (51/58/59) inside them, skipped for a DHCPINFORM.
    @usableFromInline let leaseStart: Int
    @usableFromInline let leaseLength: Int
    /// False when the host's subnet has DHCP disabled.
    @usableFromInline let enabled: Bool
}

/// A DHCPv4 server with static leases for one network: dnsmasq in the reference design's `qdhcp-`
/// namespace. See the essay at the top of `DHCPResponder.swift`.
///
/// ```swift
/// let server = try DHCPResponder(configuration: net1, pool: pool)
/// server.process(batch)                  // frames the bridge delivered to the server's port
/// send(server.txQueue); server.txQueue.removeAll()
/// ```
public final class DHCPResponder {
    /// Most subnets one network's server serves.
    public static let maximumSubnets = 16
    /// Bytes of per-host options a reply may carry: a 576-byte IPv4 datagram (what every
    /// client must accept, RFC 2131 §2) less IPv4, UDP, the fixed BOOTP header, the cookie,
    /// option 53 and the end option.
    public static let optionBudget = 576 - 20 - 8 - BOOTPLayout.options - 3 - 1
    /// Largest frame a reply takes: Ethernet, IPv4, UDP and a 548-byte DHCP message.
    public static let maximumReplyFrame = 14 + 576

    /// What the server was built from (with the hosts of the last `updateHosts`).
    public private(set) var configuration: DHCPConfiguration
    /// The network's name.
    public let network: String
    /// The pool every frame given to (or built by) the server belongs to.
    public let pool: FramePool
    /// Frames the server wants sent out of its port. Whoever serves the port owns them once
    /// a server call returns and must empty the queue (`removeAll`) after taking them.
    public let txQueue: PacketBatch

    @usableFromInline let mac: UInt64
    /// Whether the pool's frames hold a reply.
    @usableFromInline let canReply: Bool
    @usableFromInline let tx: BatchStorage
    /// The server's address on each subnet (host order), `subnetCount` of them.
    @usableFromInline let serverAddresses: UnsafeMutablePointer<UInt32>
    @usableFromInline let subnetCount: Int
    /// The static leases as the per-packet path reads them: swapped whole by `updateHosts`.
    @usableFromInline let table: UnsafeMutablePointer<DHCPLeaseTable>
    /// `DHCPEvent` slots, then one per `DHCPDropReason`.
    @usableFromInline let counters: UnsafeMutablePointer<UInt64>

    @usableFromInline static let eventSlots = DHCPEvent.count

    /// A server from `configuration` (validated here), taking frames from `pool`. A pool
    /// whose frames cannot hold `maximumReplyFrame` bytes after the headroom gets no
    /// replies (each counted `noBuffer`): configuration checks build datapaths over tiny pools.
    public init(configuration: DHCPConfiguration, pool: FramePool, txQueueCapacity: Int = 256) throws(DatapathConfigurationError) {
        try configuration.validate()
        canReply = pool.frameSize - pool.headroom >= Self.maximumReplyFrame
        self.configuration = configuration
        network = configuration.network
        self.pool = pool
        txQueue = PacketBatch(capacity: txQueueCapacity)
        tx = txQueue.storage
        mac = configuration.mac.rawValue

        subnetCount = configuration.subnets.count
        serverAddresses = .allocate(capacity: subnetCount)
        for (i, subnet) in configuration.subnets.enumerated() { (serverAddresses + i).initialize(to: subnet.serverAddress.rawValue) }

        table = .allocate(capacity: 1)
        table.initialize(to: DHCPLeaseTable(configuration))

        let counterCount = Self.eventSlots + DHCPDropReason.allCases.count
        counters = .allocate(capacity: counterCount)
        counters.initialize(repeating: 0, count: counterCount)
    }

    deinit {
        serverAddresses.deallocate()
        table.pointee.deallocate()
        table.deallocate()
        counters.deallocate()
    }

    // MARK: Entry points

    /// Serves every frame of `batch`, received on the server's port, and empties the batch.
    /// Parses each frame once; use `receive` when the metadata is already known.
    @inlinable
    public func process(_ batch: PacketBatch) {
        let storage = batch.storage
        let n = storage.countPointer.pointee
        var meta = PacketMetadata()
        var i = 0
        while i < n {
            let address = storage.addresses[i]
            let length = storage.lengths[i]
            PacketParser.parse(pool.pointer(address), length: Int(length), into: &meta)
            receive(address: address, length: length, meta: meta)
            i &+= 1  // < n
        }
        storage.countPointer.pointee = 0
    }

    /// Serves one frame received on the server's port: `address` and `length` name the
    /// frame's data in `pool`, `meta` is what `PacketParser.parse` found in it. The server
    /// owns the frame from here on.
    @inlinable
    public func receive(address: UInt64, length: UInt32, meta: PacketMetadata) {
        count(.received)
        guard meta.error == .none else { drop(address, DHCPDropReason(meta.error) ?? .badFrame); return }
        guard meta.vlanCount == 0 else { drop(address, .vlanTagged); return }
        let frame = pool.pointer(address)
        if meta.flags.contains(.arp) {
            receiveARP(address: address, length: length, frame: frame, meta: meta)
            return
        }
        guard meta.flags.contains(.ipv4) else { drop(address, .notDHCP); return }
        guard !meta.flags.contains(.fragment) else { drop(address, .fragment); return }
        guard meta.flags.contains(.udp), meta.tpDst == BOOTPLayout.serverPort, meta.tpSrc == BOOTPLayout.clientPort else {
            drop(address, .notDHCP)
            return
        }
        guard meta.dlDst == mac || meta.dlDst == MACAddress.broadcast.rawValue,
              meta.nwDst == UInt32.max || isServerAddress(meta.nwDst) else {
            drop(address, .notForServer)
            return
        }
        let ip = frame + Int(meta.l3Offset)
        let headerLength = Int(ip.loadBE8(at: 0) & 0x0F) &* 4  // the parser checked 20...60 within the frame
        guard Checksum.verifyIPv4Header(ip, headerLength: headerLength) else { drop(address, .badIPv4Checksum); return }
        let udp = frame + Int(meta.l4Offset)
        let udpLength = Int(udp.loadBE16(at: 4))  // the parser checked 8...(IPv4 payload)
        if udp.loadBE16(at: 6) != 0 {
            let pseudo = Checksum.pseudoHeaderSum(source: IPv4Address(rawValue: meta.nwSrc), destination: IPv4Address(rawValue: meta.nwDst),
                                                  protocol: .udp, length: udpLength)
            guard Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: udp, length: udpLength) else {
                drop(address, .badUDPChecksum)
                return
            }
        }
        serve(address: address, message: udp + UDPHeader.minimumLength, length: udpLength &- UDPHeader.minimumLength)
    }

    /// Checks the BOOTP header and options of the `length`-byte message at `m` and answers it.
    @inlinable
    func serve(address: UInt64, message m: UnsafeMutableRawPointer, length: Int) {
        guard length >= BOOTPLayout.options else { drop(address, .truncatedMessage); return }
        guard m.loadBE8(at: BOOTPLayout.op) == 1 else { drop(address, .notBootRequest); return }
        guard m.loadBE8(at: BOOTPLayout.htype) == 1, m.loadBE8(at: BOOTPLayout.hlen) == 6 else {
            drop(address, .badHardwareType)
            return
        }
        guard m.loadBE32(at: BOOTPLayout.cookie) == BOOTPLayout.magicCookie else { drop(address, .badMagicCookie); return }
        var parsed = DHCPRequestOptions()
        guard parsed.parse(m, length: length) else { drop(address, .badOption); return }
        guard parsed.messageType != 0 else { drop(address, .missingMessageType); return }
        guard m.loadBE32(at: BOOTPLayout.giaddr) == 0 else { drop(address, .relayed); return }
        let client = m.loadBE48(at: BOOTPLayout.chaddr)
        let type = parsed.messageType
        guard type == DHCPMessageType.discover.rawValue || type == DHCPMessageType.request.rawValue
            || type == DHCPMessageType.decline.rawValue || type == DHCPMessageType.release.rawValue
            || type == DHCPMessageType.inform.rawValue else {
            drop(address, .unexpectedMessageType)
            return
        }
        let leases = table.pointee
        let index = leases.index(of: client)
        guard index >= 0 else { drop(address, .unknownClient); return }
        let host = leases.hosts[index]
        guard host.enabled else { drop(address, .dhcpDisabled); return }
        let ciaddr = m.loadBE32(at: BOOTPLayout.ciaddr)
        switch type {
        case DHCPMessageType.discover.rawValue:
            count(.discovers)
            reply(.offer, to: m, host: host, yiaddr: host.address, ciaddr: 0, options: parsed)
        case DHCPMessageType.request.rawValue:
            count(.requests)
            let wanted: UInt32
            if parsed.hasServerIdentifier {  // SELECTING
                guard parsed.serverIdentifier == host.serverAddress else { drop(address, .otherServer); return }
                guard parsed.hasRequestedAddress else { drop(address, .badRequest); return }
                wanted = parsed.requestedAddress
            } else if parsed.hasRequestedAddress {  // INIT-REBOOT
                wanted = parsed.requestedAddress
            } else if ciaddr != 0 {  // RENEWING (unicast) or REBINDING (broadcast)
                wanted = ciaddr
            } else {
                drop(address, .badRequest)
                return
            }
            if wanted == host.address {
                reply(.ack, to: m, host: host, yiaddr: host.address, ciaddr: ciaddr, options: parsed)
            } else {
                reply(.nak, to: m, host: host, yiaddr: 0, ciaddr: 0, options: parsed)
            }
        case DHCPMessageType.inform.rawValue:
            count(.informs)
            reply(.ack, to: m, host: host, yiaddr: 0, ciaddr: ciaddr, options: parsed, inform: true)
        case DHCPMessageType.release.rawValue:
            count(.releases)
        default:
            count(.declines)
        }
        pool.free(address)  // answered (the reply is a new frame) or consumed
    }

    // MARK: Helpers

    /// True when `address` (host order) is the server's address on one of its subnets.
    @inlinable
    func isServerAddress(_ address: UInt32) -> Bool {
        var i = 0
        while i < subnetCount {
            if serverAddresses[i] == address { return true }
            i &+= 1  // < subnetCount
        }
        return false
    }

    /// Replaces the static leases (Neutron's agent rewriting dnsmasq's hosts file when a
    /// port is created, updated or deleted), keeping subnets, options and counters. Call it
    /// between batches, on the thread that owns the responder. On a refusal nothing changes.
    public func updateHosts(_ hosts: [DHCPConfiguration.Host]) throws(DatapathConfigurationError) {
        var candidate = configuration
        candidate.hosts = hosts
        try candidate.validate()
        let old = table.pointee
        table.pointee = DHCPLeaseTable(candidate)
        old.deallocate()
        configuration = candidate
    }

    /// Counts `reason` and returns the frame to the pool.
    @inlinable
    func drop(_ address: UInt64, _ reason: DHCPDropReason) {
        counters[Self.eventSlots &+ reason.rawValue] &+= 1
        pool.free(address)
    }

    @inlinable
    func count(_ event: DHCPEvent) { counters[event.rawValue] &+= 1 }

    /// Appends a finished frame to `txQueue`.
    @inlinable
    func enqueue(address: UInt64, length: UInt32) {
        guard tx.append(address: address, length: length) else { drop(address, .txQueueFull); return }
        count(.sent)
    }

    // MARK: Inspection

    /// Counters at this moment.
    public var stats: DHCPStats {
        var drops: [DHCPDropReason: UInt64] = [:]
        for reason in DHCPDropReason.allCases where counters[Self.eventSlots + reason.rawValue] != 0 {
            drops[reason] = counters[Self.eventSlots + reason.rawValue]
        }
        func event(_ e: DHCPEvent) -> UInt64 { counters[e.rawValue] }
        return DHCPStats(received: event(.received), discovers: event(.discovers), requests: event(.requests),
                         declines: event(.declines), releases: event(.releases), informs: event(.informs),
                         offers: event(.offers), acks: event(.acks), naks: event(.naks),
                         arpReplies: event(.arpReplies), sent: event(.sent), drops: drops)
    }

    /// The static lease of `mac`: the address it gets, nil when the server does not know it.
    public func lease(for mac: MACAddress) -> IPv4Address? {
        let leases = table.pointee
        let i = leases.index(of: mac.rawValue)
        return i < 0 ? nil : IPv4Address(rawValue: leases.hosts[i].address)
    }
}

/// The static leases in plain memory: an open-addressing table of MACs (at most half
/// full, so an empty slot ends every probe), the hosts' entries, and their encoded options
/// back to back. Built whole from a validated configuration; freed by its owner.
@frozen
@usableFromInline
struct DHCPLeaseTable {
    /// MACs (0: empty slot) and indexes into `hosts`.
    @usableFromInline let slotKeys: UnsafeMutablePointer<UInt64>
    @usableFromInline let slotHosts: UnsafeMutablePointer<Int32>
    @usableFromInline let slotMask: Int
    @usableFromInline let slotShift: UInt64
    @usableFromInline let hosts: UnsafeMutablePointer<DHCPHostEntry>
    @usableFromInline let hostCount: Int
    /// Every host's encoded options, back to back.
    @usableFromInline let options: UnsafeMutablePointer<UInt8>

    /// The leases of a validated `configuration`.
    init(_ configuration: DHCPConfiguration) {
        var blob: [UInt8] = []
        var entries: [DHCPHostEntry] = []
        for host in configuration.hosts {
            let s = configuration.subnetIndex(of: host.address)!  // validated
            let block = DHCPOptionBlock.build(configuration: configuration, subnet: s, host: host)
            entries.append(DHCPHostEntry(address: host.address.rawValue,
                                         serverAddress: configuration.subnets[s].serverAddress.rawValue,
                                         optionsOffset: blob.count, optionsLength: block.bytes.count,
                                         leaseStart: block.leaseStart, leaseLength: block.leaseLength,
                                         enabled: configuration.subnets[s].enableDHCP))
            blob += block.bytes
        }
        hostCount = entries.count
        hosts = .allocate(capacity: max(entries.count, 1))
        hosts.initialize(from: entries, count: entries.count)
        options = .allocate(capacity: max(blob.count, 1))
        options.initialize(from: blob, count: blob.count)
        var slots = 8
        while slots < entries.count * 2 { slots <<= 1 }
        slotMask = slots - 1
        slotShift = UInt64(64 - slots.trailingZeroBitCount)
        slotKeys = .allocate(capacity: slots)
        slotKeys.initialize(repeating: 0, count: slots)
        slotHosts = .allocate(capacity: slots)
        slotHosts.initialize(repeating: -1, count: slots)
        for (i, host) in configuration.hosts.enumerated() {
            var slot = Self.slot(host.mac.rawValue, shift: slotShift)
            while slotKeys[slot] != 0 { slot = (slot + 1) & slotMask }  // MACs are unique and non-zero (validated)
            slotKeys[slot] = host.mac.rawValue
            slotHosts[slot] = Int32(i)
        }
    }

    /// Frees the memory (the owner calls it once).
    func deallocate() {
        hosts.deallocate()
        options.deallocate()
        slotKeys.deallocate()
        slotHosts.deallocate()
    }

    @inlinable @inline(__always)
    static func slot(_ mac: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (mac &* 0x9E37_79B9_7F4A_7C15) >> shift)  // Fibonacci hashing: top bits
    }

    /// The index in `hosts` of the static lease for `mac`, -1 for none.
    @inlinable
    func index(of mac: UInt64) -> Int {
        guard mac != 0 else { return -1 }
        var slot = Self.slot(mac, shift: slotShift)
        while true {
            let key = slotKeys[slot]
            if key == mac { return Int(slotHosts[slot]) }
            if key == 0 { return -1 }  // the table is at most half full: an empty slot always ends the probe
            slot = (slot &+ 1) & slotMask
        }
    }
}

/// What the server reads from a request's options: one pass, bounds checked.
@frozen
@usableFromInline
struct DHCPRequestOptions {
    /// Option 53's value, 0 when absent.
    @usableFromInline var messageType: UInt8 = 0
    @usableFromInline var hasRequestedAddress = false
    @usableFromInline var requestedAddress: UInt32 = 0
    @usableFromInline var hasServerIdentifier = false
    @usableFromInline var serverIdentifier: UInt32 = 0
    /// Option 61 as it stands in the request (code, length, data), to echo; length 0: absent.
    @usableFromInline var clientIDOffset = 0
    @usableFromInline var clientIDLength = 0

    @inlinable init() {}

    /// Walks the options of the `length`-byte message at `m` up to the end option or the
    /// message's end. False when an option runs past the end or options 50, 53 or 54 have
    /// the wrong length. Options in `sname`/`file` (option 52) are not read.
    @inlinable
    mutating func parse(_ m: UnsafeMutableRawPointer, length: Int) -> Bool {
        var i = BOOTPLayout.options
        while i < length {
            let code = m.loadBE8(at: i)
            if code == DHCPOption.pad.rawValue { i &+= 1; continue }  // < length
            if code == DHCPOption.end.rawValue { return true }
            guard i &+ 1 < length else { return false }
            let size = Int(m.loadBE8(at: i &+ 1))
            let data = i &+ 2
            guard data &+ size <= length else { return false }
            switch code {
            case DHCPOption.messageType.rawValue:
                guard size == 1 else { return false }
                messageType = m.loadBE8(at: data)
                guard messageType != 0 else { return false }
            case DHCPOption.requestedAddress.rawValue:
                guard size == 4 else { return false }
                hasRequestedAddress = true
                requestedAddress = m.loadBE32(at: data)
            case DHCPOption.serverIdentifier.rawValue:
                guard size == 4 else { return false }
                hasServerIdentifier = true
                serverIdentifier = m.loadBE32(at: data)
            case DHCPOption.clientIdentifier.rawValue:
                clientIDOffset = i
                clientIDLength = size &+ 2
            default:
                break
            }
            i = data &+ size  // ≤ length checked above
        }
        return true  // no end option: tolerated, as most servers do
    }
}
