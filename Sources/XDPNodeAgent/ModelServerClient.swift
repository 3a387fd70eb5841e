import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the agent tells the server on registration and every heartbeat (the body of
/// `POST /v2.0/xdpswitch/agents`, docs/agent-protocol.md "The agent").
public struct AgentReport: Codable, Sendable, Equatable {
    public var host: String
    public var role: String
    public var tunnelIP: String?
    public var tunnelPrefixLength: Int?
    public var tunnelInterface: String?
    public var tunnelGateway: String?
    public var tunnelMTU: Int?
    public var bridgeMappings: [String: String]
    public var externalInterface: String?
    /// The revision of the last view the node runs (0: none yet).
    public var revisionApplied: UInt64
    /// Each VM port of the view: `ACTIVE` when its interface is attached, `DOWN` otherwise.
    public var ports: [String: String]

    enum CodingKeys: String, CodingKey {
        case host, role, tunnelIP = "tunnel_ip", tunnelPrefixLength = "tunnel_prefix_length"
        case tunnelInterface = "tunnel_interface", tunnelGateway = "tunnel_gateway", tunnelMTU = "tunnel_mtu"
        case bridgeMappings = "bridge_mappings", externalInterface = "external_interface"
        case revisionApplied = "revision_applied", ports
    }

    /// The report of `settings` with nothing applied yet.
    public init(settings: AgentSettings, revisionApplied: UInt64 = 0, ports: [String: String] = [:]) {
        host = settings.host
        role = settings.role.rawValue
        tunnelIP = settings.tunnel?.ip
        tunnelPrefixLength = settings.tunnel?.prefixLength
        tunnelInterface = settings.tunnel?.interface
        tunnelGateway = settings.tunnel?.gateway
        tunnelMTU = settings.tunnel?.mtu
        bridgeMappings = settings.bridgeMappings
        externalInterface = settings.externalInterface
        self.revisionApplied = revisionApplied
        self.ports = ports
    }
}

/// Why a request to the server failed: it could not be reached, or it answered with a status
/// the protocol does not have for this request.
public struct ModelServerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The agent's side of the feed over HTTP: registration and heartbeat, and the per-host view
/// by long poll. One request at a time per call; no state of its own.
public struct ModelServerClient: Sendable {
    /// What a view request brought.
    public enum ViewAnswer: Sendable, Equatable {
        /// A view with a revision greater than the one asked after (the document as sent).
        case view(Data)
        /// No change within the timeout.
        case unchanged
        /// The server does not know this host: register, then ask again.
        case notRegistered
    }

    public let server: URL
    private let session: URLSession

    public init(server: URL) {
        self.server = server
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForResource = 3600
        session = URLSession(configuration: configuration)
    }

    private func url(_ path: String) -> URL {
        var base = server.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path)!
    }

    /// `POST /v2.0/xdpswitch/agents`: registers the host, or refreshes its heartbeat, port
    /// status and applied revision.
    public func report(_ report: AgentReport, timeout: Double = 10) async throws(ModelServerError) {
        var request = URLRequest(url: url("/v2.0/xdpswitch/agents"))
        request.httpMethod = "POST"
        request.timeoutInterval = timeout
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        request.httpBody = try? encoder.encode(["agent": report])
        let (status, body) = try await send(request)
        guard (200..<300).contains(status) else {
            throw ModelServerError("POST /v2.0/xdpswitch/agents: HTTP \(status): \(Self.excerpt(body))")
        }
    }

    /// `GET /v2.0/xdpswitch/hosts/HOST/view?after=REV&timeout=SECONDS`: waits up to `timeout`
    /// seconds for a view later than `after`; with no `after`, the current view at once.
    public func view(host: String, after revision: UInt64?, timeout: Int) async throws(ModelServerError) -> ViewAnswer {
        let name = host.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? host
        let after = revision.map { "after=\($0)&" } ?? ""
        var request = URLRequest(url: url("/v2.0/xdpswitch/hosts/\(name)/view?\(after)timeout=\(timeout)"))
        request.timeoutInterval = Double(timeout) + 15
        let (status, body) = try await send(request)
        switch status {
        case 200: return .view(body)
        case 304: return .unchanged
        case 404: return .notRegistered
        default: throw ModelServerError("GET /v2.0/xdpswitch/hosts/\(host)/view: HTTP \(status): \(Self.excerpt(body))")
        }
    }

    private func send(_ request: URLRequest) async throws(ModelServerError) -> (Int, Data) {
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { throw ModelServerError("not an HTTP answer") }
            return (http.statusCode, data)
        } catch let error as ModelServerError {
            throw error
        } catch {
            let reason = (error as NSError).userInfo[NSLocalizedDescriptionKey] as? String ?? "\(error)"
            throw ModelServerError("\(server.absoluteString): \(reason)")
        }
    }

    /// The first line of an error body, for the log.
    static func excerpt(_ body: Data) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? ""
    }
}
