import Hummingbird
import NeutronModel

extension NeutronAPIServer {
    /// The agents' side (docs/agent-protocol.md, "Transport"): registration and heartbeat, the
    /// per-host view with its long poll; and the operator's: `GET /v2.0/agents` (what
    /// `openstack network agent list` reads), the per-network and per-router agent lists the
    /// client asks for with `--network` / `--router`, and `network agent delete`.
    static func addAgentRoutes(to router: Router<BasicRequestContext>, _ service: NetworkingService) {
        router.post("/v2.0/xdpswitch/agents") { request, _ in
            try json(try await service.registerAgent(body: try await body(request)))
        }
        router.get("/v2.0/xdpswitch/hosts/:host/view") { request, context in
            let host = try context.parameters.require("host")
            let (after, timeout) = try viewWait(query(request))
            guard let view = try await service.hostView(host: host, after: after, timeout: timeout) else {
                return Response(status: .notModified)
            }
            return try json(view)
        }
        router.get("/v2.0/agents") { request, _ in
            try json(try await service.listAgents(query: query(request)))
        }
        router.get("/v2.0/agents/:id") { request, context in
            try json(try await service.showAgent(id: try context.parameters.require("id"), query: query(request)))
        }
        router.delete("/v2.0/agents/:id") { _, context in
            try await service.deleteAgent(id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/v2.0/networks/:id/dhcp-agents") { _, context in
            try json(try await service.dhcpAgents(networkID: try context.parameters.require("id")))
        }
        router.get("/v2.0/routers/:id/l3-agents") { _, context in
            try json(try await service.l3Agents(routerID: try context.parameters.require("id")))
        }
    }

    /// `after` (a revision, optional) and `timeout` (seconds, default 30, at most 300) of a view request.
    static func viewWait(_ query: [(String, String)]) throws -> (after: Int?, timeout: Double) {
        var after: Int?
        var timeout = NetworkingService.defaultViewWait
        for (name, value) in query {
            switch name {
            case "after":
                guard let number = Int(value), number >= 0 else {
                    throw NeutronError.invalidAttribute("after", "'\(value)' is not a revision (an integer ≥ 0)")
                }
                after = number
            case "timeout":
                guard let seconds = Double(value), seconds.isFinite, seconds >= 0 else {
                    throw NeutronError.invalidAttribute("timeout", "'\(value)' is not a number of seconds ≥ 0")
                }
                timeout = min(seconds, NetworkingService.maximumViewWait)
            default: break
            }
        }
        return (after, timeout)
    }
}
