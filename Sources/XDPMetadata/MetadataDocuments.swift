import Foundation

/// The instance a request comes from, as the API server describes it
/// (`GET /v2.0/xdpswitch/metadata/instance`, docs/api.md).
public struct MetadataInstance: Codable, Sendable, Equatable {
    public var uuid: String
    public var portID: String
    public var name: String
    public var hostname: String
    public var projectID: String
    public var networkID: String
    public var macAddress: String
    public var fixedIPAddress: String
    public var floatingIPAddress: String?

    enum CodingKeys: String, CodingKey {
        case uuid, name, hostname
        case portID = "port_id", projectID = "project_id", networkID = "network_id", macAddress = "mac_address"
        case fixedIPAddress = "fixed_ip_address", floatingIPAddress = "floating_ip_address"
    }

    public init(uuid: String, portID: String, name: String, hostname: String, projectID: String, networkID: String,
                macAddress: String, fixedIPAddress: String, floatingIPAddress: String? = nil) {
        self.uuid = uuid
        self.portID = portID
        self.name = name
        self.hostname = hostname
        self.projectID = projectID
        self.networkID = networkID
        self.macAddress = macAddress
        self.fixedIPAddress = fixedIPAddress
        self.floatingIPAddress = floatingIPAddress
    }

    /// Reads the server's `{"instance": {…}}`.
    public static func decode(_ data: Data) throws(MetadataError) -> MetadataInstance {
        struct Envelope: Decodable { var instance: MetadataInstance }
        do {
            return try JSONDecoder().decode(Envelope.self, from: data).instance
        } catch {
            throw MetadataError("the server's instance document is not understood: \(error)")
        }
    }
}

/// What cloud-init and friends read at 169.254.169.254, for one instance: the OpenStack
/// tree (`/openstack/VERSION/meta_data.json`, `network_data.json`, `vendor_data.json`) and
/// the EC2 tree (`/VERSION/meta-data/KEY`), every version answering the same documents as
/// Nova's metadata API does for what it has. No user data and no keys: the model has none
/// (404, as Nova answers an instance without user data).
public enum MetadataDocuments {
    /// The OpenStack versions listed at `/openstack` (Nova's, oldest first).
    public static let openStackVersions = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                                           "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest"]
    /// The EC2 versions listed at `/`.
    public static let ec2Versions = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
                                     "2008-09-01", "2009-04-04", "latest"]

    /// An answer: status, content type, body.
    public struct Document: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: String

        static func text(_ body: String) -> Document { Document(status: 200, contentType: "text/plain; charset=utf-8", body: body) }
        static func json(_ object: [String: Any]) -> Document {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            return Document(status: 200, contentType: "application/json", body: String(decoding: data, as: UTF8.self))
        }
        static let notFound = Document(status: 404, contentType: "text/plain; charset=utf-8", body: "404 Not Found\n")
    }

    /// The version listings, which need no instance: nil for any other path.
    public static func listing(_ path: String) -> Document? {
        switch trimmed(path) {
        case "": return .text((ec2Versions + ["openstack"]).joined(separator: "\n"))
        case "openstack": return .text(openStackVersions.joined(separator: "\n"))
        default: return nil
        }
    }

    /// The document at `path` for `instance` (404 for what is not there).
    public static func document(_ path: String, for instance: MetadataInstance) -> Document {
        let parts = trimmed(path).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "openstack", parts.count >= 2, openStackVersions.contains(parts[1]) {
            switch parts.dropFirst(2).joined(separator: "/") {
            case "": return .text("meta_data.json\nnetwork_data.json\nvendor_data.json\nvendor_data2.json")
            case "meta_data.json": return .json(metaData(instance))
            case "network_data.json": return .json(networkData(instance))
            case "vendor_data.json", "vendor_data2.json": return .json([:])
            default: return .notFound
            }
        }
        if let version = parts.first, ec2Versions.contains(version), parts.count >= 2, parts[1] == "meta-data" {
            let keys = ec2MetaData(instance)
            let key = parts.dropFirst(2).joined(separator: "/")
            if key.isEmpty {
                let names = Set(keys.keys.map { $0.contains("/") ? String($0.prefix { $0 != "/" }) + "/" : $0 })
                return .text(names.sorted().joined(separator: "\n"))
            }
            if key == "placement" { return .text("availability-zone") }
            return keys[key].map { .text($0) } ?? .notFound
        }
        return .notFound
    }

    /// `meta_data.json`: Nova's keys that the model can fill.
    static func metaData(_ instance: MetadataInstance) -> [String: Any] {
        ["uuid": instance.uuid, "name": instance.name.isEmpty ? instance.hostname : instance.name, "hostname": instance.hostname,
         "availability_zone": "nova", "project_id": instance.projectID, "launch_index": 0, "meta": [String: String](),
         "public_keys": [String: String](), "devices": [Any]()]
    }

    /// `network_data.json`: the instance's one interface, configured by DHCP.
    static func networkData(_ instance: MetadataInstance) -> [String: Any] {
        let link = "tap" + instance.portID.prefix(11)
        return ["links": [["id": link, "vif_id": instance.portID, "type": "ovs", "ethernet_mac_address": instance.macAddress]],
                "networks": [["id": "network0", "link": link, "type": "ipv4_dhcp", "network_id": instance.networkID]],
                "services": [Any]()]
    }

    /// The EC2 tree's keys.
    static func ec2MetaData(_ instance: MetadataInstance) -> [String: String] {
        var keys = ["instance-id": instance.uuid, "hostname": instance.hostname, "local-hostname": instance.hostname,
                    "local-ipv4": instance.fixedIPAddress, "placement/availability-zone": "nova", "ami-launch-index": "0"]
        if let floating = instance.floatingIPAddress { keys["public-ipv4"] = floating }
        return keys
    }

    private static func trimmed(_ path: String) -> String {
        var p = Substring(path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        while p.hasPrefix("/") { p = p.dropFirst() }
        while p.hasSuffix("/") { p = p.dropLast() }
        return String(p)
    }
}
