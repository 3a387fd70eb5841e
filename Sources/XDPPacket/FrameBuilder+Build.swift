/// Serialization of a `FrameBuilder` stack: innermost layer first, so each header knows
/// the length of what it encloses and can checksum it.
extension FrameBuilder {
    /// The frame's bytes.
    public func build() -> [UInt8] {
        serialize(from: 0)
    }

    /// Writes the frame into `buffer` and returns its length, or nil (writing nothing)
    /// when the buffer is too small.
    public func build(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let bytes = build()
        guard bytes.count <= buffer.count else { return nil }
        buffer.copyBytes(from: bytes)
        return bytes.count
    }

    /// A broadcast ARP request "who has `targetIP`, tell `senderIP`" (RFC 826).
    public static func arpRequest(senderMAC: MACAddress, senderIP: IPv4Address, targetIP: IPv4Address) -> [UInt8] {
        FrameBuilder()
            .ethernet(source: senderMAC, destination: .broadcast)
            .arp(operation: .request, senderMAC: senderMAC, senderIP: senderIP, targetMAC: .zero, targetIP: targetIP)
            .build()
    }

    /// A unicast ARP reply "`senderIP` is at `senderMAC`" to the asker.
    public static func arpReply(senderMAC: MACAddress, senderIP: IPv4Address,
                                targetMAC: MACAddress, targetIP: IPv4Address) -> [UInt8] {
        FrameBuilder()
            .ethernet(source: senderMAC, destination: targetMAC)
            .arp(operation: .reply, senderMAC: senderMAC, senderIP: senderIP, targetMAC: targetMAC, targetIP: targetIP)
            .build()
    }

    // MARK: Type inference

    /// The type field value a layer announces for the layer at `index`.
    func etherType(announcing index: Int) -> EtherType {
        guard index < layers.count else { return EtherType(rawValue: 0) }
        switch layers[index] {
        case .vlan(let tpid, _, _): return tpid
        case .ipv4: return .ipv4
        case .ipv6: return .ipv6
        case .arp: return .arp
        case .ethernet: return .transparentEthernetBridging
        default: return EtherType(rawValue: 0)
        }
    }

    func ipProtocol(announcing index: Int) -> IPProtocol {
        guard index < layers.count else { return IPProtocol(rawValue: 0) }
        switch layers[index] {
        case .tcp: return .tcp
        case .udp: return .udp
        case .icmp: return .icmp
        case .icmpv6: return .icmpv6
        case .gre: return .gre
        case .ipv4: return .ipv4
        case .ipv6: return .ipv6
        default: return IPProtocol(rawValue: 0)
        }
    }

    /// The nearest IP layer outside `index`, for pseudo-header checksums.
    func enclosingIP(of index: Int) -> Layer? {
        for i in stride(from: index - 1, through: 0, by: -1) {
            switch layers[i] {
            case .ipv4, .ipv6: return layers[i]
            default: continue
            }
        }
        return nil
    }

    /// Sets the 16-bit big-endian value at `offset` of `bytes`.
    func put16(_ value: UInt16, _ bytes: inout [UInt8], at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    /// The pseudo-header sum for an L4 segment of `length` bytes at layer `index`.
    func pseudoHeaderSum(for index: Int, protocol proto: IPProtocol, length: Int) -> UInt16? {
        switch enclosingIP(of: index) {
        case .ipv4(let f)?:
            return Checksum.pseudoHeaderSum(source: f.source, destination: f.destination, protocol: proto, length: length)
        case .ipv6(let f)?:
            return Checksum.pseudoHeaderSum(source: f.source, destination: f.destination, nextHeader: proto, length: length)
        default:
            return nil
        }
    }

    /// Writes the transport checksum at `offset` of `bytes` (the whole segment).
    func fillTransportChecksum(_ bytes: inout [UInt8], index: Int, protocol proto: IPProtocol,
                               at offset: Int, udpZeroRule: Bool) {
        guard let pseudo = pseudoHeaderSum(for: index, protocol: proto, length: bytes.count) else { return }
        var c = bytes.withUnsafeBytes {
            Checksum.transport(pseudoHeaderSum: pseudo, segment: $0.baseAddress!, length: $0.count, checksumOffset: offset)
        }
        if udpZeroRule && c == 0 { c = 0xFFFF }
        put16(c, &bytes, at: offset)
    }

    static func padded(_ options: [UInt8]) -> [UInt8] {
        options + [UInt8](repeating: 0, count: (4 - options.count % 4) % 4)
    }

    // MARK: Serialization

    func serialize(from index: Int) -> [UInt8] {
        guard index < layers.count else { return [] }
        let inner = serialize(from: index + 1)
        var header: [UInt8]
        switch layers[index] {
        case .ethernet(let destination, let source, let type):
            header = [UInt8](repeating: 0, count: 14)
            header.withUnsafeMutableBytes { raw in
                let eth = EthernetHeader(raw.baseAddress!)
                eth.destination = destination
                eth.source = source
                eth.etherType = type ?? etherType(announcing: index + 1)
            }
            return header + inner

        case .vlan(_, let tci, let type):
            header = [UInt8](repeating: 0, count: 4)
            header.withUnsafeMutableBytes { raw in
                let tag = VLANTag(raw.baseAddress!)
                tag.tci = tci
                tag.encapsulatedType = type ?? etherType(announcing: index + 1)
            }
            return header + inner

        case .arp(let operation, let senderMAC, let senderIP, let targetMAC, let targetIP):
            header = [UInt8](repeating: 0, count: 28)
            header.withUnsafeMutableBytes { raw in
                let arp = ARPHeader(raw.baseAddress!)
                arp.hardwareType = 1
                arp.protocolType = .ipv4
                arp.hardwareLength = 6
                arp.protocolLength = 4
                arp.operation = operation
                arp.senderHardwareAddress = senderMAC
                arp.senderProtocolAddress = senderIP
                arp.targetHardwareAddress = targetMAC
                arp.targetProtocolAddress = targetIP
            }
            return header + inner

        case .ipv4(let f):
            let options = FrameBuilder.padded(f.options)
            let headerLength = 20 + options.count
            precondition(headerLength + inner.count <= 0xFFFF, "IPv4 packet longer than 65535 bytes")
            header = [UInt8](repeating: 0, count: 20) + options
            header.withUnsafeMutableBytes { raw in
                let ip = IPv4Header(raw.baseAddress!)
                ip.version = 4
                ip.ihl = UInt8(headerLength / 4)
                ip.tos = f.tos
                ip.totalLength = UInt16(headerLength + inner.count)
                ip.identification = f.identification
                ip.dontFragment = f.dontFragment
                ip.moreFragments = f.moreFragments
                ip.fragmentOffset = f.fragmentOffset
                ip.ttl = f.ttl
                ip.protocolNumber = f.protocolNumber ?? ipProtocol(announcing: index + 1)
                ip.source = f.source
                ip.destination = f.destination
                ip.updateChecksum()
            }
            return header + inner

        case .ipv6(let f):
            precondition(inner.count <= 0xFFFF, "IPv6 payload longer than 65535 bytes (no jumbograms)")
            header = [UInt8](repeating: 0, count: 40)
            header.withUnsafeMutableBytes { raw in
                let ip = IPv6Header(raw.baseAddress!)
                ip.version = 6
                ip.trafficClass = f.trafficClass
                ip.flowLabel = f.flowLabel
                ip.payloadLength = UInt16(inner.count)
                ip.nextHeader = f.nextHeader ?? ipProtocol(announcing: index + 1)
                ip.hopLimit = f.hopLimit
                ip.source = f.source
                ip.destination = f.destination
            }
            return header + inner

        case .udp(let sourcePort, let destinationPort, let checksum):
            var segment = [UInt8](repeating: 0, count: 8) + inner
            precondition(segment.count <= 0xFFFF, "UDP datagram longer than 65535 bytes")
            segment.withUnsafeMutableBytes { raw in
                let udp = UDPHeader(raw.baseAddress!)
                udp.sourcePort = sourcePort
                udp.destinationPort = destinationPort
                udp.length = UInt16(raw.count)
            }
            if checksum { fillTransportChecksum(&segment, index: index, protocol: .udp, at: 6, udpZeroRule: true) }
            return segment

        case .tcp(let f):
            let options = FrameBuilder.padded(f.options)
            var segment = [UInt8](repeating: 0, count: 20) + options + inner
            segment.withUnsafeMutableBytes { raw in
                let tcp = TCPHeader(raw.baseAddress!)
                tcp.sourcePort = f.sourcePort
                tcp.destinationPort = f.destinationPort
                tcp.sequenceNumber = f.sequence
                tcp.acknowledgmentNumber = f.acknowledgment
                tcp.dataOffset = UInt8((20 + options.count) / 4)
                tcp.flags = f.flags
                tcp.window = f.window
                tcp.urgentPointer = f.urgentPointer
            }
            fillTransportChecksum(&segment, index: index, protocol: .tcp, at: 16, udpZeroRule: false)
            return segment

        case .icmp(let type, let code, let rest):
            var message = [UInt8](repeating: 0, count: 8) + inner
            message.withUnsafeMutableBytes { raw in
                let icmp = ICMPHeader(raw.baseAddress!)
                icmp.type = type
                icmp.code = code
                icmp.restOfHeader = rest
                icmp.updateChecksum(length: raw.count)
            }
            return message

        case .icmpv6(let type, let code, let rest):
            var message = [UInt8](repeating: 0, count: 8) + inner
            message.withUnsafeMutableBytes { raw in
                let icmp = ICMPv6Header(raw.baseAddress!)
                icmp.type = type
                icmp.code = code
                icmp.restOfHeader = rest
            }
            fillTransportChecksum(&message, index: index, protocol: .icmpv6, at: 2, udpZeroRule: false)
            return message

        case .gre(let f):
            var flags: UInt16 = f.reservedBits & GREHeader.reservedBitsMask | UInt16(f.version) & GREHeader.versionMask
            if f.checksum { flags |= GREHeader.checksumPresentBit }
            if f.key != nil { flags |= GREHeader.keyPresentBit }
            if f.sequence != nil { flags |= GREHeader.sequencePresentBit }
            var packet = [UInt8](repeating: 0, count: GREHeader.headerLength(flags: flags)) + inner
            packet.withUnsafeMutableBytes { raw in
                let gre = GREHeader(raw.baseAddress!)
                gre.flagsAndVersion = flags
                gre.protocolType = f.protocolType ?? etherType(announcing: index + 1)
                if let key = f.key { gre.key = key }
                if let sequence = f.sequence { gre.sequenceNumber = sequence }
                if f.checksum { gre.updateChecksum(length: raw.count) }
            }
            return packet

        case .vxlan(let flags, let vni, let reserved):
            var packet = [UInt8](repeating: 0, count: VXLANHeader.length) + inner
            packet.withUnsafeMutableBytes { raw in
                let vxlan = VXLANHeader(raw.baseAddress!)
                vxlan.flagsWord = flags
                vxlan.reserved = reserved
                vxlan.vni = vni
            }
            return packet

        case .payload(let bytes):
            return bytes + inner
        }
    }
}
