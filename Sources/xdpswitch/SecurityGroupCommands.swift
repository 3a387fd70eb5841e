import ArgumentParser
import Foundation
import XDPSwitch

/// `xdpswitch set-security-groups FILE`: replace the running switch's security groups
/// and port bindings (docs/security-groups.md).
struct SetSecurityGroupsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("set-security-groups")
    @Argument(help: "A YAML file with security_groups: and ports: sections.") var file: String
    @OptionGroup var control: ControlOption
    func run() throws {
        // The switch reads the file itself: give it an absolute path.
        let path = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        try control.run("set-security-groups", [path])
    }
}
