import Foundation
import XDPDatapath
import XDPModel

extension SwitchControl {
    /// Security-group commands. `set-security-groups FILE` reads FILE
    /// (`security_groups:` and `ports:`, the schema of docs/security-groups.md) and makes
    /// it the firewall of the bound ports' bridge: the whole table is replaced at once and
    /// connections the new rules no longer allow are cut. The file gives the whole desired
    /// state; a refused file changes nothing.
    static let securityGroupCommands: [ControlCommand] = [
        ControlCommand("set-security-groups", "FILE",
                       summary: "make FILE's security_groups:/ports: the firewall (docs/security-groups.md)") { call in
            let path = call.arguments[0]
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ControlCommand.Failure("\(path): cannot read the file")
            }
            let sg = try SwitchConfiguration.parseSecurityGroups(yaml: text, file: path, datapath: call.datapath)
            let update = try call.datapath.applySecurityGroups(sg, now: call.now)
            return "\(sg.bridge): \(update.flows) flows, \(update.connectionsCut) connection\(update.connectionsCut == 1 ? "" : "s") cut\n"
        },
    ]
}
