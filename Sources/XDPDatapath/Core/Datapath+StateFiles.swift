// Which state file each connection tracker of a datapath keeps its connections in
// (StateFile.swift): in `DatapathConfiguration.stateDirectory`,
//
//     conntrack.state             the tracker behind ct() (security groups, flows)
//     router-NAME.nat.state       each router's NAT tracker (its translations)
//
// A file per tracker rather than one file for all: each has its own geometry, so a
// router added, removed or resized at run time gets, drops or replaces its own file
// without moving the others, and a mismatch refuses only the table that changed.

extension DatapathConfiguration {
    /// This configuration with the state file of the tracker and of every router's NAT
    /// tracker set from `stateDirectory` (those not set already); itself without one.
    public var withStateFiles: DatapathConfiguration {
        guard let directory = stateDirectory else { return self }
        var c = self
        if c.conntrack.stateFile == nil { c.conntrack.stateFile = directory + "/conntrack.state" }
        for r in c.routers.indices where c.routers[r].natStateFile == nil {
            c.routers[r].natStateFile = directory + "/router-" + Self.fileNamePart(c.routers[r].name) + ".nat.state"
        }
        return c
    }

    /// `name` with every character but letters, digits, `.`, `-` and `_` replaced by `_`.
    static func fileNamePart(_ name: String) -> String {
        String(name.unicodeScalars.map { c -> Character in
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
                || (c == "." && name != "." && name != "..")
            return ok ? Character(c) : "_"
        })
    }
}

extension Datapath {
    /// One line per connection tracker with a state file that adopted connections or
    /// refused a file (`ConnectionTracker.stateReport`), prefixed with the tracker's name.
    /// Control path.
    public var stateReports: [String] {
        var lines: [String] = []
        if let line = conntrack?.stateReport { lines.append("conntrack: " + line) }
        for router in routers { if let line = router.conntrack?.stateReport { lines.append("router \(router.name): " + line) } }
        return lines
    }

    /// Marks every state file closed cleanly (`StateFile.markClosed`): the switch stops
    /// forwarding. The files stay mapped and in use until the process ends.
    public func markStateFilesClosed() {
        conntrack?.stateFile?.markClosed()
        for router in routers { router.conntrack?.stateFile?.markClosed() }
    }
}
