import XDPDatapath

extension SwitchControl {
    /// Flow-table commands; nil when `request` is not one of them.
    static func handleFlowCommand(_ request: ControlSocket.Request, datapath: Datapath, now: UInt64) -> ControlSocket.Reply? {
        nil
    }
}
