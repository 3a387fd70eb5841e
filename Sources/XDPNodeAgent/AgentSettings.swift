import Foundation
import XDPAgent
import Yams

/// What a node agent is told about its node and its server: `xdpswitch agent`'s flags, or
/// the same keys in a YAML file (`--config`). What it registers with the server (host,
/// role, tunnel endpoint, bridge mappings, external interface) is what the server writes
/// back into the host view's `host` object.
public struct AgentSettings: Sendable, Equatable {
    /// The model server's base URL (`http://127.0.0.1:9696`).
    public var server: URL
    /// The host name (`binding:host_id` of the ports this node serves).
    public var host: String
    public var role: HostView.Role
    /// The tunnel endpoint (Neutron's `local_ip`) and its underlay; nil: no br-tun.
    public var tunnel: HostView.Tunnel?
    /// Physical network → host interface.
    public var bridgeMappings: [String: String]
    /// The interface of br-ex (network node).
    public var externalInterface: String?
    /// Where the agent keeps what must survive its restart: the local VLANs, the last view
    /// it applied and the node configuration compiled from it.
    public var stateDirectory: String
    /// Seconds between two heartbeats.
    public var reportInterval: Double
    /// Seconds a view request waits for a change before the server answers "unchanged".
    public var pollTimeout: Int

    /// The underlay prefix length when `--tunnel-ip` has none.
    public static let defaultTunnelPrefixLength = 24
    public static let defaultReportInterval = 10.0
    public static let defaultPollTimeout = 30

    public init(server: URL, host: String, role: HostView.Role, tunnel: HostView.Tunnel? = nil,
                bridgeMappings: [String: String] = [:], externalInterface: String? = nil,
                stateDirectory: String, reportInterval: Double = AgentSettings.defaultReportInterval,
                pollTimeout: Int = AgentSettings.defaultPollTimeout) {
        self.server = server
        self.host = host
        self.role = role
        self.tunnel = tunnel
        self.bridgeMappings = bridgeMappings
        self.externalInterface = externalInterface
        self.stateDirectory = stateDirectory
        self.reportInterval = reportInterval
        self.pollTimeout = pollTimeout
    }

    /// The `host` object of the views the agent expects: what it registered.
    public var hostDescription: HostView.Host {
        HostView.Host(name: host, role: role, tunnel: tunnel, bridgeMappings: bridgeMappings,
                      externalInterface: externalInterface)
    }
}

/// A setting refused, naming the flag or key and what was expected.
public struct AgentSettingsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension AgentSettings {
    /// The settings as text, by their flag names without dashes (`server`, `host`, `role`,
    /// `tunnel-ip`, `tunnel-interface`, `tunnel-gateway`, `tunnel-mtu`, `bridge-mappings`,
    /// `external-interface`, `state-dir`, `report-interval`, `poll-timeout`): the flags, or a
    /// YAML file's keys overridden by the flags given.
    public struct Fields: Sendable, Equatable {
        public var values: [String: String] = [:]
        public init(_ values: [String: String] = [:]) { self.values = values }

        /// Every key the agent reads.
        public static let keys = ["server", "host", "role", "tunnel-ip", "tunnel-interface", "tunnel-gateway", "tunnel-mtu",
                                  "bridge-mappings", "external-interface", "state-dir", "report-interval", "poll-timeout"]

        /// `other`'s values where it has one, else ours.
        public func overridden(by other: Fields) -> Fields {
            Fields(values.merging(other.values) { _, new in new })
        }

        /// The keys of a YAML mapping (`bridge-mappings` as a mapping or as `physnet1:eth2,…`).
        public static func parse(yaml text: String, file: String) throws(AgentSettingsError) -> Fields {
            let node: Any?
            do { node = try Yams.load(yaml: text) } catch { throw AgentSettingsError("\(file): not YAML: \(error)") }
            guard let map = Self.mapping(node) else { throw AgentSettingsError("\(file): expected a mapping of settings") }
            var fields = Fields()
            for (key, value) in map {
                guard keys.contains(key) else {
                    throw AgentSettingsError("\(file): \(key): unknown setting (known: \(keys.joined(separator: ", ")))")
                }
                if key == "bridge-mappings", let mappings = Self.mapping(value) {
                    fields.values[key] = mappings.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
                } else if value is [Any] || Self.mapping(value) != nil {
                    throw AgentSettingsError("\(file): \(key): expected a single value")
                } else {
                    fields.values[key] = "\(value)"
                }
            }
            return fields
        }

        /// A YAML mapping with its keys as text (Yams gives `[AnyHashable: Any]`).
        static func mapping(_ node: Any?) -> [String: Any]? {
            if let map = node as? [String: Any] { return map }
            guard let map = node as? [AnyHashable: Any] else { return nil }
            return Dictionary(map.map { ("\($0.key.base)", $0.value) }) { first, _ in first }
        }
    }

    /// Checks and reads `fields`; every refusal names the setting.
    public init(_ fields: Fields) throws(AgentSettingsError) {
        let v = fields.values
        func required(_ key: String) throws(AgentSettingsError) -> String {
            guard let value = v[key], !value.isEmpty else { throw AgentSettingsError("--\(key) is required") }
            return value
        }
        let serverText = try required("server")
        guard let server = URL(string: serverText), let scheme = server.scheme, ["http", "https"].contains(scheme),
              server.host != nil else {
            throw AgentSettingsError("--server \(serverText): expected http://HOST:PORT")
        }
        let host = try required("host")
        guard host.utf8.count <= 255, !host.contains("/"), host.allSatisfy({ !$0.isWhitespace }) else {
            throw AgentSettingsError("--host \(host): expected a host name (no spaces or slashes, at most 255 bytes)")
        }
        let roleText = v["role"] ?? "compute"
        guard let role = HostView.Role(rawValue: roleText) else {
            throw AgentSettingsError("--role \(roleText): expected compute, network or all")
        }
        var tunnel: HostView.Tunnel?
        if let address = v["tunnel-ip"] {
            let parts = address.split(separator: "/", omittingEmptySubsequences: false)
            var prefix = Self.defaultTunnelPrefixLength
            if parts.count == 2 {
                guard let n = Int(parts[1]), (1...32).contains(n) else {
                    throw AgentSettingsError("--tunnel-ip \(address): expected A.B.C.D[/LEN], LEN 1-32")
                }
                prefix = n
            }
            guard parts.count <= 2, Self.isIPv4(String(parts[0])) else {
                throw AgentSettingsError("--tunnel-ip \(address): expected A.B.C.D[/LEN], LEN 1-32")
            }
            guard let interface = v["tunnel-interface"] else {
                throw AgentSettingsError("--tunnel-ip needs --tunnel-interface (the interface carrying the tunnels)")
            }
            try Self.checkInterface(interface, "tunnel-interface")
            var mtu: Int?
            if let text = v["tunnel-mtu"] {
                guard let n = Int(text), (576...9000).contains(n) else {
                    throw AgentSettingsError("--tunnel-mtu \(text): expected 576-9000")
                }
                mtu = n
            }
            if let gateway = v["tunnel-gateway"], !Self.isIPv4(gateway) {
                throw AgentSettingsError("--tunnel-gateway \(gateway): expected an IPv4 address")
            }
            tunnel = HostView.Tunnel(ip: String(parts[0]), prefixLength: prefix, interface: interface,
                                     gateway: v["tunnel-gateway"], mtu: mtu)
        } else {
            for key in ["tunnel-interface", "tunnel-gateway", "tunnel-mtu"] where v[key] != nil {
                throw AgentSettingsError("--\(key) needs --tunnel-ip")
            }
        }
        var mappings: [String: String] = [:]
        for item in (v["bridge-mappings"] ?? "").split(separator: ",") {
            let pair = item.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                throw AgentSettingsError("--bridge-mappings \(item): expected PHYSNET:INTERFACE[,…]")
            }
            guard mappings[pair[0]] == nil else {
                throw AgentSettingsError("--bridge-mappings: physical network \(pair[0]) given twice")
            }
            try Self.checkInterface(pair[1], "bridge-mappings")
            mappings[pair[0]] = pair[1]
        }
        if let external = v["external-interface"] { try Self.checkInterface(external, "external-interface") }
        let stateDirectory = try required("state-dir")
        var reportInterval = Self.defaultReportInterval
        if let text = v["report-interval"] {
            guard let n = Double(text), n >= 0.1, n <= 3600 else {
                throw AgentSettingsError("--report-interval \(text): expected seconds, 0.1-3600")
            }
            reportInterval = n
        }
        var pollTimeout = Self.defaultPollTimeout
        if let text = v["poll-timeout"] {
            guard let n = Int(text), (1...600).contains(n) else {
                throw AgentSettingsError("--poll-timeout \(text): expected seconds, 1-600")
            }
            pollTimeout = n
        }
        self.init(server: server, host: host, role: role, tunnel: tunnel, bridgeMappings: mappings,
                  externalInterface: v["external-interface"], stateDirectory: stateDirectory,
                  reportInterval: reportInterval, pollTimeout: pollTimeout)
    }

    static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { $0.count <= 3 && UInt8($0) != nil }
    }

    /// Interface names as the kernel takes them: 1-15 bytes, no `/`, no spaces.
    static func checkInterface(_ name: String, _ key: String) throws(AgentSettingsError) {
        guard (1...15).contains(name.utf8.count), !name.contains("/"), !name.contains(":"),
              name.allSatisfy({ !$0.isWhitespace }) else {
            throw AgentSettingsError("--\(key) \(name): expected an interface name of 1-15 bytes")
        }
    }
}
