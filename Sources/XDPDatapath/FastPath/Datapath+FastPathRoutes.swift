#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// The fast path through a router: the reference design's qrouter namespace forwarding an
// established connection, translated (SNAT, floating IP) or not.
//
// Which frames. A connection candidate (Datapath+FastPathConnections.swift: unicast IPv4,
// no options or fragment, UDP or TCP without SYN/FIN/RST/URG, at most one 802.1Q tag)
// entering a NORMAL-only bridge whose NORMAL sends it to a router port (through patch
// ports, untagged there) — or a bridge with OpenFlow tables whose walk (a firewall's
// segments and established connections, as Datapath+FastPathConnections.swift works it
// out) ends in NORMAL to a router port — that the router forwards — addressed to its MAC, routed to a
// resolved next hop within the output interface's MTU, TTL > 1, and, when the router does
// NAT, a packet of a connection the router's tracker translated — and that NORMAL then
// takes from the output interface's port to one port with a transmit queue (through
// NORMAL-only bridges). Such a frame's fate is a function of its key and of state the
// datapath can name: the MAC entries of both walks, the router's route and neighbour
// entry, the translation.
//
// What the kernel does with it: the tag operation between the tag it entered with and the
// one it leaves with, then the router's rewrite flattened (`FastPathRewrite`): the MACs
// (interface's, next hop's), the addresses and ports the translation gives, TTL - 1, and
// the IPv4 and transport checksums moved by constant deltas — the key fixes every old
// value. The program verifies the IPv4 header checksum first (the router drops a bad one)
// and sends longer frames than the output interface's MTU allows to the slow path.
//
// How a decision is made. As for connections through tables, from the key alone and at
// the moment the frame is recorded (`recordRoutedFrame`, or `recordConnectionFrame` for a
// bridge with tables, both through `runWatchingRouters`): the frame runs through the
// pipeline; when the router forwarded it — one frame more on one of its interfaces'
// queues, none on a port's — the path is worked out from the key (`workOutRoutedPath`:
// the NORMAL walk to the router port, or `workOutConnectionPath` through the tables to it;
// then `routeOnward`: `DatapathRouter.fastPathForward` and the NORMAL walk from the output
// interface's port), and the decision stands when the router's frame is the entering
// frame with that rewrite applied, byte for byte over its headers. The first
// packet of a translated connection commits the translation as it runs, so the decision
// made right after it already finds it.
//
// Staying true. A routed decision is worked out afresh at every re-check and must come out
// the same: same MAC entries, route, next hop and its MAC, translation, and through tables
// the same tables version, flows and connections. It expires with
// the first of its MAC entries and its translated connection. The transport re-checks
// around every control operation (routes, floating IPs, flushes), after a batch that moved
// a MAC or changed a neighbour's MAC (`neighbourChanges`), and after a FIN or RST of
// the connection in either direction, translated or not (`FastPathDecision.concerns`).
// Credit: the ports along both walks, the source MACs NORMAL learned on the way (the
// router interface's on the far bridge), the router's interface counters and `forwarded`
// / `nat-translated` events, and the translated connection's timer; a cached TCP
// connection is tracked liberally by the router's tracker from then on.
extension Datapath {
    /// `process` while recording, for a connection candidate entering a NORMAL-only
    /// bridge: runs it, and keeps a decision when the router forwarded it exactly as the
    /// path worked out from its key says (see the top).
    func recordRoutedFrame(_ key: FastPathKey, address: UInt64, length: UInt32, from inID: PortID, now: UInt64) {
        let pending = fastPath.pendingConnections, refused = fastPath.refusedConnections
        var toRouter = FastPathRecord(entering: key, length: length)
        guard pending.pointee.count < FastPathStage.pendingCapacity, !pending.pointee.contains(where: { $0.key == key }),
              !refused.pointee.contains(key),
              walkNormal(&toRouter, from: inID, now: now, tablesAtFirstStep: false, toRouter: true) else {
            ingress(address: address, length: length, port: inID, now: now, depth: 0, tunnelID: 0)
            return
        }
        let decision = runWatchingRouters(key, address: address, length: length, from: inID, now: now) {
            // No port's queue may grow: the frame is on one router interface's only.
            framesInTransmitQueues
        } decide: { queuedBefore in
            guard framesInTransmitQueues == queuedBefore, let (decision, _) = workOutRoutedPath(key, now: now) else { return nil }
            return decision
        }
        guard let decision else {
            if refused.pointee.count < FastPathStage.pendingCapacity { refused.pointee.append(key) }
            return
        }
        trackLiberally(decision)
        pending.pointee.append(decision)
    }

    /// Runs the frame at `address` (a connection candidate with `key`) through the pipeline
    /// with its first 64 bytes and the lengths of every router interface's queue kept
    /// aside (`before` runs just before it, its answer is handed to `decide`); when exactly
    /// one router interface's queue grew by one frame and `decide` gives a routed decision
    /// that leaves by that router and interface, answers the decision if the router's frame
    /// is the entering one with the decision's rewrite applied, byte for byte over what was
    /// kept. Nil otherwise (the frame went wherever the pipeline sent it).
    func runWatchingRouters<T>(_ key: FastPathKey, address: UInt64, length: UInt32, from inID: PortID, now: UInt64,
                               before: () -> T, decide: (T) -> FastPathDecision?) -> FastPathDecision? {
        let slots = routers.reduce(0) { $0 + $1.interfaceCount }
        let headerBytes = min(Int(length), 64)
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 8 + slots) { scratch -> FastPathDecision? in
            let entered = UnsafeMutableRawPointer(scratch.baseAddress!)
            entered.copyMemory(from: pool.pointer(address), byteCount: headerBytes)
            let queued = scratch.baseAddress! + 8
            var slot = 0
            for router in routers {
                for i in 0..<router.interfaceCount { queued[slot] = router.fast[i].tx.countPointer.pointee; slot &+= 1 }
            }
            let state = before()
            ingress(address: address, length: length, port: inID, now: now, depth: 0, tunnelID: 0)
            var grown: (router: Int, interface: Int)?
            slot = 0
            for (r, router) in routers.enumerated() {
                for i in 0..<router.interfaceCount {
                    let count = router.fast[i].tx.countPointer.pointee
                    defer { slot &+= 1 }
                    guard count != queued[slot] else { continue }
                    guard count == queued[slot] &+ 1, grown == nil else { return nil }
                    grown = (r, i)
                }
            }
            guard let grown, let decision = decide(state), let route = decision.route, let rewrite = decision.rewrite,
                  route.router == grown.router, route.outInterface == grown.interface else { return nil }
            // What the router sent: the entering frame untagged, with the rewrite applied.
            let tx = routers[grown.router].fast[grown.interface].tx
            let sentAddress = tx.addresses[tx.countPointer.pointee &- 1], sentLength = Int(tx.lengths[tx.countPointer.pointee &- 1])
            var expectedLength = headerBytes
            if key.tagged {
                (entered + 12).copyMemory(from: entered + 16, byteCount: headerBytes - 16)
                expectedLength -= 4
            }
            rewrite.apply(to: entered, l3: 14, length: expectedLength)
            guard sentLength == Int(length) - (key.tagged ? 4 : 0),
                  memcmp(entered, pool.pointer(sentAddress), min(expectedLength, sentLength)) == 0 else { return nil }
            return decision
        }
    }

    /// The path the next frame with `key` (a connection key) takes through a router as the
    /// datapath stands at `now`, and when the first thing it depends on expires; nil when
    /// it is nothing the fast path repeats (see the top). Changes nothing.
    func workOutRoutedPath(_ key: FastPathKey, now: UInt64) -> (FastPathDecision, expiry: UInt64)? {
        guard let connection = key.connection, ports.indices.contains(key.inPort.index),
              connection.proto == 17 || (connection.proto == 6 && connection.tcpFlags & 0x37 == 0x10) else { return nil }
        // To the router port. Lengths are relative: a nominal frame of 64 bytes.
        var toRouter = FastPathRecord(entering: key, length: 64)
        guard walkNormal(&toRouter, from: key.inPort, now: now, tablesAtFirstStep: false, toRouter: true) else { return nil }
        return routeOnward(key, toRouter: toRouter, now: now)
    }

    /// The rest of the path of `key` from the router port a NORMAL walk ended on
    /// (`toRouter`, its steps in `fastPath.steps`, lengths relative to 64 bytes): the
    /// router's answer and the NORMAL walk from its output interface's port, as a decision,
    /// and when the first thing it depends on expires. Changes nothing.
    func routeOnward(_ key: FastPathKey, toRouter: FastPathRecord, now: UInt64) -> (FastPathDecision, expiry: UInt64)? {
        guard let connection = key.connection, services.targets[toRouter.outPort].kind == ServiceKind.router.rawValue else { return nil }
        var steps = fastPathSteps(toRouter, steps: fastPath.steps, base: 64)
        let stepsBefore = steps.count
        let target = services.targets[toRouter.outPort]
        let router = routers[target.index]
        let tuple = ConntrackKey.ipv4(source: connection.source, destination: connection.destination, proto: connection.proto,
                                      sourcePort: connection.sourcePort, destinationPort: connection.destinationPort)
        guard let forward = router.fastPathForward(interface: target.element, dlDst: key.dst, tuple: tuple, ttl: connection.ttl, now: now),
              let outService = ports.firstIndex(where: { $0.serviceKind == .router && $0.serviceIndex == target.index
                                                          && $0.serviceElement == forward.outInterface })
        else { return nil }
        // From the output interface's port, with the router's MACs, untagged.
        var fromRouter = FastPathRecord()
        fromRouter.dst = forward.destination
        fromRouter.src = forward.source
        fromRouter.inLength = toRouter.outLength
        guard walkNormal(&fromRouter, from: PortID(outService), now: now, tablesAtFirstStep: false) else { return nil }
        steps += fastPathSteps(fromRouter, steps: fastPath.steps, base: 64)
        let operation = FastPathTagOperation.between(tagged: key.tagged, tci: key.tci,
                                                     outTagged: fromRouter.outTagged, outTCI: fromRouter.outTCI)
        let rewrite = FastPathRewrite(dst: forward.destination, src: forward.source, from: connection,
                                      source: IPv4Address(rawValue: UInt32(truncatingIfNeeded: forward.tuple.srcLo)),
                                      destination: IPv4Address(rawValue: UInt32(truncatingIfNeeded: forward.tuple.dstLo)),
                                      sourcePort: UInt16(truncatingIfNeeded: forward.tuple.ports >> 16),
                                      destinationPort: UInt16(truncatingIfNeeded: forward.tuple.ports),
                                      ttl: connection.ttl &- 1)
        let route = FastPathRoute(router: target.index, inInterface: target.element, outInterface: forward.outInterface,
                                  nextHop: IPv4Address(rawValue: forward.nextHop), translation: forward.translation,
                                  stepsBefore: stepsBefore,
                                  maximumLength: UInt32(forward.mtu + (key.tagged ? 18 : 14)))
        let decision = FastPathDecision(key: key, steps: steps, outPort: PortID(fromRouter.outPort), tagOperation: operation,
                                        outTCI: operation == .push || operation == .set ? fromRouter.outTCI : 0,
                                        rewrite: rewrite, route: route)
        guard let before = macExpiry(of: steps[..<stepsBefore], src: key.src, dst: key.dst, now: now),
              let after = macExpiry(of: steps[stepsBefore...], src: rewrite.src, dst: rewrite.dst, now: now) else { return nil }
        return (decision, min(before, after, forward.expiration))
    }

    /// Adds what the kernel carried for a routed decision to its router (`creditFastPath`
    /// does the ports and MACs): `packets` frames of `bytes` bytes as they entered.
    func creditRoute(_ decision: FastPathDecision, packets: UInt64, bytes: UInt64, lastUsed: UInt64) {
        guard let route = decision.route, routers.indices.contains(route.router), route.stepsBefore > 0,
              route.stepsBefore <= decision.steps.count else { return }
        let routerBytes = FastPathStep.bytes(bytes, packets: packets, delta: decision.steps[route.stepsBefore - 1].outLengthDelta)
        routers[route.router].creditFastPath(inInterface: route.inInterface, outInterface: route.outInterface,
                                             translation: route.translation, packets: packets, bytes: routerBytes, lastUsed: lastUsed)
    }

    /// How many times a router's neighbour changed its MAC, over every router, plus how
    /// many times the tunnels' outer headers changed (`Underlay.headerChanges`): the fast
    /// path re-checks its entries when it moved.
    public var neighbourChanges: UInt64 {
        routers.reduce(underlay?.headerChanges ?? 0) { $0 &+ $1.neighbourChanges }
    }
}

extension FastPathDecision {
    /// Whether a FIN or RST of `connection` (either direction) may change this decision:
    /// its key's connection, or the connection as the router's translation leaves it.
    public func concerns(_ connection: FastPathConnection) -> Bool {
        if let own = key.connection, own.sameTuple(connection) { return true }
        guard let rewrite, let proto = key.connection?.proto else { return false }
        let leaving = FastPathConnection(source: rewrite.source, destination: rewrite.destination, proto: proto, tos: 0, ttl: 0,
                                         tcpFlags: 0, sourcePort: rewrite.sourcePort, destinationPort: rewrite.destinationPort)
        return leaving.sameTuple(connection)
    }
}
