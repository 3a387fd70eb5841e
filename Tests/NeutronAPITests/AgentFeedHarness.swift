import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NeutronModel
import XDPAgent

/// The agents' side of the server over plain HTTP, as an agent speaks it
/// (docs/agent-protocol.md, "Transport"): registration and heartbeat, and the host view.
struct AgentFeed {
    let endpoint: String

    struct Reply {
        let status: Int
        let body: JSONValue?
    }

    /// POST /v2.0/xdpswitch/agents with `{"agent": fields}`.
    @discardableResult
    func register(_ fields: [String: JSONValue]) async throws -> Reply {
        try await request("POST", "/v2.0/xdpswitch/agents", body: .object(["agent": .object(fields)]))
    }

    /// The registration body of a host of the reference cloud: compute hosts with a tunnel
    /// endpoint, the network host also with the external network's mapping and br-ex.
    static func host(_ name: String, role: String, tunnelIP: String, ports: [String: String] = [:]) -> [String: JSONValue] {
        var fields: [String: JSONValue] = ["host": .string(name), "role": .string(role), "tunnel_ip": .string(tunnelIP),
                                           "tunnel_prefix_length": .int(24), "tunnel_interface": .string("eth1"),
                                           "tunnel_gateway": .null, "tunnel_mtu": .int(1500), "bridge_mappings": .object([:])]
        if role != "compute" {
            fields["bridge_mappings"] = .object(["extnet": .string("eth2")])
            fields["external_interface"] = .string("eth3")
        }
        if !ports.isEmpty { fields["ports"] = .object(ports.mapValues(JSONValue.string)) }
        return fields
    }

    /// GET …/hosts/HOST/view[?after=…&timeout=…]: the raw reply (200 with a view, 304, 404).
    func view(_ host: String, after: Int? = nil, timeout: Double? = nil) async throws -> (status: Int, data: Data) {
        var query: [String] = []
        if let after { query.append("after=\(after)") }
        if let timeout { query.append("timeout=\(timeout)") }
        return try await raw("GET", "/v2.0/xdpswitch/hosts/\(host)/view" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), body: nil)
    }

    /// The host's current view, read by the agent's own reader (`HostView.decode`: format,
    /// shape and meaning checked) — a view the agent would refuse fails the test here.
    func hostView(_ host: String) async throws -> HostView {
        let reply = try await view(host)
        guard reply.status == 200 else { throw HarnessError("view of \(host): HTTP \(reply.status) \(String(decoding: reply.data, as: UTF8.self))") }
        return try HostView.decode(json: reply.data)
    }

    func request(_ method: String, _ path: String, body: JSONValue?) async throws -> Reply {
        let reply = try await raw(method, path, body: body.map { Data(try JSONValue.encodeText($0).utf8) })
        return Reply(status: reply.status, body: reply.data.isEmpty ? nil : try? JSONValue.decode(reply.data))
    }

    func raw(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, data: Data) {
        var request = URLRequest(url: URL(string: endpoint + path)!)
        request.httpMethod = method
        request.timeoutInterval = 400
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
