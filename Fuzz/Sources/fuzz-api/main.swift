import Foundation
import FuzzDriver
import NeutronModel
import XDPAgent
import XDPModel

// The Networking API's requests on any bytes, answered by the model the server runs
// (NetworkingService over SQLite), and what the agents then make of it.
//
// An input is one request per line, `METHOD PATH [BODY]`, routed as `xdpswitch server` routes
// it (NeutronAPIServer): the collections, `add_router_interface`, tags, the agents' feed. In a
// path or a body string, `@N` stands for the N-th id the model has handed out (mod their
// number), so that sequences reach existing resources; the body's bytes go to the JSON text
// parser as they are. State carries over from input to input, as on a running server; the
// model starts again from the seeded cloud every `inputsPerModel` inputs. Invariants:
//   - a body the parser accepts encodes to text that parses back to the same value, and
//     encodes again to the same text;
//   - a request either succeeds with a body that encodes, or is refused with a NeutronError
//     of status 4xx (never another error: the server would answer 500);
//   - a refused request changes nothing in the store (no half-applied state);
//   - after an input that changed the model, the view of every registered host decodes as
//     the agent decodes it (meaning checks included); every 16th change, and before the
//     model is made again, it also compiles to the node's YAML and that YAML loads into a
//     datapath: what the API accepts, the agents can run.
let inputsPerModel = 500

/// Runs `body` to completion from this synchronous entry point.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    nonisolated(unsafe) var outcome: Result<T, any Error>?
    let done = DispatchSemaphore(value: 0)
    Task {
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome!.get()
}

/// One model: its store in a scratch file, the ids it has handed out.
final class FuzzedModel {
    let directory: String
    let service: NetworkingService
    var ids: [String] = []
    var hosts: [String] = []
    var digest: String = ""
    var revision = -1

    init() {
        directory = scratchDirectory
        try? FileManager.default.removeItem(atPath: directory)
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try! SQLiteModelStore(path: directory + "/model.sqlite")
        service = NetworkingService(store: store)
        seed()
        digest = try! storeDigest()
    }

    func close() {
        let service = self.service
        try? blocking { await service.store.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The reference cloud's resources: a tenant network and an external one, a router
    /// between them with SNAT, a VM port with a floating IP, a rule, an agent for each role.
    private func seed() {
        let requests = [
            "POST /v2.0/networks {\"network\": {\"name\": \"net1\"}}",
            "POST /v2.0/subnets {\"subnet\": {\"network_id\": \"@0\", \"cidr\": \"10.0.0.0/24\", \"ip_version\": 4}}",
            """
            POST /v2.0/networks {"network": {"name": "ext", "router:external": true, "provider:network_type": "flat", \
            "provider:physical_network": "extnet"}}
            """,
            """
            POST /v2.0/subnets {"subnet": {"network_id": "@LAST", "cidr": "203.0.113.0/24", "enable_dhcp": false, \
            "ip_version": 4, "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.100"}]}}
            """,
            "POST /v2.0/routers {\"router\": {\"name\": \"router1\"}}",
            "PUT /v2.0/routers/@LAST/add_router_interface {\"subnet_id\": \"@SUBNET1\"}",
            "PUT /v2.0/routers/@ROUTER {\"router\": {\"external_gateway_info\": {\"network_id\": \"@EXT\"}}}",
            "POST /v2.0/ports {\"port\": {\"name\": \"vm1\", \"network_id\": \"@0\", \"binding:host_id\": \"compute1\"}}",
            "POST /v2.0/floatingips {\"floatingip\": {\"floating_network_id\": \"@EXT\", \"port_id\": \"@VM\"}}",
            """
            POST /v2.0/xdpswitch/agents {"agent": {"host": "network1", "role": "network", "tunnel_ip": "172.16.0.1", "tunnel_prefix_length": 24, "tunnel_interface": "eth1", \
            "bridge_mappings": {"extnet": "eth2"}, "external_interface": "eth3"}}
            """,
            "POST /v2.0/xdpswitch/agents {\"agent\": {\"host\": \"compute1\", \"role\": \"compute\", \"tunnel_ip\": \"172.16.0.2\", \"tunnel_prefix_length\": 24, \"tunnel_interface\": \"eth1\"}}",
        ]
        var named: [String: String] = [:]
        for (index, line) in requests.enumerated() {
            var text = line
            for (name, id) in named { text = text.replacingOccurrences(of: "@" + name, with: id) }
            text = text.replacingOccurrences(of: "@LAST", with: ids.last ?? "")
            guard let request = Request(Array(text.utf8)) else { fatalError("seed request \(index) does not parse: \(text)") }
            do {
                let reply = try perform(request)
                let id = reply.object?.values.first?.object?["id"]?.string
                switch index {
                case 0: named["NET1"] = id
                case 1: named["SUBNET1"] = id
                case 2: named["EXT"] = id
                case 4: named["ROUTER"] = id
                case 7: named["VM"] = id
                default: break
                }
            } catch {
                fatalError("seed request \(index) failed: \(error): \(text)")
            }
        }
    }

    /// Every row of every table, in a stable order: equal digests, equal stores.
    func storeDigest() throws -> String {
        try blocking { [service] in
            try await service.store.read { sql in
                let tables = try sql.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", [])
                    .compactMap { $0.first?.text }
                return try tables.map { table in
                    let rows = try sql.rows("SELECT * FROM \"\(table)\"", []).map { "\($0)" }.sorted()
                    return table + ":" + rows.joined(separator: "\n")
                }.joined(separator: "\n\n")
            }
        }
    }

    /// The id `@N` stands for.
    func id(_ reference: Substring) -> String? {
        guard reference.hasPrefix("@"), let n = Int(reference.dropFirst()), !ids.isEmpty else { return nil }
        return ids[abs(n % ids.count)]
    }

    /// `value` with every string `@N` replaced by the id it stands for.
    func resolved(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): return id(Substring(text)).map(JSONValue.string) ?? value
        case .array(let items): return .array(items.map(resolved))
        case .object(let fields): return .object(fields.mapValues(resolved))
        default: return value
        }
    }

    /// Remembers every id a reply carries.
    func collect(_ value: JSONValue) {
        switch value {
        case .object(let fields):
            for (key, field) in fields.sorted(by: { $0.key < $1.key }) {   // the same order in every run
                if key == "id" || key.hasSuffix("_id"), let text = field.string, text.count == 36, !ids.contains(text) {
                    ids.append(text)
                }
                collect(field)
            }
        case .array(let items): items.forEach(collect)
        default: break
        }
    }

    /// Routes `request` to the service as the server does; the reply's body.
    func perform(_ request: Request) throws -> JSONValue {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { segment in
            id(segment) ?? String(segment)
        }
        guard segments.first == "v2.0", segments.count >= 2 else { throw NeutronError.notFound("HTTPNotFound", "no route") }
        let query = request.query
        let service = self.service
        let body = request.body.map(resolved)
        func requireBody() throws -> JSONValue {
            guard let body else { throw NeutronError.badRequest("Resource body required") }
            return body
        }
        let method = request.method, rest = Array(segments.dropFirst())
        let reply: JSONValue
        switch (method, rest[0], rest.count) {
        case ("POST", "xdpswitch", 2) where rest[1] == "agents":
            let body = try requireBody()
            reply = try blocking { try await service.registerAgent(body: body) }
            if let host = body.object?["agent"]?.object?["host"]?.string, !hosts.contains(host) { hosts.append(host) }
        case ("GET", "agents", 1): reply = try blocking { try await service.listAgents(query: query) }
        case ("GET", "agents", 2): reply = try blocking { try await service.showAgent(id: rest[1], query: query) }
        case ("DELETE", "agents", 2):
            try blocking { try await service.deleteAgent(id: rest[1]) }
            reply = .null
        case ("GET", "networks", 3) where rest[2] == "dhcp-agents":
            reply = try blocking { try await service.dhcpAgents(networkID: rest[1]) }
        case ("GET", "routers", 3) where rest[2] == "l3-agents":
            reply = try blocking { try await service.l3Agents(routerID: rest[1]) }
        case ("PUT", "routers", 3) where rest[2] == "add_router_interface" || rest[2] == "remove_router_interface":
            let body = try requireBody(), add = rest[2] == "add_router_interface"
            reply = try blocking { try await service.routerInterface(routerID: rest[1], add: add, body: body) }
        default:
            guard let kind = ResourceKind.allCases.first(where: { $0.path == rest[0] && $0 != .agent }) else {
                throw NeutronError.notFound("HTTPNotFound", "no route")
            }
            let id = rest.count > 1 ? rest[1] : ""
            switch (method, rest.count) {
            case ("GET", 1): reply = try blocking { try await service.list(kind, query: query, project: nil) }
            case ("POST", 1):
                let body = try requireBody()
                reply = try blocking { try await service.create(kind, body: body, project: nil) }
            case ("GET", 2): reply = try blocking { try await service.show(kind, id: id, query: query) }
            case ("PUT", 2):
                let body = try requireBody()
                reply = try blocking { try await service.update(kind, id: id, body: body) }
            case ("DELETE", 2):
                try blocking { try await service.delete(kind, id: id) }
                reply = .null
            case ("PUT", 3) where rest[2] == "tags":
                guard let tags = try requireBody().object?["tags"]?.array, tags.allSatisfy({ $0.string != nil }) else {
                    throw NeutronError.badRequest("Invalid tags body")
                }
                reply = try blocking { try await service.setTags(kind, id: id, change: .replace(tags.compactMap(\.string))) }
            case ("DELETE", 3) where rest[2] == "tags":
                reply = try blocking { try await service.setTags(kind, id: id, change: .removeAll) }
            case ("PUT", 4) where rest[2] == "tags":
                let tag = rest[3]
                reply = try blocking { try await service.setTags(kind, id: id, change: .add(tag)) }
            case ("DELETE", 4) where rest[2] == "tags":
                let tag = rest[3]
                reply = try blocking { try await service.setTags(kind, id: id, change: .remove(tag)) }
            default: throw NeutronError.notFound("HTTPNotFound", "no route")
            }
        }
        collect(reply)
        return reply
    }

    /// Model changes seen; every `loadEvery`-th one (and the last before the model is made
    /// again) also compiles each view and loads the YAML, which builds a datapath with its
    /// tables: most of an input's time otherwise. The state carries over, so what a skipped
    /// check would have refused is still there for the next one.
    var changes = 0
    static let loadEvery = 16

    /// What the agents make of the model: every registered host's view decodes, compiles
    /// and loads (see the top and `loadEvery`).
    func checkHostViews(after request: String, load: Bool = false) {
        let service = self.service
        guard let now = try? blocking({ try await service.revision() }) else { fatalError("revision unreadable") }
        guard now != revision || load else { return }
        revision = now
        changes += 1
        let load = load || changes % Self.loadEvery == 0
        for host in hosts {
            let view: JSONValue?
            do {
                view = try blocking { try await service.hostView(host: host, after: nil, timeout: 0) }
            } catch let error as NeutronError where error.status == 404 {
                continue   // the agent was deleted
            } catch {
                fatalError("after \(request): the view of \(host) fails: \(error)")
            }
            guard let view else { fatalError("after \(request): no view of \(host)") }
            do {
                let text = try JSONValue.encodeText(view)
                let decoded = try HostView.decode(json: Data(text.utf8))
                if load {
                    let node = try NodeCompiler(view: decoded).compile()
                    _ = try SwitchConfiguration.parse(yaml: node.yaml, file: "\(host).yaml")
                }
            } catch {
                fatalError("after \(request): the API accepted a model the agent of \(host) cannot run: \(error)")
            }
        }
    }
}

/// One line of an input: `METHOD PATH [BODY]`.
struct Request {
    let method: String
    let path: String
    let query: [(String, String)]
    /// The body when there is one; its text is parsed (and round-tripped) on the way in.
    let body: JSONValue?
    /// Whether the line has a body the parser refused (the server answers 400 before routing).
    let malformedBody: Bool

    /// Nil for a line that is no request.
    init?(_ line: [UInt8]) {
        let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let method = String(validating: parts[0], as: UTF8.self),
              ["GET", "POST", "PUT", "DELETE"].contains(method), let target = String(validating: parts[1], as: UTF8.self)
        else { return nil }
        self.method = method
        let pathAndQuery = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(pathAndQuery[0])
        query = pathAndQuery.count < 2 ? [] : pathAndQuery[1].split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
        }
        guard parts.count == 3, !parts[2].isEmpty else { body = nil; malformedBody = false; return }
        let value = try? JSONValue.decode(Data(parts[2]))
        if let value { Self.checkRoundTrip(value) }
        body = value
        malformedBody = value == nil
    }

    /// Encode → parse → equal value; encode again → same text.
    static func checkRoundTrip(_ value: JSONValue) {
        guard let text = try? JSONValue.encodeText(value) else { fatalError("a parsed body does not encode: \(value)") }
        guard let again = try? JSONValue.decode(Data(text.utf8)), again == value else {
            fatalError("a parsed body's text does not parse back to it: \(text)")
        }
        guard (try? JSONValue.encodeText(again)) == text else { fatalError("a body encodes to two texts: \(text)") }
    }
}

/// Where the model's SQLite files live: tmpfs when there is one (a commit's fsync costs
/// nothing there), removed when libFuzzer exits.
let scratchDirectory = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "fuzz-api-\(getpid())"
atexit { try? FileManager.default.removeItem(atPath: scratchDirectory) }

nonisolated(unsafe) var model = FuzzedModel()
nonisolated(unsafe) var inputs = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    inputs += 1
    if inputs % inputsPerModel == 0 {
        model.checkHostViews(after: "the last input of this model", load: true)
        model.close()
        model = FuzzedModel()
    }
    var lastRequest = "the seeded model"
    for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).prefix(16) {
        guard let request = Request(Array(line)) else { continue }
        let described = String(decoding: line.prefix(300), as: UTF8.self)
        if request.malformedBody { continue }   // 400 "Cannot understand JSON", as the server answers
        do {
            let reply = try model.perform(request)
            guard (try? JSONValue.encodeText(reply)) != nil else { fatalError("\(described): a reply that does not encode") }
            model.digest = (try? model.storeDigest()) ?? ""
        } catch let error as NeutronError {
            guard (400..<500).contains(error.status), !error.message.isEmpty else {
                fatalError("\(described): refused with \(error) (the server would answer \(error.status))")
            }
            guard let after = try? model.storeDigest(), after == model.digest else {
                fatalError("\(described): refused (\(error)) but the store changed")
            }
        } catch {
            fatalError("\(described): failed with \(type(of: error)) \(error), not a NeutronError (the server would answer 500)")
        }
        lastRequest = described
    }
    model.checkHostViews(after: lastRequest)
    return 0
}

runFuzzer(fuzzAPI)
