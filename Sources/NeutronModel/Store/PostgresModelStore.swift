import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The model in a PostgreSQL database through postgres-nio, shared by any number of servers.
///
/// The model logic is synchronous (one closure per transaction, as with SQLite), so each
/// transaction runs on a thread of a private `NIOThreadPool` that owns one pooled connection for
/// its duration and waits on each query's future; the event loops stay free. Every write
/// transaction takes `pg_advisory_xact_lock(writeLockKey)` first: writes from all servers on the
/// database are serialized, and since the lock is taken before anything is read, each write sees
/// every commit before it (READ COMMITTED takes a new snapshot per statement). Reads run in
/// REPEATABLE READ READ ONLY transactions beside them. A connection that fails is closed and
/// replaced on next use.
public final class PostgresModelStore: ModelStore {
    /// The advisory lock key that serializes model writes across servers.
    static let writeLockKey: Int64 = 0x5844_5053_5754 // "XDPSWT"
    private let configuration: PostgresConnection.Configuration
    private let threads: NIOThreadPool
    private let idle = NIOLockedValueBox<[PostgresConnection]>([])
    private let logger = Logger(label: "xdpswitch.postgres")
    private let nextID = NIOLockedValueBox(0)

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
    /// `postgres://USER@/DATABASE?host=/path/to/socket/dir` for a unix socket as libpq spells it)
    /// and applies missing migrations.
    public init(url: String, threads count: Int = 8) async throws {
        configuration = try Self.configuration(url)
        threads = NIOThreadPool(numberOfThreads: count)
        threads.start()
        do {
            _ = try await write { sql in
                try SchemaMigrations.migrate(sql, now: Timestamp.now())
                try checkSchemaVersion(sql)
            }
        } catch {
            await close()
            throw error
        }
    }

    static func configuration(_ url: String) throws -> PostgresConnection.Configuration {
        guard let components = URLComponents(string: url), let user = components.user else {
            throw StoreError("cannot parse PostgreSQL URL \(url) (want postgres://USER@HOST:PORT/DATABASE)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let password = components.password
        if let socketDirectory = components.queryItems?.first(where: { $0.name == "host" })?.value,
           socketDirectory.hasPrefix("/") {
            let port = components.port ?? 5432
            return PostgresConnection.Configuration(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user,
                                                    password: password, database: database.isEmpty ? nil : database)
        }
        return PostgresConnection.Configuration(host: components.host ?? "127.0.0.1", port: components.port ?? 5432,
                                                username: user, password: password,
                                                database: database.isEmpty ? nil : database, tls: .disable)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        try await transaction(begin: ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"], body)
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        try await transaction(begin: ["BEGIN", "SELECT pg_advisory_xact_lock(\(Self.writeLockKey))"], body)
    }

    private func transaction<T: Sendable>(begin: [String], _ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        try await threads.runIfActive { [self] in
            let connection = try takeConnection()
            let executor = PostgresExecutor(connection: connection, logger: logger)
            do {
                for statement in begin { try executor.execute(statement, []) }
                let result = try body(executor)
                try executor.execute("COMMIT", [])
                idle.withLockedValue { $0.append(connection) }
                return result
            } catch {
                if (try? executor.execute("ROLLBACK", [])) != nil {
                    idle.withLockedValue { $0.append(connection) }
                } else {
                    let closing: EventLoopFuture<Void> = connection.close()
                    _ = try? closing.wait()
                }
                throw error
            }
        }
    }

    private func takeConnection() throws -> PostgresConnection {
        if let connection = idle.withLockedValue({ $0.popLast() }), !connection.isClosed { return connection }
        let id = nextID.withLockedValue { value in value += 1; return value }
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                                                  id: id, logger: logger).wait()
        } catch {
            throw StoreError("cannot connect to PostgreSQL: \(String(reflecting: error))")
        }
    }

    /// Other servers on the database commit too: their changes are seen within this time.
    public var changePollInterval: Double { 0.2 }

    public func close() async {
        for connection in idle.withLockedValue({ connections in defer { connections = [] }; return connections }) {
            try? await connection.close()
        }
        try? await threads.shutdownGracefully()
    }
}

struct PostgresExecutor: SQLExecutor {
    let connection: PostgresConnection
    let logger: Logger

    func execute(_ sql: String, _ arguments: [SQLValue]) throws {
        _ = try run(sql, arguments)
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
        try run(sql, arguments).rows.map { row in
            try row.map { cell -> SQLValue in
                guard cell.bytes != nil else { return .null }
                switch cell.dataType {
                case .int8, .int4, .int2: return .int(try cell.decode(Int64.self))
                default: return .text(try cell.decode(String.self))
                }
            }
        }
    }

    private func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        // `?` placeholders (the SQLite spelling every statement uses) become $1, $2, ….
        var text = ""
        var number = 0
        for character in sql {
            if character == "?" { number += 1; text += "$\(number)" } else { text.append(character) }
        }
        var binds = PostgresBindings()
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case .int(let value): binds.append(value)
            case .text(let value): binds.append(value)
            }
        }
        do {
            return try connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: logger).wait()
        } catch let error as PSQLError {
            throw StoreError("PostgreSQL: \(error.serverInfo?[.message] ?? String(reflecting: error)) in: \(text)")
        }
    }
}
