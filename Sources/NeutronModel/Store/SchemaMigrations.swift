/// The schema of the model, as numbered migrations applied in order and recorded in
/// `schema_migrations`. The same statements run on SQLite and PostgreSQL (portable types only:
/// TEXT and BIGINT). A migration is never edited once released: a change is a new version.
///
/// Resources are kept as JSON documents with Neutron's field names (`resources.body`), with
/// the columns the model looks them up by beside them. What must never be given twice has its
/// own table with a primary key, so the database itself refuses a duplicate even if a check
/// were missed: an address in a subnet (`ip_allocations`), a MAC on a network
/// (`mac_addresses`), a segment (`segments`; `physical_network` is '' for tunnels).
/// `model_revision` counts committed write transactions that changed something: the agent
/// feed's revision. `agent_hosts` holds the registered agents (version 2).
public enum SchemaMigrations {
    public static let all: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE resources (kind TEXT NOT NULL, id TEXT NOT NULL, project_id TEXT NOT NULL,
              network_id TEXT, device_id TEXT, body TEXT NOT NULL, PRIMARY KEY (kind, id))
            """,
            "CREATE INDEX resources_by_network ON resources (kind, network_id)",
            "CREATE INDEX resources_by_device ON resources (kind, device_id)",
            """
            CREATE TABLE ip_allocations (subnet_id TEXT NOT NULL, ip_address TEXT NOT NULL,
              network_id TEXT NOT NULL, port_id TEXT NOT NULL, PRIMARY KEY (subnet_id, ip_address))
            """,
            "CREATE INDEX ip_allocations_by_port ON ip_allocations (port_id)",
            """
            CREATE TABLE mac_addresses (network_id TEXT NOT NULL, mac_address TEXT NOT NULL,
              port_id TEXT NOT NULL, PRIMARY KEY (network_id, mac_address))
            """,
            """
            CREATE TABLE segments (network_type TEXT NOT NULL, physical_network TEXT NOT NULL,
              segmentation_id BIGINT NOT NULL, network_id TEXT NOT NULL,
              PRIMARY KEY (network_type, physical_network, segmentation_id))
            """,
            "CREATE TABLE model_revision (id BIGINT PRIMARY KEY, revision BIGINT NOT NULL)",
            "INSERT INTO model_revision (id, revision) VALUES (1, 0)",
        ]),
        // The agents' registrations (docs/agent-protocol.md, Transport): one row per host,
        // its last registration or heartbeat as JSON.
        (2, [
            "CREATE TABLE agent_hosts (host TEXT PRIMARY KEY, body TEXT NOT NULL)",
        ]),
    ]

    /// The statement creating the table that records applied versions.
    static let createVersionTable =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"

    /// Applies the migrations `sql` lacks, inside the caller's transaction.
    static func migrate(_ sql: any SQLExecutor, now: String) throws {
        try sql.execute(createVersionTable, [])
        let applied = Set(try sql.rows("SELECT version FROM schema_migrations", []).compactMap { $0.first?.int })
        for migration in all where !applied.contains(Int64(migration.version)) {
            for statement in migration.statements { try sql.execute(statement, []) }
            try sql.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                            [.int(Int64(migration.version)), .text(now)])
        }
    }

    /// The newest version this build knows.
    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}
