import Foundation
import Hummingbird
import Logging
import NIOCore
import NeutronModel

/// The Networking API v2.0 over HTTP (Hummingbird), as Neutron serves it with
/// `auth_strategy = noauth`: version discovery at `/`, `/v2.0/extensions`, the collections of
/// ``ResourceKind`` with Neutron's status codes, router interfaces, tags, and errors as
/// `{"NeutronError": …}` bodies. Tokens are ignored; the project comes from `X-Project-Id`
/// when a client sends one.
///
/// Handlers only decode the request and call ``NetworkingService``; every call is one store
/// transaction there.
public enum NeutronAPIServer {
    /// Neutron's `max_request_body_size` default: larger bodies are refused with 413.
    public static let maximumBodySize = 114_688

    /// The router of the whole API; `logger` gets one line per request (RequestLogMiddleware).
    public static func router(_ service: NetworkingService, logger: Logger? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        if let logger { router.add(middleware: RequestLogMiddleware(logger: logger)) }
        router.add(middleware: NeutronErrorMiddleware())
        router.get("/") { request, _ in try versions(request) }
        router.get("/v2.0") { _, _ in try json(resources) }
        router.get("/v2.0/extensions") { _, _ in try json(.object(["extensions": .array(Extensions.all.map(\.json))])) }
        router.get("/v2.0/extensions/:alias") { _, context in
            let alias = try context.parameters.require("alias")
            guard let found = Extensions.all.first(where: { $0.alias == alias }) else {
                throw NeutronError.notFound("ExtensionNotFound", "Extension with alias \(alias) does not exist")
            }
            return try json(.object(["extension": found.json]))
        }
        for kind in ResourceKind.allCases where kind != .agent {
            addCollection(kind, to: router, service)
        }
        router.put("/v2.0/routers/:id/add_router_interface") { request, context in
            try json(try await service.routerInterface(routerID: try context.parameters.require("id"), add: true,
                                                       body: try await body(request)))
        }
        router.put("/v2.0/routers/:id/remove_router_interface") { request, context in
            try json(try await service.routerInterface(routerID: try context.parameters.require("id"), add: false,
                                                       body: try await body(request)))
        }
        addAgentRoutes(to: router, service)
        addMetadataRoutes(to: router, service)
        return router
    }

    /// Serves the API on `host:port` until the process is asked to stop (SIGINT/SIGTERM),
    /// logging one line per request to `logger` (label `xdpswitch.server`).
    public static func run(_ service: NetworkingService, host: String, port: Int,
                           logger: Logger = Logger(label: "xdpswitch.server"),
                           onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // Hummingbird's own lines (its start, its shutdown) only from notice up.
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let app = Application(router: router(service, logger: logger),
                              configuration: .init(address: .hostname(host, port: port), serverName: "xdpswitch"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                              logger: serverLogger)
        try await app.runService()
    }

    static func addCollection(_ kind: ResourceKind, to router: Router<BasicRequestContext>, _ service: NetworkingService) {
        let collection = "/v2.0/\(kind.path)"
        router.get(RouterPath(collection)) { request, _ in
            try json(try await service.list(kind, query: query(request), project: project(request)))
        }
        router.post(RouterPath(collection)) { request, _ in
            try json(try await service.create(kind, body: try await body(request), project: project(request)), status: .created)
        }
        router.get(RouterPath(collection + "/:id")) { request, context in
            try json(try await service.show(kind, id: try context.parameters.require("id"), query: query(request)))
        }
        router.put(RouterPath(collection + "/:id")) { request, context in
            try json(try await service.update(kind, id: try context.parameters.require("id"), body: try await body(request)))
        }
        router.delete(RouterPath(collection + "/:id")) { _, context in
            try await service.delete(kind, id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        guard kind.attributes.contains(where: { $0.name == "tags" }) else { return }
        router.put(RouterPath(collection + "/:id/tags")) { request, context in
            guard let tags = try await body(request).object?["tags"]?.array, tags.allSatisfy({ $0.string != nil }) else {
                throw NeutronError.badRequest("Invalid tags body: want {\"tags\": [\"TAG\", …]}")
            }
            return try json(try await service.setTags(kind, id: try context.parameters.require("id"),
                                                      change: .replace(tags.compactMap(\.string))))
        }
        router.delete(RouterPath(collection + "/:id/tags")) { _, context in
            _ = try await service.setTags(kind, id: try context.parameters.require("id"), change: .removeAll)
            return Response(status: .noContent)
        }
        router.put(RouterPath(collection + "/:id/tags/:tag")) { _, context in
            _ = try await service.setTags(kind, id: try context.parameters.require("id"),
                                          change: .add(try context.parameters.require("tag")))
            return Response(status: .created)
        }
        router.get(RouterPath(collection + "/:id/tags/:tag")) { _, context in
            let tag = try context.parameters.require("tag")
            let shown = try await service.show(kind, id: try context.parameters.require("id"))
            guard shown.object?[kind.singular]?.object?["tags"]?.array?.contains(.string(tag)) == true else {
                throw NeutronError.notFound("TagNotFound", "Tag \(tag) could not be found.")
            }
            return Response(status: .noContent)
        }
        router.delete(RouterPath(collection + "/:id/tags/:tag")) { _, context in
            _ = try await service.setTags(kind, id: try context.parameters.require("id"),
                                          change: .remove(try context.parameters.require("tag")))
            return Response(status: .noContent)
        }
    }

    // MARK: Request and response helpers

    /// The body as JSON: 413 when over ``maximumBodySize``, 400 when it is not JSON.
    static func body(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            throw NeutronError.bodyTooLarge(limit: maximumBodySize)
        }
        guard buffer.readableBytes > 0 else { throw NeutronError.badRequest("Resource body required") }
        do {
            return try JSONValue.decode(Data(buffer.readableBytesView))
        } catch {
            throw NeutronError.malformedBody("Cannot understand JSON")
        }
    }

    /// The query string as ordered (name, value) pairs, percent-decoded; names may repeat.
    static func query(_ request: Request) -> [(String, String)] {
        guard let query = request.uri.query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decoded(parts[0]), parts.count > 1 ? decoded(parts[1]) : "")
        }
    }

    static func project(_ request: Request) -> String? {
        for name in ["x-project-id", "x-tenant-id"] {
            if let field = request.headers.first(where: { $0.name.canonicalName == name }), !field.value.isEmpty { return field.value }
        }
        return nil
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) throws -> Response {
        let text = try JSONValue.encodeText(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `GET /`: the version document every `openstack` run starts with.
    static func versions(_ request: Request) throws -> Response {
        let host = request.head.authority ?? "127.0.0.1:9696"
        return try json(.object(["versions": .array([.object([
            "id": .string("v2.0"), "status": .string("CURRENT"),
            "links": .array([.object(["href": .string("http://\(host)/v2.0/"), "rel": .string("self")])]),
        ])])]))
    }

    static let resources: JSONValue = .object(["resources": .array(ResourceKind.allCases.map { kind in
        .object(["name": .string(kind.singular), "collection": .string(kind.path),
                 "links": .array([.object(["href": .string("/v2.0/\(kind.path)"), "rel": .string("self")])])])
    })])
}

/// Turns every error into Neutron's body: refusals of the model as they are, an unknown path as
/// 404, a body over the limit as 413, anything else as 500 with the error's text.
struct NeutronErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as NeutronError {
            return try Self.response(error)
        } catch is NIOTooManyBytesError {
            return try Self.response(.bodyTooLarge(limit: NeutronAPIServer.maximumBodySize))
        } catch let error as HTTPError where error.status == .notFound {
            return try Self.response(NeutronError(status: 404, type: "HTTPNotFound", message: "The resource could not be found."))
        } catch let error as HTTPError {
            return try Self.response(NeutronError(status: Int(error.status.code), type: "HTTPError", message: error.body ?? "\(error.status)"))
        } catch {
            context.logger.error("request \(request.method) \(request.uri) failed: \(error)")
            return try Self.response(NeutronError(status: 500, type: "HTTPInternalServerError",
                                                  message: "Request Failed: internal server error while processing your request: \(error)"))
        }
    }

    static func response(_ error: NeutronError) throws -> Response {
        try NeutronAPIServer.json(error.body, status: HTTPResponse.Status(code: error.status))
    }
}
