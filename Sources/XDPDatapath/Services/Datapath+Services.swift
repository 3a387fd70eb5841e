#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// Service ports: bridge ports whose far side is a service inside the datapath (a router
// interface or a DHCP responder) instead of a network interface.
//
// Into the service. A frame the bridge sends to a service port (NORMAL, `output:`,
// FLOOD/ALL) gets the egress VLAN step of an access port (NORMAL pops the tag in
// `egressVLAN`; `deliverToService` pops it for an `output:` that left it on), the port counts it as
// transmitted, and the service receives it with the `PacketMetadata` of the parse the
// frame entered the bridge with, fixed for what happened since — no second parse:
// - `ingress` keeps each parse in `frameMeta[depth]` (one slot per patch depth, so a
//   frame crossing a patch port into another bridge does not overwrite the metadata of
//   the frame whose flood is still going on);
// - a frame the flow tables changed is described again from its `FlowContext` in
//   `sendToPendingOutput` (MACs, addresses, TTL, TOS, ports, VLAN, offsets: what the actions can touch);
// - at the port, the offsets are moved by the difference between the tags the metadata
//   counts and the tags the frame carries now (a pop moves L3 four bytes forward).
// The service takes the frame whatever it does with it (queues, parks or frees it).
//
// Out of the service. Each service registers the queues it emits on (`ServiceOutput`:
// a `BatchStorage` and the port the frames enter by). At the end of `process` — in
// `tick`, which also runs the services' timers — the datapath moves each queue's
// frames to a scratch batch and enters them into the port's bridge as received on the
// service port, as one batch per queue. Frames a service emits in reply go round again,
// at most `maximumPatchDepth` rounds; what is still queued then is dropped and counted
// (`patch-loop` on the port). A router ping-pong is bounded by TTL anyway and ICMP errors
// never cause errors, so the bound is a guard, not a behaviour.
//
// The per-packet path reads only plain values: `services.targets[port]` gives the kind (a
// byte), the index into the kind's table of `Unmanaged` references and the element
// within the service (kept apart from `PortFastPath`, which every frame reads). Adding
// a kind is a case in `ServiceKind`, a table, a branch in `deliverToService`, and its
// queues in `serviceOutputs`.

/// What serves a service port.
@frozen
public enum ServiceKind: UInt8, Sendable, CustomStringConvertible {
    /// Not a service port.
    case none = 0
    /// A router interface: `serviceIndex` in `Datapath.routers`, `serviceElement` the
    /// interface's index in `DatapathRouter.interfaces`.
    case router = 1
    /// A DHCP responder: `serviceIndex` in `Datapath.dhcpResponders` (Datapath+DHCP.swift).
    case dhcp = 2

    /// The kind in lower case (`none`, `router`, `dhcp`), as `show` prints it.
    public var description: String {
        switch self {
        case .none: "none"
        case .router: "router"
        case .dhcp: "dhcp"
        }
    }
}

/// What serves a service port, as the per-packet path reads it (`Datapath.serviceTargets`).
@frozen
@usableFromInline
struct ServiceTarget {
    /// `ServiceKind` raw value.
    @usableFromInline let kind: UInt8
    /// Index in that kind's table, element within the service.
    @usableFromInline let index: Int
    @usableFromInline let element: Int

    init(_ port: DatapathPort) {
        kind = port.serviceKind.rawValue
        index = port.serviceIndex ?? -1
        element = port.serviceElement ?? -1
    }
}

/// A queue a service emits frames on, and the service port they enter the bridge by.
@frozen
@usableFromInline
struct ServiceOutput {
    @usableFromInline let queue: BatchStorage
    @usableFromInline let portID: PortID

    init(queue: BatchStorage, portID: PortID) {
        self.queue = queue
        self.portID = portID
    }
}

extension Datapath {
    /// Builds the routers of `configuration` and binds each interface to the `router`
    /// port of the same name: refuses a router port naming no interface and an interface
    /// that is no bridge's port (a name on two bridges is already a duplicate port). A
    /// router in `reusing` (by name) is that object, not a new one.
    static func makeRouters(_ configuration: DatapathConfiguration, ports: [DatapathPort], pool: FramePool,
                            txQueueCapacity: Int, reusing: [String: DatapathRouter] = [:]) throws(DatapathConfigurationError) -> (routers: [DatapathRouter], outputs: [ServiceOutput]) {
        var routers: [DatapathRouter] = []
        var outputs: [ServiceOutput] = []
        var byInterface: [String: (router: Int, interface: Int)] = [:]
        var routerNames: Set<String> = []
        for (r, config) in configuration.routers.enumerated() {
            guard routerNames.insert(config.name).inserted else {
                throw DatapathConfigurationError(subject: config.name, key: "name", message: "duplicate router name")
            }
            for (i, interface) in config.interfaces.enumerated() {
                if let other = byInterface[interface.name] {
                    throw DatapathConfigurationError(subject: config.name, key: "interfaces[\(i)].name",
                        message: "interface \(interface.name) is already an interface of router \(configuration.routers[other.router].name)")
                }
                byInterface[interface.name] = (r, i)
            }
        }
        for port in ports where port.type == .router {
            guard let binding = byInterface[port.name] else {
                throw DatapathConfigurationError(subject: port.name, key: "type",
                                                 message: "a router port must be named like an interface of a router (routers: ... interfaces: [{name: \(port.name), ...}])")
            }
            port.serviceKind = .router
            port.serviceIndex = binding.router
            port.serviceElement = binding.interface
        }
        for (r, config) in configuration.routers.enumerated() {
            let router: DatapathRouter
            if let kept = reusing[config.name] {
                router = kept
            } else {
                do {
                    router = try DatapathRouter(configuration: config, pool: pool, txQueueCapacity: txQueueCapacity)
                } catch {
                    let key = Self.routerKey(error, configuration: config)
                    throw DatapathConfigurationError(subject: config.name, key: key, message: error.message)
                }
            }
            for (i, interface) in router.interfaces.enumerated() {
                let port = ports.first { $0.name == interface.name }
                guard let port, port.type == .router, port.bridgeID != nil else {
                    throw DatapathConfigurationError(subject: config.name, key: "interfaces[\(i)].name",
                        message: port == nil ? "interface \(interface.name) is no bridge's port: add {name: \(interface.name), type: router} to a bridge"
                                             : "port \(interface.name) must have type: router")
                }
                outputs.append(ServiceOutput(queue: interface.txQueue.storage, portID: port.id))
            }
            _ = r
            routers.append(router)
        }
        return (routers, outputs)
    }

    /// `interfaces[1].address`, `routes[0].nexthop`, `default_gateway`: the key of a
    /// router refusal within its router.
    static func routerKey(_ error: DatapathConfigurationError, configuration: RouterConfiguration) -> String {
        guard let subject = error.part else { return error.key }
        if let i = configuration.interfaces.firstIndex(where: { $0.name == subject }) { return "interfaces[\(i)].\(error.key)" }
        return "\(subject).\(error.key)"
    }

    /// The router called `name`, if any.
    public func router(named name: String) -> DatapathRouter? { routers.first { $0.name == name } }

    /// Frames the services hold (routers' frames waiting for ARP answers): not in the
    /// pool, on no port's queue.
    public var serviceFramesHeld: Int { services.framesHeld }

    // MARK: Per packet

    /// Hands a frame sent to service port `outID` to its service, with the metadata of
    /// its parse fixed for the frame as it is now.
    @inlinable
    func deliverToService(address: UInt64, length: UInt32, to outID: PortID, depth: Int, now: UInt64) {
        let out = fastPorts[outID]
        var address = address
        var length = length
        var frame = pool.pointer(address)
        var meta = frameMeta[depth]
        // Tags on the frame now (the parser allows two).
        var tags = 0
        var type = frame.loadBE16(at: 12)
        if type == 0x8100 || type == 0x88A8 {
            tags = 1
            if out.tag != 0 && frame.loadBE16(at: 14) & 0x0FFF == out.tag {
                // An access port's egress step (`output:` leaves the tag on).
                memmove(frame + 4, frame, 12)
                address &+= 4
                length &-= 4  // a tagged frame is at least 18 bytes (the parser checked)
                frame = pool.pointer(address)
                type = frame.loadBE16(at: 12)
                tags = type == 0x8100 || type == 0x88A8 ? 1 : 0
            } else if length >= 22 {
                let inner = frame.loadBE16(at: 16)
                if inner == 0x8100 || inner == 0x88A8 { tags = 2 }
            }
        }
        let shift = (Int(meta.vlanCount) &- tags) &* 4
        if shift != 0 {
            meta.l3Offset = UInt16(truncatingIfNeeded: Int(meta.l3Offset) &- shift)
            if meta.l4Offset != 0 { meta.l4Offset = UInt16(truncatingIfNeeded: Int(meta.l4Offset) &- shift) }
            meta.vlanCount = UInt8(truncatingIfNeeded: tags)
            if tags == 0 { meta.outerTPID = 0; meta.outerTCI = 0; meta.innerTCI = 0 }
        }
        out.counters.transmitted(bytes: length)
        if tracer.active.pointee { recordServiceTrace(outID: outID, meta: meta) }
        // `_withUnsafeGuaranteedRef`: the datapath keeps the services alive, so the call
        // needs no retain/release around it (`takeUnretainedValue()` costs one of each,
        // measured with callgrind).
        let target = services.targets[outID.index]
        switch target.kind {
        case ServiceKind.router.rawValue:
            services.routerTable[target.index]._withUnsafeGuaranteedRef {
                $0.receive(address: address, length: length, meta: meta, on: target.element, now: DatapathInstant(nanoseconds: now))
            }
        case ServiceKind.dhcp.rawValue:
            services.dhcpTable[target.index]._withUnsafeGuaranteedRef { $0.receive(address: address, length: length, meta: meta) }
        default:
            drop(address, reason: .portDown, port: outID)
        }
    }

    /// Describes the frame of `ctx` in `frameMeta[ctx.depth]` as the flow actions left
    /// it (`writeKeyToFrame` has written the key into the frame): what actions change, from the key
    /// and the context's offsets.
    @inlinable
    func refreshFrameMeta(_ ctx: inout FlowContext) {
        // inout: read in place (a FlowContext is 350 bytes; by value it is copied).
        let slot = frameMeta + ctx.depth
        slot.pointee.dlDst = ctx.frameKey.dlDst
        slot.pointee.dlSrc = ctx.frameKey.dlSrc
        if ctx.frameKey.hasVLAN {
            slot.pointee.outerTCI = ctx.frameKey.wireTCI
            if slot.pointee.vlanCount == 0 { slot.pointee.vlanCount = 1; slot.pointee.outerTPID = 0x8100 }
        } else if slot.pointee.vlanCount > 0 {
            slot.pointee.vlanCount = 0
            slot.pointee.outerTPID = 0
            slot.pointee.outerTCI = 0
        }
        slot.pointee.l3Offset = UInt16(truncatingIfNeeded: ctx.l3Offset)
        slot.pointee.l4Offset = UInt16(truncatingIfNeeded: ctx.l4Offset)
        guard ctx.isIPv4 else { return }
        slot.pointee.nwTTL = ctx.frameKey.nwTTL
        slot.pointee.nwTOS = ctx.frameKey.nwTOS
        slot.pointee.nwSrc = ctx.frameKey.nwSrc
        slot.pointee.nwDst = ctx.frameKey.nwDst
        slot.pointee.tpSrc = ctx.frameKey.tpSrc
        slot.pointee.tpDst = ctx.frameKey.tpDst
    }

    // MARK: Between batches

    /// Runs the services' timers (router ARP retransmission and give-up, the routers' NAT
    /// connections past their expiration) when due, then enters what the services emitted
    /// into their bridges. `tick` calls it. Each timer catches up on every deadline that
    /// passed by `now` in this one call.
    @inlinable
    func runServices(now: UInt64) {
        for r in 0..<services.routerCount {
            services.routerTable[r]._withUnsafeGuaranteedRef { router in
                if now >= router.state.pointee.nextServiceTime { router.service(now: DatapathInstant(nanoseconds: now)) }
                router.expireConnections(now: DatapathInstant(nanoseconds: now))
            }
        }
        drainServices(now: now)
    }

    /// Enters every frame on the services' output queues into the bridge of its service
    /// port, round after round while replies keep coming, at most `maximumPatchDepth`
    /// rounds; what is left after the last is dropped (`patch-loop`).
    @inlinable
    func drainServices(now: UInt64) {
        let scratch = services.scratch.storage
        var round = 0
        while true {
            var moved = false
            for s in 0..<services.outputCount {
                let output = services.outputs[s]
                let n = output.queue.countPointer.pointee
                if n == 0 { continue }
                moved = true
                if round >= Datapath.maximumPatchDepth {
                    for i in 0..<n { drop(output.queue.addresses[i], reason: .patchLoop, port: output.portID) }
                    output.queue.countPointer.pointee = 0
                    continue
                }
                // The service may queue more while these run: take the batch out first.
                memcpy(scratch.addresses, output.queue.addresses, n &* MemoryLayout<UInt64>.stride)
                memcpy(scratch.lengths, output.queue.lengths, n &* MemoryLayout<UInt32>.stride)
                output.queue.countPointer.pointee = 0
                for i in 0..<n {
                    ingress(address: scratch.addresses[i], length: scratch.lengths[i], port: output.portID, now: now,
                            depth: 0, tunnelID: 0)
                }
            }
            if !moved || round >= Datapath.maximumPatchDepth { return }
            round &+= 1
        }
    }
}
