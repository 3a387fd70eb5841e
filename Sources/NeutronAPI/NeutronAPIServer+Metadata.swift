import Hummingbird
import NeutronModel

extension NeutronAPIServer {
    /// `GET /v2.0/xdpswitch/metadata/instance?network_id=…&ip_address=…`: the instance a
    /// network's metadata proxy answers for (``NetworkingService/metadataInstance(networkID:ipAddress:)``);
    /// 404 `InstanceNotFound` when no port of the network has the address.
    static func addMetadataRoutes(to router: Router<BasicRequestContext>, _ service: NetworkingService) {
        router.get("/v2.0/xdpswitch/metadata/instance") { request, _ in
            let query = query(request)
            func value(_ name: String) -> String { query.last { $0.0 == name }?.1 ?? "" }
            return try json(try await service.metadataInstance(networkID: value("network_id"), ipAddress: value("ip_address")))
        }
    }
}
