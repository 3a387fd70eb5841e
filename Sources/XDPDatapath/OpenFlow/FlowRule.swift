/// One flow as `ovs-ofctl add-flow` describes it: where it sits (table, priority), how it
/// is identified and aged (cookie, timeouts), what it matches and what it does.
///
/// `actions` is a POD array executed per packet. Variable-size action arguments live in
/// the side tables below and are referenced by index from the action (`FlowAction`).
/// A rule is a value; build one with `FlowParser.parse(_:)` or field by field.
public struct FlowRule: Hashable, Sendable {
    /// The OpenFlow default priority.
    public static let defaultPriority: UInt16 = 32768

    /// The table the flow sits in (`table=`), 0 by default.
    public var table: UInt8 = 0
    /// Among the flows of its table that match, the highest priority wins (`priority=`).
    public var priority: UInt16 = FlowRule.defaultPriority
    /// An opaque 64-bit tag for the controller (`cookie=`); `del-flows cookie=V/M` selects by it.
    public var cookie: UInt64 = 0
    /// Seconds without a matching packet before the flow expires; 0: never.
    public var idleTimeout: UInt16 = 0
    /// Seconds after installation before the flow expires; 0: never.
    public var hardTimeout: UInt16 = 0
    /// The fields the flow matches, as value and mask.
    public var match = FlowMatch()
    /// The action list; empty means drop.
    public var actions: [FlowAction] = []

    /// Actions nested in `ct(exec(...))`, referenced by `ConntrackAction.actions`.
    public var nestedActions: [FlowAction] = []
    /// `learn(...)` arguments, referenced by `FlowAction.learn`.
    public var learns: [LearnAction] = []
    /// `ct(...)` arguments, referenced by `FlowAction.conntrack`.
    public var conntrack: [ConntrackAction] = []
    /// `note:` bytes, referenced by `FlowAction.note`.
    public var notes: [[UInt8]] = []

    /// A rule with no timeouts and no side tables; actions that reference side tables need them filled too.
    public init(table: UInt8 = 0, priority: UInt16 = FlowRule.defaultPriority, cookie: UInt64 = 0,
                match: FlowMatch = FlowMatch(), actions: [FlowAction] = []) {
        self.table = table
        self.priority = priority
        self.cookie = cookie
        self.match = match
        self.actions = actions
    }

    /// The `exec(...)` actions of `ct` action `index`.
    public func nestedActions(ofConntrack index: Int32) -> ArraySlice<FlowAction> {
        let r = conntrack[Int(index)].actions
        return nestedActions[Int(r.lowerBound)..<Int(r.upperBound)]
    }

    /// Whether some action outputs to `port` (for `out_port=` in del-flows).
    public func outputs(to port: UInt16) -> Bool {
        actions.contains { a in
            switch a {
            case .output(let p): p == port
            case .normal: port == OpenFlowPort.normal
            case .flood: port == OpenFlowPort.flood
            case .all: port == OpenFlowPort.all
            case .inPort: port == OpenFlowPort.inPort
            case .local: port == OpenFlowPort.local
            case .controller: port == OpenFlowPort.controller
            default: false
            }
        }
    }
}

/// Which flows a `del-flows` or `mod-flows` command selects (`FlowParser.parseSelector`).
public struct FlowSelector: Hashable, Sendable {
    /// `table=`; nil: every table.
    public var table: UInt8? = nil
    /// `priority=`; nil: any (loose), or the default priority (strict).
    public var priority: UInt16? = nil
    /// `cookie=V/M`: rules whose `cookie & cookieMask == cookie`. Mask 0: any cookie.
    public var cookie: UInt64 = 0
    /// The mask of `cookie`; 0 selects any cookie.
    public var cookieMask: UInt64 = 0
    /// `out_port=`: only rules that output to this port.
    public var outPort: UInt16? = nil
    /// The selector's match: loosely, rules at least as specific are taken; strictly, only this match.
    public var match = FlowMatch()
    /// For `mod-flows`: the new actions (and their side tables), when `actions=` was given.
    public var replacement: FlowRule? = nil

    /// An empty selector: loosely, every flow of every table.
    public init() {}

    /// Whether the command selects `rule`. Loose (`strict == false`): the rule's match is
    /// at least as specific as the selector's, any priority unless one was given. Strict:
    /// the same match and priority (default 32768).
    public func selects(_ rule: FlowRule, strict: Bool) -> Bool {
        if let t = table, t != rule.table { return false }
        if rule.cookie & cookieMask != cookie & cookieMask { return false }
        if let p = outPort, !rule.outputs(to: p) { return false }
        if strict {
            return rule.priority == (priority ?? FlowRule.defaultPriority) && rule.match == match
        }
        if let p = priority, p != rule.priority { return false }
        return rule.match.isSubset(of: match)
    }
}

/// A flow text that does not parse: the flow, the 1-based column where parsing stopped,
/// and what was expected there.
public struct FlowSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The flow text as given.
    public var flow: String
    /// The 1-based column in `flow` where parsing stopped.
    public var column: Int
    /// What was expected there (`tun_id: expected a number (0x... or decimal)`).
    public var message: String

    /// Builds the error; `column` counts from 1.
    public init(flow: String, column: Int, message: String) {
        self.flow = flow
        self.column = column
        self.message = message
    }

    /// `priority=3,tun_id=zz actions=drop: column 19: tun_id: expected a number (0x... or decimal)`
    public var description: String { "\(flow): column \(column): \(message)" }
}
