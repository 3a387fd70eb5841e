import Foundation

/// The package's executables, built beside the test runner (`swift test` builds them).
enum BuiltProducts {
    /// The path of the executable product `name`.
    static func path(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Runs `path` with `arguments` to the end; its exit status, its standard output and
    /// error to `output` (discarded when nil).
    @discardableResult
    static func run(_ path: String, _ arguments: [String], output: FileHandle? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = output ?? FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
