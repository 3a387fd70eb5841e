// What a datapath learned from traffic — the bridges' MAC tables and the routers'
// neighbours — as text that a restarted switch reads back before its first packet, so
// it neither floods frames to hosts it knew nor holds routed packets for ARP answers it
// already had.
//
// Unlike the connection trackers (StateFile.swift), losing a little of this is harmless
// (a flood, an ARP request), and the tables are small: a snapshot taken on the worker
// between two batches (`learnedState`) and written by the caller (`xdpswitch run` does it
// every second and at exit) is enough, and costs the per-packet path nothing. Entries
// are named by bridge, port and router rather than by internal ids, so a snapshot taken
// under one configuration restores what still makes sense under another:
//
//     xdpswitch-learned 1 <boot id>
//     mac <bridge> <port> <vlan> <mac, hex> <seen, CLOCK_BOOTTIME ns>
//     neighbour <router> <address, hex> <mac, hex>
//
// Restoring (`restore(learned:now:)`) skips a snapshot of another boot (its times mean
// nothing), lines it does not understand, ports and routers that no longer exist, and
// MAC entries past the aging time; MAC entries are learned at their own time, oldest first,
// so each keeps its age.

import XDPPacket

/// A snapshot of what a datapath learned (see the top of Datapath+LearnedState.swift).
public struct LearnedState: Sendable, Equatable {
    /// One learned MAC table entry.
    public struct MACEntry: Sendable, Equatable {
        /// The bridge's name.
        public var bridge: String
        /// The name of the port the address was learned on.
        public var port: String
        /// The bridge-local VLAN it was learned in.
        public var vlan: UInt16
        /// The MAC address in the low 48 bits.
        public var mac: UInt64
        /// When it was last seen, on the datapath clock.
        public var seen: DatapathInstant
    }

    /// One resolved neighbour of a router (an ARP answer).
    public struct Neighbour: Sendable, Equatable {
        /// The router's name.
        public var router: String
        /// The neighbour's IPv4 address, host order.
        public var address: UInt32
        /// Its MAC address in the low 48 bits.
        public var mac: UInt64
    }

    /// The bridges' MAC entries, every bridge together.
    public var macEntries: [MACEntry] = []
    /// The routers' neighbours, every router together.
    public var neighbours: [Neighbour] = []
    /// The boot the times are from (`StateFile.currentBootID()`).
    public var bootID: String

    /// An empty snapshot of `bootID` (by default the running boot).
    public init(bootID: String = StateFile.currentBootID()) { self.bootID = bootID }

    static let magic = "xdpswitch-learned"
    static let version = 1

    /// The snapshot as text (the format at the top of Datapath+LearnedState.swift).
    public var text: String {
        var lines = ["\(Self.magic) \(Self.version) \(bootID)"]
        for e in macEntries {
            lines.append("mac \(e.bridge) \(e.port) \(e.vlan) \(String(e.mac, radix: 16)) \(e.seen.nanoseconds)")
        }
        for n in neighbours {
            lines.append("neighbour \(n.router) \(String(n.address, radix: 16)) \(String(n.mac, radix: 16))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads `text`; nil when it is not a snapshot of this version (lines within it that do
    /// not parse are skipped).
    public init?(text: String) {
        let lines = text.split(separator: "\n")
        guard let first = lines.first else { return nil }
        let header = first.split(separator: " ")
        guard header.count == 3, header[0] == Self.magic, header[1] == "\(Self.version)" else { return nil }
        bootID = String(header[2])
        for line in lines.dropFirst() {
            let f = line.split(separator: " ")
            if f.count == 6, f[0] == "mac", let vlan = UInt16(f[3]), let mac = UInt64(f[4], radix: 16), mac >> 48 == 0,
               let seen = UInt64(f[5]) {
                macEntries.append(MACEntry(bridge: String(f[1]), port: String(f[2]), vlan: vlan, mac: mac, seen: DatapathInstant(nanoseconds: seen)))
            } else if f.count == 4, f[0] == "neighbour", let address = UInt32(f[2], radix: 16), address != 0,
                      let mac = UInt64(f[3], radix: 16), mac >> 48 == 0 {
                neighbours.append(Neighbour(router: String(f[1]), address: address, mac: mac))
            }
        }
    }
}

extension Datapath {
    /// What the bridges and routers learned that is still live at `now` (control path,
    /// on the thread that runs the datapath).
    public func learnedState(now instant: DatapathInstant) -> LearnedState {
        let now = instant.nanoseconds
        var state = LearnedState()
        for bridge in bridges {
            let table = bridge.macTable
            for i in 0...table.mask where table.isLive(i, now: now) {
                let port = Int(table.ports[i])
                guard port >= 0, port < ports.count else { continue }
                state.macEntries.append(.init(bridge: bridge.name, port: ports[port].name, vlan: UInt16(table.keys[i] >> 48),
                                              mac: table.keys[i] & 0xFFFF_FFFF_FFFF, seen: DatapathInstant(nanoseconds: table.seen[i])))
            }
        }
        for router in routers {
            for (address, mac) in router.neighbours.entries {
                state.neighbours.append(.init(router: router.name, address: address, mac: mac))
            }
        }
        return state
    }

    /// Learns back what `state` holds (see the top of Datapath+LearnedState.swift). Returns
    /// the MAC entries and neighbours restored.
    @discardableResult
    public func restore(learned state: LearnedState, now instant: DatapathInstant) -> (macEntries: Int, neighbours: Int) {
        let now = instant.nanoseconds
        guard state.bootID == StateFile.currentBootID() else { return (0, 0) }
        var macs = 0, neighbours = 0
        for e in state.macEntries.sorted(by: { $0.seen < $1.seen }) where e.seen <= instant {
            guard let bridge = bridge(named: e.bridge), let port = port(named: e.port), bridge.portIDs.contains(port.id),
                  now &- e.seen.nanoseconds < bridge.macTable.storage.agingTime else { continue }
            bridge.macTable.learn(e.mac, vlan: e.vlan, port: port.id, now: e.seen)
            macs += 1
        }
        for n in state.neighbours {
            guard let router = routers.first(where: { $0.name == n.router }) else { continue }
            // Only a neighbour on one of the router's subnets (as ARP would have taught it).
            guard router.interfaces.contains(where: { $0.subnet.contains(IPv4Address(rawValue: n.address)) }) else { continue }
            router.learn(n.address, mac: n.mac, askedFor: true)  // it was in the table: not a stranger
            neighbours += 1
        }
        return (macs, neighbours)
    }
}
