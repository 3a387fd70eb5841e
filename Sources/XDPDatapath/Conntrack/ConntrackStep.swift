/// A `ct(...)` action prepared for the per-packet path when its flow table is built: the
/// NAT request as the tracker takes it, the `ct_mark` its `exec(...)` loads write (value
/// and mask), and where the zone comes from. The action itself (`ConntrackAction`) keeps
/// the rule's words for dump-flows; executing a `ct()` reads only this plain value.
@frozen
@usableFromInline
struct ConntrackStep {
    @usableFromInline let commit: Bool
    /// `table=T`, or -1: the action list goes on after tracking.
    @usableFromInline let table: Int16
    /// `zone=N` when the zone is not read from a field.
    @usableFromInline let fixedZone: UInt16
    /// `zone=FIELD[a..b]` read as one word of the key (fields of at most 64 bits).
    @usableFromInline let zoneReader: FlowKey.WordReader?
    /// `zone=FIELD[a..b]` of a wider field (read through `FlowSubfield.get`).
    @usableFromInline let zoneField: FlowSubfield?
    @usableFromInline let nat: ConntrackNAT
    /// What the `exec(set_field/load:...->ct_mark)` actions write: bits of `markMask`
    /// become those of `markValue`.
    @usableFromInline let markValue: UInt32
    @usableFromInline let markMask: UInt32

    init(_ action: ConntrackAction, nested: [FlowAction]) {
        commit = action.commit
        table = action.table.map { Int16($0) } ?? -1
        fixedZone = action.zone
        zoneReader = action.zoneReader
        zoneField = action.zoneReader == nil ? action.zoneField : nil
        nat = action.nat.map { ConntrackNAT($0) } ?? .none
        var value: UInt32 = 0
        var mask: UInt32 = 0
        for i in Int(action.actions.lowerBound)..<Int(action.actions.upperBound) where i < nested.count {
            guard case .load(let field, let loaded) = nested[i], field.field == .ctMark else { continue }
            let bits = UInt32(truncatingIfNeeded: field.bits >= 32 ? UInt32.max : (1 << UInt32(field.bits)) &- 1)
            let m = bits << UInt32(field.offset)
            mask |= m
            value = value & ~m | (UInt32(truncatingIfNeeded: loaded) << UInt32(field.offset)) & m
        }
        markValue = value
        markMask = mask
    }

    /// The zone of the packet with key `key`.
    @inlinable @inline(__always)
    func zone(of key: inout FlowKey) -> UInt16 {
        if let reader = zoneReader { return UInt16(truncatingIfNeeded: reader.read(&key)) }
        if let field = zoneField { return UInt16(truncatingIfNeeded: field.get(key)) }
        return fixedZone
    }
}
