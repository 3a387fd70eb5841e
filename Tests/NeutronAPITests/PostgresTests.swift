import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NeutronModel
import Testing

/// A PostgreSQL cluster of the test's own (Debian's `postgresql` binaries), in a temporary
/// folder, listening only on a unix socket there; run as the `postgres` user when the tests
/// run as root (initdb refuses root).
final class PostgresCluster {
    let folder: TemporaryDirectory
    let binaries: String
    var socketDirectory: String { folder.path + "/socket" }
    var dataDirectory: String { folder.path + "/data" }
    /// The URL `xdpswitch server --database` takes.
    var url: String { "postgres://postgres@/postgres?host=\(socketDirectory)" }

    /// Where Debian puts the server binaries (/usr/lib/postgresql/VERSION/bin), newest first.
    static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") }
    }

    static var available: Bool {
        let found = binaries != nil
        if !found { print("PostgresTests: skipped: no PostgreSQL server binaries under /usr/lib/postgresql (make deps-test installs postgresql)") }
        return found
    }

    init() throws {
        folder = try TemporaryDirectory()
        binaries = try #require(Self.binaries)
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if getuid() == 0 {
            try run(["/bin/chown", "-R", "postgres:postgres", folder.path])
            try run(["/bin/chmod", "755", folder.path])
        }
        try asOwner([binaries + "/initdb", "-D", dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync"])
        try asOwner([binaries + "/pg_ctl", "-D", dataDirectory, "-w", "-l", folder.path + "/postgres.log", "start",
                     "-o", "-k \(socketDirectory) -c listen_addresses='' -c fsync=off"])
    }

    func stop() {
        try? asOwner([binaries + "/pg_ctl", "-D", dataDirectory, "-w", "-m", "fast", "stop"])
    }

    deinit { stop() }

    private func asOwner(_ command: [String]) throws {
        try run(getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command)
    }

    /// Runs a command with its output in a file and no descriptor of the test process but
    /// stdin/stdout/stderr: `pg_ctl start` leaves the server running with whatever it was given,
    /// and Foundation's Process learns that a child ended when every holder of a descriptor it
    /// passes has closed it — the server would hold it for good.
    private func run(_ command: [String]) throws {
        let log = folder.path + "/commands.log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw HarnessError("cannot start \(command[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw HarnessError("\(command.joined(separator: " ")) failed (wait status \(status)): \(text)")
        }
    }
}

@Suite("openstack client: PostgreSQL, two servers on one database", .serialized,
       .enabled(if: OpenStackCLI.available && PostgresCluster.available))
struct PostgresTests {
    @Test func twoServersServeOneCloud() throws {
        let cluster = try PostgresCluster()
        defer { cluster.stop() }
        let logs = try TemporaryDirectory()
        let first = try ServerProcess(database: cluster.url, logPath: logs.path + "/server-a.log")
        defer { first.stop() }
        let second = try ServerProcess(database: cluster.url, logPath: logs.path + "/server-b.log")
        defer { second.stop() }

        // The reference workflow through the first server; everything visible through the second.
        let portID = try runReferenceWorkflow(first.endpoint)
        let seen = try OpenStackCLI.json(second.endpoint, ["port", "show", portID])
        #expect(seen["fixed_ips"]?[0]?["ip_address"] == .string("10.0.0.3"))
        #expect(try OpenStackCLI.json(second.endpoint, ["floating", "ip", "list"]).array?.first?["Port"] == .string(portID))
        // And again through the second server, on new networks: segment 2 (1 is taken), the
        // SSH rule already there (created through the first server).
        try runReferenceWorkflow(second.endpoint, suffix: "-b", expectFirstSegment: false, physicalNetwork: "extnet-b",
                                 external: "198.51.100", sshRuleExists: true)
        let segments = try OpenStackCLI.json(first.endpoint, ["network", "list", "--long", "-c", "Name", "-c", "Network Type"])
        #expect(segments.array?.count == 4)

        // Concurrent creates through both servers on one subnet.
        let netID = try #require(try OpenStackCLI.json(first.endpoint, ["network", "create", "busy"])["id"]?.string)
        _ = try OpenStackCLI.json(second.endpoint, ["subnet", "create", "busy-sub", "--network", netID, "--subnet-range", "10.2.0.0/24"])
        let made = try createPortsConcurrently([first.endpoint, second.endpoint], networkID: netID, clients: 4, perClient: 10)
        try expectDistinctPorts(made, count: 40, endpoint: second.endpoint, networkID: netID)
    }
}
