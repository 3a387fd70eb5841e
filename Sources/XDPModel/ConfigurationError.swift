/// A configuration file was refused: which file, which line, which key, and why.
/// Nothing starts when one is thrown.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or the name given for an in-memory document).
    public var file: String
    /// 1-based line of the offending key or value, 0 when unknown.
    public var line: Int
    /// The key path at fault, e.g. `bridges[0].ports[1].tag`.
    public var key: String
    /// What is wrong, and what was expected.
    public var message: String

    /// A refusal of `key` at `file`:`line` (0: unknown) saying `message`.
    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: KEY: message`, the form compilers use, so editors can jump to it.
    public var description: String {
        line > 0 ? "\(file):\(line): \(key): \(message)" : "\(file): \(key): \(message)"
    }
}
