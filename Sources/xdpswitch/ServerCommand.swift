import ArgumentParser
#if canImport(NeutronAPI)
import Dispatch
import Foundation
import Logging
import NeutronAPI
import NeutronModel
import Synchronization

/// `xdpswitch server`: the Networking API v2.0 (no authentication) over the model store.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Serve the Neutron Networking API v2.0 (no auth) that the openstack client drives.",
        discussion: """
        The model is kept in a SQLite file (the default) or a PostgreSQL database that several \
        servers may share. Segment options follow ML2's ml2_conf.ini.
        Example: xdpswitch server --listen 127.0.0.1:9696 --database /var/lib/xdpswitch/model.db
                 openstack --os-auth-type none --os-endpoint http://127.0.0.1:9696 network list
        """)

    @Option(name: .long, help: ArgumentHelp("Address and port to listen on (port 0: any free port).", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:9696"

    @Option(name: .long, help: ArgumentHelp("A SQLite file, or postgres://USER@HOST:PORT/DB (?host=DIR for a unix socket).",
                                            valueName: "PATH|URL"))
    var database = "xdpswitch-model.db"

    @Option(name: .customLong("tenant-network-types"), help: "Segment types of tenant networks, tried in order.")
    var tenantNetworkTypes = "gre"

    @Option(name: .customLong("flat-networks"), help: "Physical networks flat networks may use ('*': any).")
    var flatNetworks = "*"

    @Option(name: .customLong("network-vlan-ranges"), help: ArgumentHelp("VLAN physical networks and ranges.", valueName: "PHYSNET[:MIN:MAX],…"))
    var vlanRanges = "physnet1:1:4094"

    @Option(name: .customLong("tunnel-id-ranges"), help: ArgumentHelp("GRE tunnel ids for tenant networks.", valueName: "MIN:MAX,…"))
    var tunnelIDRanges = "1:1000"

    @Option(name: .customLong("vni-ranges"), help: ArgumentHelp("VXLAN VNIs for tenant networks.", valueName: "MIN:MAX,…"))
    var vniRanges = "1:1000"

    @Option(name: .customLong("agent-down-time"),
            help: ArgumentHelp("Seconds without a heartbeat after which an agent is not alive (Neutron's agent_down_time).", valueName: "SECONDS"))
    var agentDownTime: Double = 75

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard agentDownTime > 0, agentDownTime.isFinite else { throw ValidationError("--agent-down-time must be a positive number of seconds") }
        _ = try endpoint()
        _ = try settings()
    }

    func endpoint() throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen \(listen): expected HOST:PORT")
        }
        return (String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func settings() throws -> ML2Settings {
        var settings = ML2Settings()
        do {
            settings.tenantNetworkTypes = tenantNetworkTypes.split(separator: ",").map(String.init)
            settings.flatNetworks = flatNetworks.split(separator: ",").map(String.init)
            settings.vlanRanges = try ML2Settings.parseVLANRanges(vlanRanges)
            settings.greRanges = try ML2Settings.parseRanges(tunnelIDRanges, valid: 1...Int(UInt32.max))
            settings.vxlanRanges = try ML2Settings.parseRanges(vniRanges, valid: 1...(1 << 24 - 1))
        } catch let error as StoreError {
            throw ValidationError(error.description)
        }
        return settings
    }

    func run() throws {
        try logging.bootstrap()
        let (host, port) = try endpoint()
        let settings = try settings()
        let database = database
        let agentDownTime = agentDownTime
        // ArgumentParser runs a synchronous root command: the server runs on the concurrency
        // pool while this thread waits for it to stop.
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do {
                let store = try await openModelStore(database)
                let service = NetworkingService(store: store, settings: settings, agentDownTime: agentDownTime)
                let logger = Logger(label: "xdpswitch.server")
                // The first line: a parent reading the pipe learns the port from it (unbuffered).
                try await NeutronAPIServer.run(service, host: host, port: port, logger: logger) { boundPort in
                    logger.notice("Networking API v2.0 on http://\(host):\(boundPort) (database \(database))")
                }
                await store.close()
                logger.notice("stopped")
            } catch {
                failure.set("\(error)")
            }
            done.signal()
        }
        done.wait()
        if let message = failure.get() { throw ValidationError("server: \(message)") }
    }
}

/// The error of the server task, handed to the waiting thread.
private final class FailureBox: Sendable {
    private let message = Mutex<String?>(nil)
    func set(_ text: String) { message.withLock { $0 = text } }
    func get() -> String? { message.withLock { $0 } }
}

/// The control plane's verbs (`server`), when the package was built with it
/// (XDPSWITCH_CONTROL_PLANE=0 leaves it out, Package.swift).
enum ControlPlaneCommands {
    static var all: [ParsableCommand.Type] { [ServerCommand.self] }
}
#else
enum ControlPlaneCommands {
    static var all: [ParsableCommand.Type] { [] }
}
#endif
