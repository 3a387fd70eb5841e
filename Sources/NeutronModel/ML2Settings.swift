import Foundation

/// How networks get their segments, as ML2's type drivers are configured in Neutron
/// (`ml2_conf.ini`): which types tenant networks get, which physical networks flat and VLAN
/// networks may use, and the ranges ids are allocated from.
///
/// The defaults are a typical ML2 set-up: flat networks on any physical network name, VLAN
/// networks on `physnet1` (ids 1–4094 valid and allocated), tenant networks without provider
/// attributes on GRE (tunnel ids 1–1000), VXLAN VNIs 1–1000.
public struct ML2Settings: Sendable {
    /// Types tried in order for a network created without `provider:network_type`.
    public var tenantNetworkTypes: [String] = ["gre"]
    /// Physical networks flat networks may use; `*` allows any name.
    public var flatNetworks: [String] = ["*"]
    /// Physical networks VLAN networks may use, each with the range tenant VLANs are allocated
    /// from (nil: provider networks only).
    public var vlanRanges: [String: ClosedRange<Int>?] = ["physnet1": 1...4094]
    public var greRanges: [ClosedRange<Int>] = [1...1000]
    public var vxlanRanges: [ClosedRange<Int>] = [1...1000]
    /// The MTU of the physical network; tunnels subtract their overhead (GRE 42, VXLAN 50).
    public var physicalMTU = 1500

    public init() {}

    /// The valid ids of a segment type (what a given `provider:segmentation_id` is checked against).
    static func validRange(_ type: String) -> ClosedRange<Int> {
        switch type {
        case "vlan": return 1...4094
        case "vxlan": return 1...(1 << 24 - 1)
        default: return 1...Int(UInt32.max)
        }
    }

    /// The MTU of a new network of `type`.
    func mtu(_ type: String) -> Int {
        switch type {
        case "gre": return physicalMTU - 42
        case "vxlan": return physicalMTU - 50
        default: return physicalMTU
        }
    }

    /// Parses `PHYSNET[:MIN:MAX],…` (ML2's `network_vlan_ranges`).
    public static func parseVLANRanges(_ text: String) throws -> [String: ClosedRange<Int>?] {
        var result: [String: ClosedRange<Int>?] = [:]
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: ":").map(String.init)
            if parts.count == 1 { result[parts[0]] = .some(nil); continue }
            guard parts.count == 3, let low = Int(parts[1]), let high = Int(parts[2]), 1 <= low, low <= high, high <= 4094 else {
                throw StoreError("invalid VLAN range '\(item)' (want PHYSNET or PHYSNET:MIN:MAX with 1 <= MIN <= MAX <= 4094)")
            }
            result[parts[0]] = low...high
        }
        return result
    }

    /// Parses `MIN:MAX,…` (ML2's `tunnel_id_ranges` / `vni_ranges`).
    public static func parseRanges(_ text: String, valid: ClosedRange<Int>) throws -> [ClosedRange<Int>] {
        try text.split(separator: ",").map { item in
            let parts = item.split(separator: ":").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, valid.contains(parts[0]), valid.contains(parts[1]), parts[0] <= parts[1] else {
                throw StoreError("invalid range '\(item)' (want MIN:MAX within \(valid.lowerBound)-\(valid.upperBound))")
            }
            return parts[0]...parts[1]
        }
    }
}

