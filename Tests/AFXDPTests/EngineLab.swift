import AFXDP
import XDPLab
import XDPDatapath

/// Builds an `AFXDPEngine` over `configuration`, starts it and runs `body` with it; the engine is
/// closed however `body` ends (its XDP programs detached, its sockets closed).
func withEngine(_ configuration: DatapathConfiguration, options: EngineConfiguration = EngineConfiguration(),
                _ body: (AFXDPEngine) throws -> Void) throws {
    let engine = try AFXDPEngine(configuration: configuration, options: options)
    defer { engine.close() }
    try engine.start()
    try body(engine)
}

/// A lab of namespaces on veths and the datapath over their switch sides, as the router,
/// NAT and network-node tests build it: `build()` makes the namespaces and veths,
/// `configuration` is the datapath over them.
protocol EngineLab: AnyObject {
    init()
    var lab: LabNetwork { get }
    func build() throws
    var configuration: DatapathConfiguration { get }
}

extension EngineLab {
    /// Builds a lab, starts an engine over its configuration (first changed by `adjust`) and
    /// runs `body` with both; the engine is closed and the lab torn down however `body` ends.
    /// `options`: the engine's (the in-kernel fast path, for one).
    static func withEngine(adjusting adjust: (inout DatapathConfiguration) -> Void = { _ in },
                           options: EngineConfiguration = EngineConfiguration(),
                           _ body: (Self, AFXDPEngine) throws -> Void) throws {
        let node = Self()
        defer { node.lab.tearDown() }
        try node.build()
        var configuration = node.configuration
        adjust(&configuration)
        try AFXDPTests.withEngine(configuration, options: options) { engine in try body(node, engine) }
    }
}
