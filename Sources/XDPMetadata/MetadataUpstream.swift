#if canImport(Glibc)
import Glibc
#endif
import CXDPShim
import Foundation

/// The metadata proxy's way to the API server. The proxy listens inside its network's
/// namespace, which holds one veth to br-int and no route to the server; the server is
/// reached from the namespace the agent runs in. So each request opens its TCP socket on a
/// thread that has entered that namespace (`serverNamespace`, a path such as
/// `/proc/PID/ns/net` or `/run/netns/NAME`, opened once at start and held, so the agent may
/// restart meanwhile): a socket stays in the namespace it was made in. Without
/// `serverNamespace` the socket is made where the proxy runs.
///
/// Plain HTTP/1.0 GET, one request per connection (`Connection: close`; read to the end or
/// to Content-Length), 5 s timeouts, at most 1 MiB of answer:
/// the server's answers here are a few hundred bytes.
public struct MetadataUpstream: Sendable {
    public let host: String
    public let port: Int
    /// The URL's path before `/v2.0` (usually empty).
    public let basePath: String
    /// `/proc/self/fd/N` of the held namespace file, or nil.
    let namespacePath: String?

    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
    }

    /// `serverURL` is `http://HOST:PORT[/PATH]`; `serverNamespace` the namespace to reach it from.
    public init(serverURL: String, serverNamespace: String? = nil) throws(MetadataError) {
        guard let url = URL(string: serverURL), url.scheme == "http", let host = url.host, !host.isEmpty else {
            throw MetadataError("--server \(serverURL): expected http://HOST:PORT")
        }
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = url.port ?? 80
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        if let serverNamespace {
            let fd = open(serverNamespace, O_RDONLY)  // held for the process's life, inherited by nothing
            guard fd >= 0 else {
                throw MetadataError("--server-netns \(serverNamespace): \(String(cString: strerror(errno)))")
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            namespacePath = "/proc/self/fd/\(fd)"
        } else {
            namespacePath = nil
        }
    }

    /// GET `path` (with its query), on a thread of its own.
    public func get(_ path: String) async throws(MetadataError) -> Answer {
        let request = "GET \(basePath)\(path) HTTP/1.0\r\nHost: \(host):\(port)\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: xdpswitch-metadata-proxy\r\n\r\n"
        let result: Result<Answer, MetadataError> = await withCheckedContinuation { continuation in
            let thread = Thread { [self] in continuation.resume(returning: Result { () throws(MetadataError) in try exchange(request) }) }
            thread.start()
        }
        return try result.get()
    }

    /// Connects (in the server's namespace), sends `request`, reads the answer to the end.
    private func exchange(_ request: String) throws(MetadataError) -> Answer {
        if let namespacePath {
            let err = cxdp_enter_netns(namespacePath)
            guard err == 0 else { throw MetadataError("entering the server's network namespace: \(String(cString: strerror(-err)))") }
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, "\(port)", &hints, &list)
        guard resolved == 0, let first = list else {
            throw MetadataError("resolving \(host): \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetadataError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw MetadataError("connecting to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw MetadataError("sending to \(host):\(port): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var answer = Data()
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw MetadataError("reading from \(host):\(port): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            answer.append(contentsOf: chunk[0..<n])
            guard answer.count <= 1 << 20 else { throw MetadataError("the server's answer is over 1 MiB") }
            if Self.isComplete(answer) { break }
        }
        return try Self.parse(answer)
    }

    /// Whether `answer` holds its whole body by its Content-Length (a server keeping the
    /// connection open despite `Connection: close` is not waited for).
    static func isComplete(_ answer: Data) -> Bool {
        guard let end = answer.range(of: Data("\r\n\r\n".utf8)) else { return false }
        let head = String(decoding: answer[..<end.lowerBound], as: UTF8.self).lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
              let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
        return answer.distance(from: end.upperBound, to: answer.endIndex) >= length
    }

    /// Status line and body of an HTTP/1.x answer read to the end of the connection.
    public static func parse(_ answer: Data) throws(MetadataError) -> Answer {
        let separator = Data("\r\n\r\n".utf8)
        guard let end = answer.range(of: separator) else { throw MetadataError("the server's answer has no header end") }
        let head = String(decoding: answer[..<end.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let words = statusLine.split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/1."), let status = Int(words[1]) else {
            throw MetadataError("the server's answer starts with '\(statusLine.prefix(80))'")
        }
        var body = Data(answer[end.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") {
            body = try dechunked(body)
        }
        return Answer(status: status, body: body)
    }

    /// The body of a chunked transfer encoding (an HTTP/1.1 server may send one anyway).
    static func dechunked(_ data: Data) throws(MetadataError) -> Data {
        var out = Data()
        var rest = data[...]
        let crlf = Data("\r\n".utf8)
        while true {
            guard let line = rest.range(of: crlf),
                  let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) else {
                throw MetadataError("the server's chunked answer is malformed")
            }
            if size == 0 { return out }
            let start = line.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { throw MetadataError("the server's chunked answer is cut short") }
            let stop = rest.index(start, offsetBy: size)
            out.append(rest[start..<stop])
            rest = rest[rest.index(stop, offsetBy: 2)...]
        }
    }
}

/// A refusal or failure of the metadata service, in one line.
public struct MetadataError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
