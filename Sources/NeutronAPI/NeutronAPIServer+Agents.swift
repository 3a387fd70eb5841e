import Hummingbird
import NeutronModel

extension NeutronAPIServer {
    /// `GET /v2.0/agents` (what `openstack network agent list` reads), and the per-network and
    /// per-router agent lists the client asks for with `--network` / `--router`.
    static func addAgentRoutes(to router: Router<BasicRequestContext>, _ service: NetworkingService) {
        router.get("/v2.0/agents") { request, _ in
            try json(try await service.list(.agent, query: query(request), project: project(request)))
        }
        router.get("/v2.0/agents/:id") { request, context in
            try json(try await service.show(.agent, id: try context.parameters.require("id"), query: query(request)))
        }
        router.delete("/v2.0/agents/:id") { _, context in
            try await service.delete(.agent, id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/v2.0/networks/:id/dhcp-agents") { _, context in
            _ = try await service.show(.network, id: try context.parameters.require("id"))
            return try json(.object(["agents": .array([])]))
        }
        router.get("/v2.0/routers/:id/l3-agents") { _, context in
            _ = try await service.show(.router, id: try context.parameters.require("id"))
            return try json(.object(["agents": .array([])]))
        }
    }
}
