import AFXDP
import XDPControl

extension AFXDPEngine {
    /// Answers one control-socket request (`show`, `dump-flows br-tun`, `fdb/show`, ...)
    /// with the running datapath, between two iterations of the worker: what `xdpswitch
    /// run` and `xdpswitch agent` serve on `--control`. **Blocks the calling thread** (the
    /// control server's) until the worker has run it.
    public func answerControlRequest(_ request: ControlSocket.Request) -> ControlSocket.Reply {
        perform { datapath, now in SwitchControl.handle(request, datapath: datapath, now: now) }
            ?? .failure("no datapath")
    }
}
