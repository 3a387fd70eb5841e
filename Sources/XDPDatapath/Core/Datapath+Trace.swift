import XDPPacket

// `ofproto/trace` for XDPSwitch: run one frame through the datapath and report every
// bridge it entered, every table lookup with the flow it hit (or the miss), and where
// the frame (or its copies) went or why it was dropped.
//
// The frame runs through the real pipeline, so what the trace shows is what the
// datapath does. It has the pipeline's side effects (MAC learning, flow counters,
// learned flows): trace on a datapath built for the purpose (`xdpswitch trace
// --config`), or accept them on a live one.
extension Datapath {
    /// One step of a trace.
    public struct TraceStep: Sendable, Equatable {
        /// The bridge the lookup was made in (or the service's name, for a service step).
        public var bridge: String
        /// The table looked up; nil when the bridge has no flows but the default NORMAL.
        public var table: Int?
        /// The flow hit; nil on a miss (or for a NORMAL-only bridge).
        public var rule: FlowRule?
        /// The packet's flow key at the lookup.
        public var key: FlowKey
        /// For a frame handed to a service (a router): what the service is and what it
        /// decided (`bridge` is then the service's name).
        public var service: String? = nil
    }

    /// What happened to a traced frame.
    public struct Trace: Sendable, CustomStringConvertible {
        /// Every lookup and service decision, in the order they happened.
        public var steps: [TraceStep]
        /// Frames queued for transmission, by port name, in port order.
        public var outputs: [(port: String, frame: [UInt8])]
        /// Drops the frame caused, by port and reason.
        public var drops: [(port: String, reason: DropReason, count: UInt64)]

        /// The trace as `ofproto/trace` prints it: a section per bridge with each table, the flow hit
        /// and the key, then the outputs and drops.
        public var description: String {
            var out = ""
            var lastBridge = ""
            for step in steps {
                if let service = step.service {
                    let title = "router(\"\(step.bridge)\")"
                    out += (out.isEmpty ? "" : "\n") + title + "\n" + String(repeating: "-", count: title.count) + "\n"
                    out += " " + service + "\n"
                    lastBridge = ""
                    continue
                }
                if step.bridge != lastBridge {
                    let title = "bridge(\"\(step.bridge)\")"
                    out += (out.isEmpty ? "" : "\n") + title + "\n" + String(repeating: "-", count: title.count) + "\n"
                    lastBridge = step.bridge
                }
                guard let table = step.table else {
                    out += " no flows: NORMAL\n"
                    continue
                }
                if let rule = step.rule {
                    let match = rule.matchDescription
                    out += String(repeating: " ", count: max(1, 3 - String(table).count)) + "\(table). "
                        + (match.isEmpty ? "priority 0" : match) + (rule.cookie != 0 ? ", cookie 0x\(String(rule.cookie, radix: 16))" : "") + "\n"
                    out += "    " + rule.actionsDescription + "\n"
                } else {
                    out += String(repeating: " ", count: max(1, 3 - String(table).count)) + "\(table). No match.\n    drop\n"
                }
            }
            out += "\nFinal:\n"
            if outputs.isEmpty && drops.isEmpty { out += "  nothing sent\n" }
            for o in outputs { out += "  output to \(o.port): \(o.frame.count) bytes\(Self.vlanText(o.frame))\n" }
            for d in drops { out += "  dropped on \(d.port): \(d.reason)\(d.count > 1 ? " ×\(d.count)" : "")\n" }
            return out
        }

        static func vlanText(_ frame: [UInt8]) -> String {
            guard frame.count >= 16, frame[12] == 0x81 || frame[12] == 0x88 else { return "" }
            return ", vlan \(UInt16(frame[14] & 0x0F) << 8 | UInt16(frame[15]))"
        }
    }

    /// Runs `frame` as received on `port` (with `tunnelID`, for a tunnel port) and
    /// reports what the datapath did with it. Frames already queued on ports are taken
    /// out (and freed) first.
    public func trace(_ frame: [UInt8], on port: DatapathPort, tunnelID: UInt64 = 0, now instant: DatapathInstant) -> Trace {
        let now = instant.nanoseconds
        discardTransmitted()
        let before = ports.map { $0.stats.drops }
        tracer.steps.pointee = []
        tracer.active.pointee = true
        if var handle = pool.allocateFrame(), (try? handle.write(bytes: frame)) != nil {
            let (address, length) = handle.release()
            receiveFrame(address: address, length: length, port: port.id, now: now, tunnelID: tunnelID)
            tick(now: instant)
        } else {
            port.counters.dropped(.noBuffer)
        }
        tracer.active.pointee = false
        var result = Trace(steps: tracer.steps.pointee, outputs: [], drops: [])
        tracer.steps.pointee = []
        for p in ports {
            for f in drainTransmitted(p) { result.outputs.append((p.name, f)) }
            for (reason, count) in p.stats.drops.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                let delta = count - (before[p.id.index][reason] ?? 0)
                if delta > 0 { result.drops.append((p.name, reason, delta)) }
            }
        }
        return result
    }

    /// The router step of a trace: the interface the frame arrived on and the route its
    /// destination takes (what the router will do, before it does it).
    @inline(never)
    @usableFromInline
    func recordServiceTrace(outID: PortID, meta: PacketMetadata) {
        let port = self[outID]
        guard port.serviceKind == .router, let index = port.serviceIndex, let element = port.serviceElement else { return }
        let router = routers[index]
        let interface = router.interfaces[element]
        var text = "received on \(interface.name): "
        if meta.flags.contains(.arp) {
            text += "ARP for \(IPv4Address(rawValue: meta.nwDst))"
        } else if !meta.flags.contains(.ipv4) {
            text += "not IPv4"
        } else {
            let destination = IPv4Address(rawValue: meta.nwDst)
            text += "\(IPv4Address(rawValue: meta.nwSrc)) -> \(destination) ttl \(meta.nwTTL), "
            text += router.routeDecision(to: destination).description
        }
        tracer.steps.pointee.append(TraceStep(bridge: router.name, table: nil, rule: nil, key: FlowKey(meta, inPort: 0), service: text))
    }

    @inline(never)
    @usableFromInline
    func recordTrace(bridgeID: Int, table: Int?, index: Int32, key: FlowKey) {
        let bridge = bridges[bridgeID]
        let rule = table != nil && index >= 0 ? bridge.flowTable.flows[Int(index)].rule : nil
        tracer.steps.pointee.append(TraceStep(bridge: bridge.name, table: table, rule: rule, key: key))
    }
}

extension Datapath {
    /// Why a trace could not run.
    public enum TraceError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The datapath has no bridge of this name.
        case unknownBridge(String)
        /// The flow text is not `ofproto/trace` syntax.
        case flowSyntax(FlowSyntaxError)
        /// The flow (text as given) does not set `in_port`.
        case missingInPort(flow: String)
        /// The bridge has no port with this OpenFlow port number.
        case unknownPort(bridge: String, ofport: Int)

        /// One line: the bridge, flow or port at fault and what is wrong with it.
        public var description: String {
            switch self {
            case .unknownBridge(let name): "\(name): no such bridge"
            case .flowSyntax(let error): error.description
            case .missingInPort(let flow): "\(flow): the flow needs in_port=N"
            case .unknownPort(let bridge, let ofport): "\(bridge): no OpenFlow port \(ofport)"
            }
        }
    }

    /// Traces the packet `flow` describes (`ofproto/trace` syntax: `in_port=N` plus any
    /// header fields, e.g. `in_port=1,dl_vlan=1,dl_dst=ff:ff:ff:ff:ff:ff,udp,tp_dst=53`)
    /// entering `bridge`. Unset fields are zero (TTL 64), as OVS assumes.
    public func trace(flow text: String, bridge name: String, now: DatapathInstant) throws(TraceError) -> Trace {
        guard let bridge = bridge(named: name) else { throw .unknownBridge(name) }
        let match: FlowMatch
        do { match = try FlowParser.parseSelector(text).match } catch { throw .flowSyntax(error) }
        guard match.mask.inPort != 0 else { throw .missingInPort(flow: text) }
        guard let inID = bridge.portIDs.first(where: { self[$0].ofport == Int(match.value.inPort) }) else {
            throw .unknownPort(bridge: name, ofport: Int(match.value.inPort))
        }
        return trace(Self.exampleFrame(for: match), on: self[inID], tunnelID: match.value.tunID, now: now)
    }

    /// A frame with the header fields `match` sets.
    static func exampleFrame(for match: FlowMatch) -> [UInt8] {
        let v = match.value, m = match.mask
        var builder = FrameBuilder().ethernet(source: MACAddress(rawValue: v.dlSrc), destination: MACAddress(rawValue: v.dlDst),
                                              type: m.dlType != 0 && v.dlType != 0x0800 && v.dlType != 0x0806 && v.dlType != 0x86DD
                                                  ? EtherType(rawValue: v.dlType) : nil)
        if m.vlanTCI & 0x1000 != 0 && v.vlanTCI & 0x1000 != 0 {
            builder = builder.vlan(vid: v.vlanTCI & 0x0FFF, pcp: UInt8(v.vlanTCI >> 13))
        }
        switch m.dlType != 0 ? v.dlType : 0 {
        case 0x0800:
            builder = builder.ipv4(source: IPv4Address(rawValue: v.nwSrc), destination: IPv4Address(rawValue: v.nwDst),
                                   ttl: m.nwTTL != 0 ? v.nwTTL : 64, tos: v.nwTOS)
            switch v.nwProto {
            case 6: builder = builder.tcp(sourcePort: v.tpSrc, destinationPort: v.tpDst)
            case 17: builder = builder.udp(sourcePort: v.tpSrc, destinationPort: v.tpDst)
            case 1: builder = builder.icmp(type: ICMPType(rawValue: UInt8(truncatingIfNeeded: v.tpSrc)), code: UInt8(truncatingIfNeeded: v.tpDst))
            default: builder = builder.payload(count: 8)
            }
        case 0x0806:
            builder = builder.arp(operation: ARPOperation(rawValue: m.nwProto != 0 ? UInt16(v.nwProto) : 1),
                                  senderMAC: MACAddress(rawValue: m.arpSHA != 0 ? v.arpSHA : v.dlSrc),
                                  senderIP: IPv4Address(rawValue: v.nwSrc), targetMAC: MACAddress(rawValue: v.arpTHA),
                                  targetIP: IPv4Address(rawValue: v.nwDst))
        case 0x86DD:
            builder = builder.ipv6(source: IPv6Address(high: v.ipv6SrcHi, low: v.ipv6SrcLo),
                                   destination: IPv6Address(high: v.ipv6DstHi, low: v.ipv6DstLo))
            switch v.nwProto {
            case 6: builder = builder.tcp(sourcePort: v.tpSrc, destinationPort: v.tpDst)
            case 17: builder = builder.udp(sourcePort: v.tpSrc, destinationPort: v.tpDst)
            default: builder = builder.payload(count: 8)
            }
        default:
            builder = builder.payload(count: 46)
        }
        var frame = builder.build()
        if frame.count < 60 { frame += Array(repeating: 0, count: 60 - frame.count) }
        return frame
    }
}
