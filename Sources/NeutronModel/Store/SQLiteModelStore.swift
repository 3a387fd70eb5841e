import Foundation
import GRDB

/// The model in one SQLite file through GRDB: a WAL database pool, one writer at a time
/// (`BEGIN IMMEDIATE`), readers on snapshots beside it. A crash or kill mid-request loses only
/// the uncommitted transaction.
public final class SQLiteModelStore: ModelStore {
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and applies missing migrations.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in
                let executor = GRDBExecutor(db: db)
                try SchemaMigrations.migrate(executor, now: Timestamp.now())
                try checkSchemaVersion(executor)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot open SQLite database \(path): \(error)")
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        try await pool.read { db in try body(GRDBExecutor(db: db)) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        try await pool.write { db in try body(GRDBExecutor(db: db)) }
    }

    /// One SQLite file has one server: its own commits wake the waiters; the poll is a safety net.
    public var changePollInterval: Double { 1 }

    public func close() async {
        try? pool.close()
    }
}

/// Refuses a database written by a newer build (its schema has versions this one does not know).
func checkSchemaVersion(_ sql: any SQLExecutor) throws {
    let newest = try sql.rows("SELECT MAX(version) FROM schema_migrations", []).first?.first?.int ?? 0
    if newest > Int64(SchemaMigrations.latestVersion) {
        throw StoreError("the database has schema version \(newest), newer than this build's \(SchemaMigrations.latestVersion)")
    }
}

struct GRDBExecutor: SQLExecutor {
    let db: Database

    func execute(_ sql: String, _ arguments: [SQLValue]) throws {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]] {
        try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
            (0..<row.count).map { index in
                let value: DatabaseValue = row[index]
                switch value.storage {
                case .null: return .null
                case .int64(let number): return .int(number)
                case .double(let number): return .int(Int64(number))
                case .string(let text): return .text(text)
                case .blob(let data): return .text(String(decoding: data, as: UTF8.self))
                }
            }
        }
    }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .null: return nil
            case .int(let number): return number
            case .text(let text): return text
            }
        })
    }
}

/// Neutron's timestamp format (`2026-01-31T12:00:00Z`).
public enum Timestamp {
    public static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
