// The metadata proxy of one network: an HTTP server at 169.254.169.254:80 inside the
// network's metadata namespace (MetadataNamespaces), answering what cloud-init asks
// (MetadataDocuments) for the instance the request comes from.
//
// Which instance: the proxy serves exactly one network, so the TCP source address of the
// connection names one port — the API server looks up (network id, address)
// (`GET /v2.0/xdpswitch/metadata/instance`). Two tenants with the same CIDR have two
// networks, two namespaces and two proxies, so 10.0.0.5 of one is never 10.0.0.5 of the
// other. Nothing the VM writes is believed: `X-Forwarded-For` and friends are ignored (the
// VM could name any address), and the source address itself cannot be forged past the
// VM's security group (its port's anti-spoofing flows) nor, without port security, reach
// another network.
//
// This is the work of Neutron's `neutron-ns-metadata-proxy` (haproxy in the `qdhcp-`
// namespace) and its metadata agent together; the instance data comes from the network
// model rather than from Nova.
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The request context: Hummingbird's, plus the connection's peer address.
public struct MetadataRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer: the VM.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// One network's metadata proxy (see the essay above).
public struct MetadataProxy: Sendable {
    public let networkID: String
    public let upstream: MetadataUpstream

    public init(networkID: String, upstream: MetadataUpstream) {
        self.networkID = networkID
        self.upstream = upstream
    }

    /// Serves on `host:port` until SIGINT/SIGTERM; `onRunning` gets the bound port. `logger`
    /// gets one line per request: method, path, the VM's address, status (5xx at `error`, the
    /// rest at `info`).
    public func run(host: String, port: Int, logger: Logger = Logger(label: "xdpswitch.metadata-proxy"),
                    onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router(context: MetadataRequestContext.self)
        router.add(middleware: Responder(proxy: self, logger: logger))
        // Hummingbird's own lines (its start, its shutdown) only from notice up.
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let app = Application(router: router,
                              configuration: .init(address: .hostname(host, port: port), serverName: "xdpswitch-metadata"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                              logger: serverLogger)
        try await app.runService()
    }

    /// The answer to GET `path` from `peer` (an IPv4 address as text).
    public func answer(path: String, peer: String?) async -> MetadataDocuments.Document {
        if let listing = MetadataDocuments.listing(path) { return listing }
        guard let peer, Self.isIPv4(peer) else {
            return .init(status: 400, contentType: "text/plain; charset=utf-8", body: "metadata is served to IPv4 clients only\n")
        }
        let query = "network_id=\(Self.percentEncoded(networkID))&ip_address=\(peer)"
        let instance: MetadataInstance
        do {
            let reply = try await upstream.get("/v2.0/xdpswitch/metadata/instance?\(query)")
            switch reply.status {
            case 200:
                instance = try MetadataInstance.decode(reply.body)
            case 404:
                return .init(status: 404, contentType: "text/plain; charset=utf-8",
                             body: "no instance on network \(networkID) has the address \(peer)\n")
            default:
                return .init(status: 502, contentType: "text/plain; charset=utf-8",
                             body: "the metadata server answered \(reply.status): \(String(decoding: reply.body.prefix(400), as: UTF8.self))\n")
            }
        } catch {
            return .init(status: 502, contentType: "text/plain; charset=utf-8", body: "the metadata server cannot be reached: \(error)\n")
        }
        return MetadataDocuments.document(path, for: instance)
    }

    /// The peer address as the lookup wants it: IPv4 text (an IPv4-mapped IPv6 peer unwrapped).
    static func peerText(_ address: SocketAddress?) -> String? {
        guard let ip = address?.ipAddress else { return nil }
        return ip.hasPrefix("::ffff:") ? String(ip.dropFirst(7)) : ip
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? ""
    }

    /// Answers every request (GET/HEAD) without routing: the paths are MetadataDocuments'.
    struct Responder: RouterMiddleware {
        typealias Context = MetadataRequestContext
        let proxy: MetadataProxy
        let logger: Logger

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            let peer = MetadataProxy.peerText(context.remoteAddress)
            guard request.method == .get || request.method == .head else {
                logger.info("\(request.method) \(request.uri.path) 405", metadata: ["peer": "\(peer ?? "?")"])
                return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD"])
            }
            let document = await proxy.answer(path: request.uri.path, peer: peer)
            logger.log(level: document.status >= 500 ? .error : .info, "\(request.method) \(request.uri.path) \(document.status)",
                       metadata: ["peer": "\(peer ?? "?")", "bytes": "\(document.body.utf8.count)"])
            return Response(status: HTTPResponse.Status(code: document.status), headers: [.contentType: document.contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: document.body)))
        }
    }
}
