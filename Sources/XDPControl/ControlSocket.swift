#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The control socket of a running switch: a Unix stream socket (mode 0600) that takes
/// one request per connection — a command and its arguments, as JSON on one line — and
/// answers with one JSON line. `xdpswitch dump-flows`, `add-flow`, ... are its clients,
/// like `ovs-ofctl` talking to `ovs-vswitchd`.
public enum ControlSocket {
    /// The default path (`xdpswitch run --control` and the clients' `--control`).
    public static let defaultPath = "/run/xdpswitch.ctl"

    /// A request: the command (`dump-flows`) and its arguments (`br-tun`).
    public struct Request: Codable, Sendable, Equatable {
        /// The command's name (`dump-flows`).
        public var command: String
        /// Its arguments, in order.
        public var arguments: [String]
        /// A request for `command` with `arguments`.
        public init(command: String, arguments: [String] = []) {
            self.command = command
            self.arguments = arguments
        }
    }

    /// A reply: the command's output, or an error message.
    public struct Reply: Codable, Sendable, Equatable {
        /// Whether the command succeeded.
        public var ok: Bool
        /// The command's output, or the error message when `ok` is false.
        public var output: String
        /// A reply as given.
        public init(ok: Bool, output: String) {
            self.ok = ok
            self.output = output
        }
        /// A successful reply carrying `output`.
        public static func success(_ output: String) -> Reply { Reply(ok: true, output: output) }
        /// A failed reply carrying `message`.
        public static func failure(_ message: String) -> Reply { Reply(ok: false, output: message) }
    }

    /// Why talking to the socket failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What failed, in one line.
        public var description: String
    }

    static func address(_ path: String) throws(Failure) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "\(path): control socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Sends `request` to the switch listening on `path` and returns its reply; throws
    /// `Failure` when it cannot be reached or its reply cannot be read.
    public static func send(_ request: Request, to path: String) throws(Failure) -> Reply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errnoText())") }
        defer { close(fd) }
        var address = try address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw Failure(description: "\(path): \(errnoText()) (is `xdpswitch run` running with this --control path?)")
        }
        var line: Data
        do { line = try JSONEncoder().encode(request) } catch { throw Failure(description: "\(path): \(error)") }
        line.append(UInt8(ascii: "\n"))
        try writeAll(fd, line)
        let answer = readAll(fd)
        guard let reply = try? JSONDecoder().decode(Reply.self, from: answer) else {
            throw Failure(description: "\(path): unreadable reply")
        }
        return reply
    }

    static func writeAll(_ fd: Int32, _ data: Data) throws(Failure) {
        let failure: Failure? = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return Failure(description: "write: \(errnoText())") }
                offset += n
            }
            return nil
        }
        if let failure { throw failure }
    }

    static func readAll(_ fd: Int32, limit: Int = 64 << 20) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data.append(contentsOf: buffer[0..<n])
            if buffer[n - 1] == UInt8(ascii: "\n") { break }
        }
        return data
    }
}

/// Serves a control socket on a thread of its own until closed.
///
/// The serving thread holds none of the server: it gets the listening descriptor and the
/// handler, so the server can go away at any time — before the thread has even started —
/// and `close()` (or deinit) ends the thread by shutting the socket down. The thread closes
/// the descriptor itself when `accept` fails, so its number cannot be reused by another
/// file while the thread may still call `accept` on it. (The thread once held the server
/// `unowned`: a server dropped before its thread ran crashed the process with "Attempted
/// to read an unowned reference but object … was already destroyed".)
///
/// Why `@unchecked Sendable` holds: `path` and `fd` are set in init and never change;
/// `isStopped` is read and written only under `stopped`.
public final class ControlServer: @unchecked Sendable {
    /// The socket file's path.
    public let path: String
    private let fd: Int32
    private let stopped = NSLock()
    private var isStopped = false

    /// Binds `path` (mode 0600; a stale socket file nobody listens on is replaced) and
    /// starts answering with `handler`. Throws `ControlSocket.Failure` when another switch
    /// listens there or the socket cannot be made.
    public init(path: String, handler: @escaping @Sendable (ControlSocket.Request) -> ControlSocket.Reply) throws(ControlSocket.Failure) {
        self.path = path
        if (try? ControlSocket.send(ControlSocket.Request(command: "ping"), to: path)) != nil {
            throw ControlSocket.Failure(description: "\(path): another xdpswitch is already listening there")
        }
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocket.Failure(description: "socket: \(ControlSocket.errnoText())") }
        var address = try ControlSocket.address(path)
        let oldMask = umask(0o077)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 16) == 0 else {
            let text = ControlSocket.errnoText()
            Glibc.close(fd)
            throw ControlSocket.Failure(description: "\(path): bind: \(text)")
        }
        let thread = Thread { [fd] in
            // Named from the thread itself: a name set on the Thread before `start()` does
            // not reach the kernel (/proc/<pid>/task/*/comm) on Linux.
            Thread.current.name = ControlServer.threadName
            ControlServer.serve(fd, handler)
        }
        thread.start()
    }

    /// The serving thread's name, as `top -H` and /proc/<pid>/task/*/comm show it (Linux
    /// takes 15 bytes at most: a longer one is refused and the thread stays unnamed).
    public static let threadName = "xdpswitch-ctl"

    /// The serving thread: answers until `accept` fails (the socket shut down by `close()`),
    /// then closes the descriptor.
    private static func serve(_ fd: Int32, _ handler: @Sendable (ControlSocket.Request) -> ControlSocket.Reply) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                Glibc.close(fd)
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // a child started meanwhile must not keep it
            let data = ControlSocket.readAll(client, limit: 1 << 20)
            let reply: ControlSocket.Reply
            if let request = try? JSONDecoder().decode(ControlSocket.Request.self, from: data) {
                reply = request.command == "ping" ? .success("pong") : handler(request)
            } else {
                reply = .failure("malformed request")
            }
            if var line = try? JSONEncoder().encode(reply) {
                line.append(UInt8(ascii: "\n"))
                try? ControlSocket.writeAll(client, line)
            }
            Glibc.close(client)
        }
    }

    /// Stops serving and removes the socket file.
    public func close() {
        stopped.lock()
        defer { stopped.unlock() }
        guard !isStopped else { return }
        isStopped = true
        shutdown(fd, Int32(SHUT_RDWR))  // the serving thread's accept fails: it closes the descriptor
        unlink(path)
    }

    deinit { close() }
}
