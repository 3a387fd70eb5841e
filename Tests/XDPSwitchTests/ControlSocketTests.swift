import Foundation
import Testing
import XDPSwitch

@Suite struct ControlSocketTests {
    static func path() -> String { "/tmp/xdpswitch-ctl-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock" }

    /// A datapath served on a control socket the way `xdpswitch run` serves it, but
    /// without an engine: the handler runs on the server's thread under a lock.
    final class Served: @unchecked Sendable {
        let datapath: Datapath
        let lock = NSLock()
        var server: ControlServer!
        init(path: String) throws {
            datapath = try SwitchConfiguration.parse(yaml: DefaultConfiguration.yaml).makeDatapath(pool: FramePool(frameCount: 64), now: .zero)
            server = try ControlServer(path: path) { [unowned self] request in
                self.lock.lock()
                defer { self.lock.unlock() }
                return SwitchControl.handle(request, datapath: self.datapath, now: DatapathInstant(nanoseconds: 5_000_000_000))
            }
        }
    }

    @Test func answersShowStatsAndFDB() throws {
        let path = Self.path()
        let served = try Served(path: path)
        defer { served.server.close() }
        let show = try ControlSocket.send(.init(command: "show"), to: path)
        #expect(show.ok && show.output.contains("Bridge br-int") && show.output.contains("options: {peer=patch-int}"))
        served.lock.lock()
        served.datapath.inject(Array(repeating: 0xff, count: 6) + [0xfa, 0x16, 0x3e, 0, 0, 1, 0x88, 0xb5] + Array(repeating: 0, count: 46),
                               into: served.datapath.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 4_000_000_000))
        served.datapath.discardTransmitted()
        served.lock.unlock()
        let fdb = try ControlSocket.send(.init(command: "fdb/show", arguments: ["br-int"]), to: path)
        #expect(fdb.ok)
        #expect(fdb.output.contains("fa:16:3e:00:00:01"), "\(fdb.output)")
        #expect(fdb.output.split(separator: "\n").last?.split(separator: " ").map(String.init) == ["1", "1", "fa:16:3e:00:00:01", "1"])
        let stats = try ControlSocket.send(.init(command: "stats"), to: path)
        #expect(stats.output.contains("qvo-vm1"))
        let unknownBridge = try ControlSocket.send(.init(command: "fdb/show", arguments: ["br-nope"]), to: path)
        #expect(!unknownBridge.ok && unknownBridge.output == "br-nope: no such bridge")
        let unknown = try ControlSocket.send(.init(command: "frobnicate"), to: path)
        #expect(!unknown.ok && unknown.output.contains("unknown command"))
    }

    @Test func socketIsPrivateAndSingleAndStaleFilesAreReplaced() throws {
        let path = Self.path()
        // A stale socket file (from a killed switch) is replaced.
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let served = try Served(path: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        // A second switch on the same path is refused while the first listens.
        #expect(throws: ControlSocket.Failure.self) { _ = try Served(path: path) }
        served.server.close()
        #expect(access(path, F_OK) != 0, "the socket file is removed on close")
        #expect(throws: ControlSocket.Failure.self) { _ = try ControlSocket.send(.init(command: "show"), to: path) }
    }

    /// A server dropped without `close()` — before its thread has run, or while that thread
    /// waits in accept — goes away and its thread ends: the thread holds none of it. (It held
    /// the server `unowned`: one dropped before its thread ran crashed the process, one whose
    /// thread ran was never freed and kept answering.)
    @Test func aServerDroppedWithoutCloseGoesAwayAndItsThreadEnds() throws {
        // A thread's `comm` is read with open/read: one that ends between the listing and
        // the read makes the read fail, and Foundation's String(contentsOfFile:) leaks its
        // buffer on that path (LeakSanitizer in `make test-sanitize`).
        func name(ofThread task: String) -> String? {
            let fd = open("/proc/self/task/\(task)/comm", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 32)
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            return count > 0 ? String(decoding: bytes.prefix(count), as: UTF8.self) : nil
        }
        // The serving threads alive.
        func servingThreads() -> Int {
            guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return -1 }
            return tasks.filter { name(ofThread: $0)?.hasPrefix(ControlServer.threadName) == true }.count
        }
        // The count sees a live server's thread (it named itself when it started).
        let live = try ControlServer(path: Self.path()) { _ in .success("live") }
        var seen = 0
        for _ in 0..<100 {
            seen = servingThreads()
            if seen >= 1 { break }
            usleep(10_000)
        }
        #expect(seen >= 1, "no thread named \(ControlServer.threadName) while a server runs")
        live.close()
        for _ in 0..<200 {
            let path = Self.path()
            _ = try ControlServer(path: path) { _ in .success("dropped") }
            #expect(access(path, F_OK) != 0, "deinit closed it and removed its file")
        }
        let path = Self.path()
        var server: ControlServer? = try ControlServer(path: path) { _ in .success("answer") }
        #expect(try ControlSocket.send(.init(command: "show"), to: path).output == "answer")
        server = nil
        #expect(server == nil && access(path, F_OK) != 0)
        #expect(throws: ControlSocket.Failure.self) { _ = try ControlSocket.send(.init(command: "show"), to: path) }
        // The 201 serving threads end (other tests' servers may have a few of their own).
        for _ in 0..<100 where servingThreads() >= 20 { usleep(50_000) }
        #expect((0..<20).contains(servingThreads()), "\(servingThreads()) serving threads left")
    }
}
