/// The match part of a flow: a value and a mask `FlowKey` (1 bits must match).
///
/// `value` is always kept masked (`value & mask == value`), so two matches that select
/// the same packets compare equal, and printing (`description`) derives everything —
/// shorthands like `tcp`, `nw_src` vs `arp_spa`, `tp_src` vs `icmp_type` — from the key
/// and mask, the way OVS's `match_format` does. There is no record of which spelling the
/// user typed: `dl_vlan=0xffff` prints back as `vlan_tci=0x0000/0x1fff`, exactly as OVS
/// prints it.
public struct FlowMatch: Hashable, Sendable {
    /// The values the packet's fields must have, always masked by `mask`.
    public var value: FlowKey
    /// Which bits must match (1) and which are wildcarded (0).
    public var mask: FlowKey
    /// `conj_id=N`: the flow runs when conjunctive match N is satisfied (0: no `conj_id`
    /// match). Not part of the packet's key: a packet never carries a conjunction id, the
    /// table's lookup supplies it (FlowTable+Conjunction.swift).
    public var conjunctionID: UInt32 = 0

    /// The match-everything match.
    public init() {
        value = FlowKey()
        mask = FlowKey()
    }

    /// A match of `value` under `mask`; `value` is masked here, so any value may be passed.
    public init(value: FlowKey, mask: FlowKey) {
        self.value = value.masked(by: mask)
        self.mask = mask
    }

    /// Whether a packet with `key` matches.
    @inlinable
    public func matches(_ key: FlowKey) -> Bool { key.matches(value, mask: mask) }

    /// Whether the match selects every packet.
    public var isCatchAll: Bool { mask == FlowKey() && conjunctionID == 0 }

    /// Sets the field (≤ 64 bits) to `value` under `mask`, both right-justified; bits past
    /// the key's storage are ignored.
    public mutating func set(_ field: FlowField, _ value: UInt64, mask: UInt64 = ~0) {
        let bits = Swift.min(field.storage.bits, 64)
        field.set(&self.mask, mask, offset: 0, bits: bits)
        field.set(&self.value, value & mask, offset: 0, bits: bits)
    }

    /// Sets a 128-bit field (`ipv6_src`, `ipv6_dst`) from its high and low halves.
    public mutating func set(_ field: FlowField, high: UInt64, low: UInt64, maskHigh: UInt64 = ~0, maskLow: UInt64 = ~0) {
        precondition(field.storage.bits == 128)
        field.set(&mask, maskLow, offset: 0, bits: 64)
        field.set(&mask, maskHigh, offset: 64, bits: 64)
        field.set(&value, low & maskLow, offset: 0, bits: 64)
        field.set(&value, high & maskHigh, offset: 64, bits: 64)
    }

    /// The field's value (≤ 64 bits of storage).
    public func value(of field: FlowField) -> UInt64 { field.get(value, offset: 0, bits: Swift.min(field.storage.bits, 64)) }

    /// The field's mask (≤ 64 bits of storage).
    public func mask(of field: FlowField) -> UInt64 { field.get(mask, offset: 0, bits: Swift.min(field.storage.bits, 64)) }

    /// Whether every packet this match selects is also selected by `other`
    /// (`other` is at most as specific): what loose `del-flows`/`mod-flows` test.
    public func isSubset(of other: FlowMatch) -> Bool {
        if other.conjunctionID != 0 && other.conjunctionID != conjunctionID { return false }
        for i in 0..<FlowKey.wordCount {
            let om = other.mask[word: i]
            if om & ~mask[word: i] != 0 { return false }
            if value[word: i] & om != other.value[word: i] { return false }
        }
        return true
    }
}
