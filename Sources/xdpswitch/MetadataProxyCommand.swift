import ArgumentParser
#if canImport(XDPMetadata)
import Dispatch
import Foundation
import Logging
import XDPMetadata

/// `xdpswitch agent metadata-proxy`: one network's metadata proxy (docs/agent-protocol.md,
/// "Metadata"), run by the agent inside the network's metadata namespace.
struct MetadataProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata-proxy",
        abstract: "Answer instance metadata at 169.254.169.254 for one network's VMs.",
        discussion: """
        Serves the OpenStack (/openstack/latest/meta_data.json, network_data.json) and EC2 \
        (/latest/meta-data/) trees to the VMs of --network-id, each request for the instance whose \
        port on that network has the request's source address, as the API server at --server says. \
        The agent starts it inside the network's metadata namespace with --server-netns naming its \
        own namespace, from where the server is reached.
        Example: ip netns exec xdsmeta-5c2d8e1a-7b xdpswitch agent metadata-proxy \\
                   --server http://192.0.2.10:9696 --network-id 5c2d8e1a-7b3f-4a9e-8d21-0f6b2c4a9e11 \\
                   --server-netns /proc/1/ns/net
        """)

    @Option(name: .long, help: ArgumentHelp("The API server (xdpswitch server).", valueName: "http://HOST:PORT"))
    var server: String

    @Option(name: .customLong("network-id"), help: "The network whose VMs this proxy answers.")
    var networkID: String

    @Option(name: .long, help: ArgumentHelp("Address and port to listen on (port 0: any free port).", valueName: "HOST:PORT"))
    var listen = "169.254.169.254:80"

    @Option(name: .customLong("server-netns"), help: ArgumentHelp("The network namespace to reach the server from (default: this one).",
                                                                  valueName: "PATH"))
    var serverNetns: String?

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        try logging.bootstrap()
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen \(listen): expected HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let upstream: MetadataUpstream
        do {
            upstream = try MetadataUpstream(serverURL: server, serverNamespace: serverNetns)
        } catch {
            throw ValidationError(error.description)
        }
        let proxy = MetadataProxy(networkID: networkID, upstream: upstream)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: String?
        let networkID = networkID
        Task {
            let logger = Logger(label: "xdpswitch.metadata-proxy")
            do {
                try await proxy.run(host: host, port: port, logger: logger) { bound in
                    logger.notice("network \(networkID) on http://\(host):\(bound)")
                }
                logger.notice("stopped")
            } catch {
                failure = "\(error)"
            }
            done.signal()
        }
        done.wait()
        if let failure { throw ValidationError("metadata-proxy: \(failure)") }
    }
}

#endif
