/// Where the model lives: SQLite (one file, the embedded default) or PostgreSQL (a database that
/// several servers share). Both hold the same schema (``SchemaMigrations``) and run the same SQL;
/// the model logic sees only ``SQLExecutor`` inside one transaction.
///
/// Every API call is one `write` (or `read`) transaction: the closure either returns and the
/// transaction commits, or throws and nothing it did remains. Writes are serialized: SQLite has
/// one writer; on PostgreSQL each write transaction first takes a transaction-scoped advisory
/// lock, so two servers on one database never interleave two writes (no address or MAC is
/// handed out twice, no check is invalidated between read and insert). Reads run beside writes
/// on a snapshot.
public protocol ModelStore: Sendable {
    /// Runs `body` in a read-only transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T
    /// Runs `body` in a serialized read-write transaction; commits when it returns.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T
    /// Closes the connections.
    func close() async
    /// How often a waiter for a later revision re-reads it, for commits made by other
    /// processes (``ModelChangeSignal`` wakes it at once for this process's own).
    var changePollInterval: Double { get }
}

/// A value bound to or read from SQL: the schema uses only text and 64-bit integers.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)

    public var text: String? { if case .text(let value) = self { return value }; return nil }
    public var int: Int64? { if case .int(let value) = self { return value }; return nil }
}

/// Runs SQL inside the current transaction. Placeholders are written `?` for both stores.
public protocol SQLExecutor {
    func execute(_ sql: String, _ arguments: [SQLValue]) throws
    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [[SQLValue]]
}

/// A failure of the store itself (not a refused request): the API answers 500 and the
/// transaction is rolled back.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Opens the store a `--database` argument names: a `postgres://` or `postgresql://` URL, else a
/// SQLite file path.
public func openModelStore(_ location: String) async throws -> any ModelStore {
    if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
        return try await PostgresModelStore(url: location)
    }
    return try SQLiteModelStore(path: location)
}
