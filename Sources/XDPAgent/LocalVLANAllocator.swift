/// Neutron's local VLANs: each network present on the node gets a VLAN id of its own
/// inside br-int (1-4094), meaningful on this node only; br-tun and the physical bridges
/// translate it to the network's segment on the wire.
///
/// Stable and deterministic, as the Open vSwitch agent's `LocalVlanManager`: a network
/// keeps the VLAN it had (`previous`) for as long as it stays on the node, so recompiling
/// after a change elsewhere rewrites none of its flows and none of its ports' tags; a new
/// network takes the lowest free id, new networks in the order of their ids, so the same
/// view and the same previous allocation always give the same answer. A network that
/// leaves frees its id.
public enum LocalVLANAllocator {
    /// The usable ids (0 is "untagged", 4095 is reserved).
    public static let range: ClosedRange<UInt16> = 1...4094

    /// The allocation for `networks` (the ids of the networks present on the node),
    /// keeping every entry of `previous` whose network is still present.
    /// - Throws: more networks than `range` holds.
    public static func allocate(networks: some Sequence<String>, previous: [String: UInt16]) throws(AgentError) -> [String: UInt16] {
        let present = Set(networks)
        var allocation: [String: UInt16] = [:]
        var used = Set<UInt16>()
        // Kept ones first, in id order so that a (corrupt) previous map giving one VLAN to two
        // networks keeps it for the first and renumbers the other.
        for (network, vlan) in previous.sorted(by: { $0.key < $1.key }) where present.contains(network) && range.contains(vlan) {
            if used.insert(vlan).inserted { allocation[network] = vlan }
        }
        var next = range.lowerBound
        for network in present.sorted() where allocation[network] == nil {
            while used.contains(next) {
                guard next < range.upperBound else {
                    throw AgentError("networks", "\(present.count) networks on one node: more than the \(range.count) local VLANs br-int has")
                }
                next += 1
            }
            allocation[network] = next
            used.insert(next)
        }
        return allocation
    }
}
