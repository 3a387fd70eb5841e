#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The programs in Examples/ (written from the docs) run to the end: each checks what it
/// shows and exits non-zero when it does not happen. The veth example needs root.
@Suite(.serialized) struct ExamplesTests {
    /// Runs the example `name`; its exit status and its output.
    static func run(_ name: String) throws -> (status: Int32, output: String) {
        let path = BuiltProducts.path(name)
        try #require(access(path, X_OK) == 0, "\(name) is not built (swift build)")
        let log = "/tmp/\(name)-\(getpid()).log"
        defer { unlink(log) }
        #expect(FileManager.default.createFile(atPath: log, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: log))
        let status = try BuiltProducts.run(path, [], output: handle)
        try handle.close()
        return (status, try String(contentsOfFile: log, encoding: .utf8))
    }

    @Test(arguments: [("example-in-memory-flows", 5), ("example-router-nat", 7), ("example-engine-veth", 4)])
    func exampleRunsAndChecksWhatItShows(name: String, checks: Int) throws {
        let (status, output) = try Self.run(name)
        #expect(status == 0, "\(output)")
        if output.contains("skipped: needs root") {
            print("\(name): \(output)")  // the reason is printed; CI runs as root
            return
        }
        let passed = output.split(separator: "\n").filter { $0.hasPrefix("ok: ") }.count
        #expect(passed >= checks, "\(output)")
    }
}
