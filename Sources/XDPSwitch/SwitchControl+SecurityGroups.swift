import Foundation
import XDPDatapath
import XDPModel

extension SwitchControl {
    /// Security-group commands; nil when `request` is not one of them.
    ///
    /// - `set-security-groups FILE`: reads FILE (`security_groups:` and `ports:`, the
    ///   schema of docs/security-groups.md) and makes it the firewall of the bound ports'
    ///   bridge: the whole table is replaced at once and connections the new rules no
    ///   longer allow are cut. The file gives the whole desired state.
    static func handleSecurityGroupCommand(_ request: ControlSocket.Request, datapath: Datapath, now: UInt64) -> ControlSocket.Reply? {
        guard request.command == "set-security-groups" else { return nil }
        guard request.arguments.count == 1 else { return .failure("usage: set-security-groups FILE") }
        let path = request.arguments[0]
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return .failure("\(path): cannot read the file") }
        do {
            let sg = try SwitchConfiguration.parseSecurityGroups(yaml: text, file: path, datapath: datapath)
            let update = try datapath.applySecurityGroups(sg, now: now)
            return .success("\(sg.bridge): \(update.flows) flows, \(update.connectionsCut) connection\(update.connectionsCut == 1 ? "" : "s") cut\n")
        } catch {
            return .failure("\(error)")
        }
    }
}
