#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// The flow interpreter: running a frame through a bridge's OpenFlow tables.
//
// A frame entering a bridge whose table is not the default `priority=0 actions=NORMAL`
// gets a `FlowContext`: its `FlowKey` (from the parse, the OpenFlow input port and the
// tunnel id), and the `frameKey` — what the frame's bytes say now. Actions change only
// the key (`mod_vlan_vid`, `set_field`, `load`, `move`, `dec_ttl`...). Before the
// frame leaves (an output, NORMAL, FLOOD...), the differences between the key and the
// frame are written into the frame in one go: VLAN push/pop/rewrite in place, MACs,
// IPv4 addresses/TOS/TTL and L4 ports with RFC 1624 checksum updates. That is how OVS
// composes datapath actions, and it means a `load` into `NXM_OF_VLAN_TCI[]` and a
// `strip_vlan` are the same thing.
//
// Outputs are deferred by one: an output remembers its target (`setPendingOutput`); the
// next output (or a header change) first sends a copy to the remembered target
// (`sendToPendingOutput`); the last target gets the original frame. One output, the
// common case, never copies. Key changes reach the frame in `writeKeyToFrame`.
//
// Lookups go through a per-bridge exact-match cache (full key + table → flow) in front
// of the tuple-space classifier; the cache is keyed on the table version, so any change
// of the tables invalidates it at once.
extension Datapath {
    /// Resubmits (and goto_table) one frame may make.
    public static let maximumResubmits = 64

    @usableFromInline
    struct FlowContext {
        @usableFromInline var address: UInt64
        @usableFromInline var length: UInt32
        @usableFromInline var key: FlowKey
        @usableFromInline var frameKey: FlowKey
        /// Offsets in the frame as it is now (they move with VLAN push/pop).
        @usableFromInline var l3Offset: Int
        @usableFromInline var l4Offset: Int
        /// 6 TCP, 17 UDP, 1 ICMP, 0 none: which L4 checksum follows address/port changes.
        @usableFromInline var l4Protocol: UInt8
        @usableFromInline var isIPv4: Bool
        /// Where the frame goes when the next output (or the end of the tables) comes.
        @usableFromInline var pending: OutputTarget?
        @usableFromInline let inPortID: PortID
        @usableFromInline let bridgeID: BridgeID
        @usableFromInline let depth: Int
        @usableFromInline var resubmits: Int
        @usableFromInline var consumed: Bool

        @inlinable
        init(address: UInt64, length: UInt32, meta: UnsafePointer<PacketMetadata>, ofport: UInt16, tunnelID: UInt64,
             inPortID: PortID, bridgeID: BridgeID, depth: Int) {
            self.address = address
            self.length = length
            var key = FlowKey(meta.pointee, inPort: ofport)
            key.tunID = tunnelID
            self.key = key
            self.frameKey = key
            l3Offset = Int(meta.pointee.l3Offset)
            l4Offset = Int(meta.pointee.l4Offset)
            isIPv4 = meta.pointee.flags.contains(.ipv4)
            l4Protocol = meta.pointee.l4Offset == 0 ? 0
                : (meta.pointee.flags.contains(.tcp) ? 6 : meta.pointee.flags.contains(.udp) ? 17 : 0)
            pending = nil
            self.inPortID = inPortID
            self.bridgeID = bridgeID
            self.depth = depth
            resubmits = 0
            consumed = false
        }
    }

    /// Runs the bridge's tables on a parsed frame from table 0 (through the flow-segment
    /// cache); consumes the frame.
    @inlinable
    func interpretFlows(address: UInt64, length: UInt32, meta: UnsafePointer<PacketMetadata>, inID: PortID, bridgeID: BridgeID,
                        depth: Int, tunnelID: UInt64, now: UInt64) {
        var ctx = FlowContext(address: address, length: length, meta: meta, ofport: ofports[inID.index], tunnelID: tunnelID,
                              inPortID: inID, bridgeID: bridgeID, depth: depth)
        let table = openFlow.views[bridgeID.index]
        runSegment(0, table: table, ctx: &ctx, now: now)
        endOfTables(&ctx, now: now)
    }

    /// Looks `ctx.key` up in table `t` (exact-match cache first) and runs the flow found.
    @inlinable
    func runTable(_ t: Int, table: FlowTableView, ctx: inout FlowContext, now: UInt64) {
        let index = cachedLookup(t, table: table, key: ctx.key, bridgeID: ctx.bridgeID)
        if tracer.active.pointee { recordTrace(bridgeID: ctx.bridgeID.index, table: t, index: index, key: ctx.key) }
        guard index >= 0 else { return }  // a miss: the packet goes no further in this table
        if openFlow.recorder.pointee.active { recordHit(index) }
        let list = table.actionLists[Int(index)]
        list.hit(bytes: ctx.length, now: now)
        executeActions(list, flowIndex: Int(index), table: table, currentTable: t, ctx: &ctx, now: now)
    }

    @inlinable
    func cachedLookup(_ t: Int, table: FlowTableView, key: FlowKey, bridgeID: BridgeID) -> Int32 {
        let cache = openFlow.exactMatchCaches[bridgeID.index]
        let slot = Int(truncatingIfNeeded: key.fastHash &+ UInt64(t) &* 0x9E37_79B9) & cache.mask
        let tag = table.cacheTag(table: t)
        if cache.tags[slot] == tag && cache.keys[slot].equals(key) {
            cache.hits.pointee &+= 1
            return cache.results[slot]
        }
        let found = table.lookup(table: t, key: key)
        cache.misses.pointee &+= 1
        cache.tags[slot] = tag
        cache.keys[slot] = key
        cache.results[slot] = found
        return found
    }

    /// Runs the actions of the flow hit (`list`): key changes, outputs, resubmits, `ct()`.
    @inlinable
    func executeActions(_ list: FlowTable.ActionList, flowIndex: Int, table: FlowTableView, currentTable: Int, ctx: inout FlowContext, now: UInt64) {
        for i in 0..<list.count {
            if ctx.consumed { return }
            if openFlow.recorder.pointee.active { recordAction() }
            switch list.actions[i] {
            case .output(let port):
                output(ofport: port, ctx: &ctx, now: now)
            case .outputField(let field):
                output(ofport: UInt16(truncatingIfNeeded: field.get(ctx.key)), ctx: &ctx, now: now)
            case .normal:
                setPendingOutput(.normal, ctx: &ctx, now: now)
            case .flood:
                setPendingOutput(.flood, ctx: &ctx, now: now)
            case .all:
                setPendingOutput(.all, ctx: &ctx, now: now)
            case .inPort:
                setPendingOutput(.port(ctx.inPortID), ctx: &ctx, now: now)
            case .local, .controller:
                // No local port and no controller: nothing to send to.
                fastPorts[ctx.inPortID].counters.dropped(.noController)
                if openFlow.recorder.pointee.active { recordPoison() }
            case .setVLANVID(let vid):
                ctx.key.vlanTCI = (ctx.key.hasVLAN ? ctx.key.vlanTCI & 0xF000 : 0x1000) | (vid & 0x0FFF)
            case .setVLANPCP(let pcp):
                ctx.key.vlanTCI = (ctx.key.hasVLAN ? ctx.key.vlanTCI & 0x1FFF : 0x1000) | UInt16(pcp & 7) << 13
            case .stripVLAN:
                ctx.key.vlanTCI = 0
            case .pushVLAN:
                if !ctx.key.hasVLAN { ctx.key.vlanTCI = 0x1000 }
            case .setEthSrc(let mac):
                ctx.key.dlSrc = mac
            case .setEthDst(let mac):
                ctx.key.dlDst = mac
            case .setIPv4Src(let ip):
                if ctx.isIPv4 { ctx.key.nwSrc = ip }
            case .setIPv4Dst(let ip):
                if ctx.isIPv4 { ctx.key.nwDst = ip }
            case .setIPTOS(let tos):
                if ctx.isIPv4 { ctx.key.nwTOS = ctx.key.nwTOS & 0x03 | tos & 0xFC }
            case .setTransportSrc(let port):
                if ctx.l4Protocol != 0 { ctx.key.tpSrc = port }
            case .setTransportDst(let port):
                if ctx.l4Protocol != 0 { ctx.key.tpDst = port }
            case .decTTL:
                guard ctx.isIPv4 else { break }
                guard ctx.key.nwTTL > 1 else {
                    if openFlow.recorder.pointee.active { recordPoison() }
                    drop(ctx.address, reason: .ttlExceeded, port: ctx.inPortID)
                    ctx.consumed = true
                    return
                }
                ctx.key.nwTTL &-= 1  // > 1 checked above
            case .setTunnel(let id, _):
                ctx.key.tunID = id
            case .load(let field, let value):
                field.set(&ctx.key, value)
            case .move(let source, let destination):
                destination.set(&ctx.key, source.get(ctx.key))
            case .resubmit(let port, let t):
                resubmit(port: port, table: t == 255 ? currentTable : Int(t), flows: table, ctx: &ctx, now: now)
            case .gotoTable(let t):
                resubmit(port: OpenFlowPort.inPort, table: Int(t), flows: table, ctx: &ctx, now: now)
                return
            case .learn(let n):
                if openFlow.recorder.pointee.active { recordPoison() }
                learn(flowIndex: flowIndex, spec: Int(n), key: ctx.key, bridgeID: ctx.bridgeID.index, now: now)
            case .note, .conjunction:
                break  // a conjunction flow is never the flow found (FlowTable+Conjunction.swift)
            case .conntrack(let n):
                if openFlow.recorder.pointee.active {
                    recordConntrack(flowIndex: flowIndex, n, recirculates: list.conntrackSteps[Int(n)].table >= 0, ctx: &ctx)
                }
                if !executeConntrack(n, list: list, ctx: &ctx, now: now) { return }
            }
        }
    }

    @inlinable
    func resubmit(port: UInt16, table t: Int, flows: FlowTableView, ctx: inout FlowContext, now: UInt64) {
        guard ctx.resubmits < Datapath.maximumResubmits else {
            fastPorts[ctx.inPortID].counters.dropped(.resubmitLimit)
            if openFlow.recorder.pointee.active { recordPoison() }
            return
        }
        ctx.resubmits &+= 1
        let saved = ctx.key.inPort
        if port != OpenFlowPort.inPort { ctx.key.inPort = port }
        runTable(t, table: flows, ctx: &ctx, now: now)
        ctx.key.inPort = saved
    }

    @inlinable
    func output(ofport: UInt16, ctx: inout FlowContext, now: UInt64) {
        switch ofport {
        case OpenFlowPort.inPort: setPendingOutput(.port(ctx.inPortID), ctx: &ctx, now: now)
        case OpenFlowPort.normal: setPendingOutput(.normal, ctx: &ctx, now: now)
        case OpenFlowPort.flood: setPendingOutput(.flood, ctx: &ctx, now: now)
        case OpenFlowPort.all: setPendingOutput(.all, ctx: &ctx, now: now)
        default:
            // OpenFlow: output to the input port needs IN_PORT; plain output:N to it is dropped.
            guard let id = fastBridges[ctx.bridgeID].port(ofport: ofport), id != ctx.inPortID else { return }
            setPendingOutput(.port(id), ctx: &ctx, now: now)
        }
    }

    /// Remembers `target` as where the frame goes next, after sending a copy to the
    /// previous target and writing the key's changes into the frame.
    @inlinable
    func setPendingOutput(_ target: OutputTarget, ctx: inout FlowContext, now: UInt64) {
        if ctx.pending != nil { sendToPendingOutput(&ctx, copy: true, now: now) }
        if ctx.consumed {
            if openFlow.recorder.pointee.active { recordPoison() }
            return
        }
        writeKeyToFrame(&ctx)
        if !ctx.consumed { ctx.pending = target }
        if openFlow.recorder.pointee.active { recordOutput(target, ctx: &ctx) }
    }

    /// Sends the frame (or a copy) to the pending target.
    @inlinable
    func sendToPendingOutput(_ ctx: inout FlowContext, copy: Bool, now: UInt64) {
        guard let target = ctx.pending else { return }
        ctx.pending = nil
        var address = ctx.address
        if copy {
            guard let frame = pool.allocate() else { fastPorts[ctx.inPortID].counters.dropped(.noBuffer); return }
            address = frame &+ UInt64(pool.headroom)
            memcpy(pool.pointer(address), pool.pointer(ctx.address), Int(ctx.length))
        } else {
            ctx.consumed = true
        }
        let tagged = ctx.frameKey.hasVLAN
        if services.present { refreshFrameMeta(&ctx) }
        switch target {
        case .normal:
            normalAction(address: address, length: ctx.length, dlSrc: ctx.frameKey.dlSrc, dlDst: ctx.frameKey.dlDst,
                         tagged: tagged, tci: ctx.frameKey.wireTCI, inID: ctx.inPortID, now: now,
                         depth: ctx.depth, tunnelID: ctx.key.tunID)
        case .flood, .all:
            let bridge = fastBridges[ctx.bridgeID]
            var lastIndex = -1
            for j in 0..<bridge.portCount where bridge.portList[j] != ctx.inPortID.index { lastIndex = bridge.portList[j] }
            guard lastIndex >= 0 else { drop(address, reason: .noOutputPort, port: ctx.inPortID); return }
            let last = PortID(lastIndex)
            for j in 0..<bridge.portCount {
                let id = PortID(bridge.portList[j])
                if id == last { break }
                guard id != ctx.inPortID else { continue }
                guard let extra = pool.allocate() else { fastPorts[ctx.inPortID].counters.dropped(.noBuffer); continue }
                let extraAddress = extra &+ UInt64(pool.headroom)
                memcpy(pool.pointer(extraAddress), pool.pointer(address), Int(ctx.length))
                egress(address: extraAddress, length: ctx.length, to: id, now: now, depth: ctx.depth, tunnelID: ctx.key.tunID)
            }
            egress(address: address, length: ctx.length, to: last, now: now, depth: ctx.depth, tunnelID: ctx.key.tunID)
        case .port(let id):
            egress(address: address, length: ctx.length, to: id, now: now, depth: ctx.depth, tunnelID: ctx.key.tunID)
        }
    }

    /// Writes the differences between `ctx.key` and the frame into the frame (VLAN
    /// push/pop/rewrite, MACs, IPv4 fields and L4 ports with incremental checksums).
    @inlinable
    func writeKeyToFrame(_ ctx: inout FlowContext) {
        // Only these words are in the frame's bytes; compared in place (no copies).
        if ctx.key.w1 == ctx.frameKey.w1 && ctx.key.w2 == ctx.frameKey.w2 && ctx.key.w3 == ctx.frameKey.w3
            && ctx.key.w4 == ctx.frameKey.w4 && ctx.key.w0 == ctx.frameKey.w0 { return }
        let key = ctx.key
        var old = ctx.frameKey
        // VLAN: push, pop or rewrite the outer tag.
        let hadTag = old.hasVLAN
        let wantTag = key.hasVLAN
        if hadTag != wantTag {
            if wantTag {
                guard pool.headroom(before: ctx.address) >= 4 else {
                    drop(ctx.address, reason: .noHeadroom, port: ctx.inPortID)
                    ctx.consumed = true
                    return
                }
                ctx.address &-= 4  // headroom checked above
                ctx.length &+= 4
                let frame = pool.pointer(ctx.address)
                memmove(frame, frame + 4, 12)
                frame.storeBE16(0x8100, at: 12)
                frame.storeBE16(key.wireTCI, at: 14)
                ctx.l3Offset &+= 4
                if ctx.l4Offset != 0 { ctx.l4Offset &+= 4 }
            } else {
                let frame = pool.pointer(ctx.address)
                memmove(frame + 4, frame, 12)
                ctx.address &+= 4
                ctx.length &-= 4  // a tagged frame is at least 18 bytes
                ctx.l3Offset &-= 4
                if ctx.l4Offset != 0 { ctx.l4Offset &-= 4 }
            }
        } else if wantTag && key.vlanTCI != old.vlanTCI {
            pool.pointer(ctx.address).storeBE16(key.wireTCI, at: 14)
        }
        old.vlanTCI = key.vlanTCI
        let frame = pool.pointer(ctx.address)
        if key.dlDst != old.dlDst { frame.storeBE48(key.dlDst, at: 0) }
        if key.dlSrc != old.dlSrc { frame.storeBE48(key.dlSrc, at: 6) }
        if ctx.isIPv4 {
            let ip = frame + ctx.l3Offset
            var ipChecksum = ip.loadBE16(at: 10)
            var l4Checksum: UInt16 = 0
            let l4 = frame + ctx.l4Offset
            let checksumOffset = ctx.l4Protocol == 6 ? 16 : 6
            if ctx.l4Protocol != 0 { l4Checksum = l4.loadBE16(at: checksumOffset) }
            @inline(__always) func rewrite(_ offset: Int, _ new: UInt32, _ before: UInt32) {
                ip.storeBE32(new, at: offset)
                ipChecksum = Checksum.update(ipChecksum, old: before, new: new)
                // The pseudo-header covers the addresses.
                if ctx.l4Protocol == 6 { l4Checksum = Checksum.update(l4Checksum, old: before, new: new) }
                if ctx.l4Protocol == 17 { l4Checksum = Checksum.updateUDP(l4Checksum, old: before, new: new) }
            }
            if key.nwSrc != old.nwSrc { rewrite(12, key.nwSrc, old.nwSrc) }
            if key.nwDst != old.nwDst { rewrite(16, key.nwDst, old.nwDst) }
            if key.nwTTL != old.nwTTL || key.nwTOS != old.nwTOS {
                let oldWord = ip.loadBE16(at: 8)
                ip.storeBE8(key.nwTTL, at: 8)
                ipChecksum = Checksum.update(ipChecksum, old: oldWord, new: ip.loadBE16(at: 8))
                let oldTOS = ip.loadBE16(at: 0)
                ip.storeBE8(key.nwTOS, at: 1)
                ipChecksum = Checksum.update(ipChecksum, old: oldTOS, new: ip.loadBE16(at: 0))
            }
            if ctx.l4Protocol != 0 {
                if key.tpSrc != old.tpSrc {
                    l4.storeBE16(key.tpSrc, at: 0)
                    l4Checksum = ctx.l4Protocol == 6 ? Checksum.update(l4Checksum, old: old.tpSrc, new: key.tpSrc)
                        : Checksum.updateUDP(l4Checksum, old: old.tpSrc, new: key.tpSrc)
                }
                if key.tpDst != old.tpDst {
                    l4.storeBE16(key.tpDst, at: 2)
                    l4Checksum = ctx.l4Protocol == 6 ? Checksum.update(l4Checksum, old: old.tpDst, new: key.tpDst)
                        : Checksum.updateUDP(l4Checksum, old: old.tpDst, new: key.tpDst)
                }
                l4.storeBE16(l4Checksum, at: checksumOffset)
            }
            ip.storeBE16(ipChecksum, at: 10)
        }
        ctx.frameKey = key
    }

    /// The end of a frame's trip through the tables: sent to its pending output, or
    /// dropped when no flow output it.
    @inlinable
    func endOfTables(_ ctx: inout FlowContext, now: UInt64) {
        guard !ctx.consumed else { return }
        if ctx.pending != nil {
            sendToPendingOutput(&ctx, copy: false, now: now)
        } else {
            drop(ctx.address, reason: .flowDrop, port: ctx.inPortID)
        }
    }
}
