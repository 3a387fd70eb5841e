import Foundation
import NeutronModel
import Synchronization
import Testing

/// The package's root folder (this file is Tests/NeutronAPITests/ServerHarness.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `xdpswitch` binary built beside the test runner (`swift test` builds it with the tests).
func xdpswitchBinary() throws -> String {
    let runner = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let candidate = runner.deletingLastPathComponent().appendingPathComponent("xdpswitch").path
    guard FileManager.default.isExecutableFile(atPath: candidate) else {
        throw HarnessError("no xdpswitch beside the test runner at \(candidate): build it first (swift build)")
    }
    return candidate
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A folder removed when the test ends.
final class TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "xdpswitch-api-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One `xdpswitch server` process on a free loopback port (the kernel picks it: `--listen
/// 127.0.0.1:0`; the server prints the port it got). Stopped with SIGTERM by ``stop()``.
final class ServerProcess {
    let process = Process()
    let port: Int
    var endpoint: String { "http://127.0.0.1:\(port)" }
    private let output = Pipe()
    private let logPath: String

    init(database: String, logPath: String, extraArguments: [String] = []) throws {
        self.logPath = logPath
        process.executableURL = URL(fileURLWithPath: try xdpswitchBinary())
        process.arguments = ["server", "--listen", "127.0.0.1:0", "--database", database] + extraArguments
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        // The first line names the port: "… on http://127.0.0.1:PORT (database …)".
        var text = ""
        let reader = output.fileHandleForReading
        while !text.contains("\n") {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: "http://127.0.0.1:"),
              let port = Int(text[range.upperBound...].prefix(while: \.isNumber)) else {
            process.waitUntilExit()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw HarnessError("xdpswitch server did not start: \(text) \(log)")
        }
        self.port = port
        // The log goes on (a line per request): drained, so the server never blocks on a full pipe.
        let logged = self.logged
        logged.text.withLock { $0 = text }
        reader.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil; return }
            logged.text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
        }
    }

    private final class LogBuffer: Sendable { let text = Mutex("") }
    private let logged = LogBuffer()

    /// What the server has logged on standard output so far (its swift-log lines).
    var log: String { logged.text.withLock { $0 } }

    /// SIGTERM, then waits; SIGKILL if it has not exited after 10 s.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<200 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Kills the server at once (a crash: nothing is flushed or closed).
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Runs `body` against a new server on a fresh SQLite file in a temporary folder; the server is
/// stopped and the folder removed afterwards.
func withSQLiteServer(_ body: (ServerProcess) throws -> Void) throws {
    let folder = try TemporaryDirectory()
    let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
    defer { server.stop() }
    try body(server)
}

/// The real `openstack` command (python-openstackclient from PyPI) in the project's venv,
/// made by scripts/install-openstack-client.sh (`make deps-test`).
enum OpenStackCLI {
    static let venv = ProcessInfo.processInfo.environment["XDPSWITCH_OPENSTACK_VENV"]
        ?? packageRoot.appendingPathComponent(".venv-openstack").path
    static var binary: String { venv + "/bin/openstack" }
    static var python: String { venv + "/bin/python" }
    static var available: Bool {
        let found = FileManager.default.isExecutableFile(atPath: binary)
        if !found { print("NeutronAPITests: skipped: no openstack client at \(binary) (run scripts/install-openstack-client.sh or make deps-test)") }
        return found
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `openstack --os-auth-type none --os-endpoint ENDPOINT ARGS…` with no OS_* settings
    /// of the caller's environment.
    static func run(_ endpoint: String, _ arguments: [String]) throws -> Result {
        try runProgram(binary, ["--os-auth-type", "none", "--os-endpoint", endpoint] + arguments)
    }

    /// Runs the command and returns what it printed with `-f json`, or throws with its stderr.
    static func json(_ endpoint: String, _ arguments: [String]) throws -> JSONValue {
        let result = try run(endpoint, arguments + ["-f", "json"])
        guard result.status == 0 else {
            throw HarnessError("openstack \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return try JSONValue.decode(Data(result.stdout.utf8))
    }

    /// Runs a command that must fail, and returns the line the client printed about it.
    static func failure(_ endpoint: String, _ arguments: [String]) throws -> String {
        let result = try run(endpoint, arguments)
        guard result.status != 0 else {
            throw HarnessError("openstack \(arguments.joined(separator: " ")) succeeded but should have failed: \(result.stdout)")
        }
        return result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func runProgram(_ path: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OS_") }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting (a full pipe would block the child).
        nonisolated(unsafe) var errorData = Data()
        let errorReader = Thread { errorData = err.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorReader.isFinished { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
                      stderr: String(decoding: errorData, as: UTF8.self))
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { object?[key] }
    subscript(_ index: Int) -> JSONValue? { array.flatMap { index < $0.count ? $0[index] : nil } }
}
