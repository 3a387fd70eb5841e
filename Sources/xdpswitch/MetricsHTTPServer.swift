// The HTTP endpoint of `--metrics`: enough HTTP/1.1 for a Prometheus scrape, on a thread of
// its own, and nothing more.
//
// One thread accepts and answers connections one at a time: a scrape every few seconds
// needs no more, and the datapath it reads is behind the engine's own serialisation
// anyway. Each connection sends one request and gets one answer, then is closed
// (`Connection: close`). A request is read up to its blank line, at most 8 KiB, within
// 5 seconds; what does not fit, or does not arrive, is answered 400 or 408 and closed,
// so a stalled or hostile client holds the thread for at most that long. Only `GET` (and
// `HEAD`) of `/metrics` is served; `/` names it, other paths are 404, other methods 405.
//
// The thread never touches the datapath itself: `render` is the command's closure
// (`SwitchMetrics.samples`), which goes through `AFXDPEngine.statistics()` and `AFXDPEngine.perform`.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A listening socket answering `GET /metrics` with `render()`; `close()` stops it.
///
/// Checked `Sendable`: every stored property is a constant set in init; the serving thread
/// gets copies of the socket and `render` (itself `@Sendable`) and signals `finished`.
final class MetricsHTTPServer: Sendable {
    /// The address given, as bound (`port` is the real one when 0 was asked).
    let host: String
    let port: Int
    private let listener: Int32
    private let render: @Sendable () -> String
    private let finished = DispatchSemaphore(value: 0)

    static let requestLimit = 8192
    static let requestTimeoutSeconds = 5

    /// Binds and listens on `endpoint`; the error is one line naming the address and the cause.
    init(endpoint: MetricsEndpoint, render: @escaping @Sendable () -> String) throws(MetricsEndpointError) {
        let fd = socket(endpoint.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsEndpointError(endpoint.text, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = endpoint.withSocketAddress { address, length in bind(fd, address, length) }
        guard bound == 0 else {
            let cause = String(cString: strerror(errno))
            Glibc.close(fd)
            throw MetricsEndpointError(endpoint.text, "bind: \(cause)")
        }
        guard listen(fd, 16) == 0 else {
            let cause = String(cString: strerror(errno))
            Glibc.close(fd)
            throw MetricsEndpointError(endpoint.text, "listen: \(cause)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let boundPort = withUnsafePointer(to: &storage) { pointer -> UInt16 in
            endpoint.family == AF_INET6
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        host = endpoint.host
        port = Int(UInt16(bigEndian: boundPort))
        listener = fd
        self.render = render
        let finished = finished
        let thread = Thread { [fd, render] in
            Self.serve(listener: fd, render: render)
            finished.signal()
        }
        thread.name = "xdpswitch-metrics"
        thread.start()
    }

    /// `http://HOST:PORT/metrics`, as the start line names it.
    var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics" }

    /// Stops accepting, waits for the thread (an answer under way finishes first), closes the socket.
    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        finished.wait()
        Glibc.close(listener)
    }

    private static func serve(listener: Int32, render: @Sendable () -> String) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    if errno != EINTR && errno != ECONNABORTED { usleep(100_000) }
                    continue
                }
                return  // shut down (EINVAL) or closed
            }
            answer(connection, render: render)
            Glibc.close(connection)
        }
    }

    /// Reads one request and writes one response on `fd`.
    static func answer(_ fd: Int32, render: @Sendable () -> String) {
        var timeout = timeval(tv_sec: requestTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while !request.containsSequence(end) {
            guard request.count < requestLimit else { return respond(fd, status: "400 Bad Request", body: "request too long\n") }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return respond(fd, status: "408 Request Timeout", body: "request timed out\n") }
            if n <= 0 { return }
            request += chunk[..<n]
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count == 3, line[2].hasPrefix("HTTP/1.") else { return respond(fd, status: "400 Bad Request", body: "bad request line\n") }
        let method = line[0], target = line[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard method == "GET" || method == "HEAD" else {
            return respond(fd, status: "405 Method Not Allowed", body: "only GET\n", extra: "Allow: GET, HEAD\r\n")
        }
        switch target {
        case "/metrics":
            respond(fd, status: "200 OK", body: render(), contentType: "text/plain; version=0.0.4; charset=utf-8", head: method == "HEAD")
        case "/":
            respond(fd, status: "200 OK", body: "xdpswitch: metrics at /metrics\n", head: method == "HEAD")
        default:
            respond(fd, status: "404 Not Found", body: "not found: metrics at /metrics\n", head: method == "HEAD")
        }
    }

    private static func respond(_ fd: Int32, status: String, body: String, contentType: String = "text/plain; charset=utf-8",
                                extra: String = "", head: Bool = false) {
        let bytes = Array(body.utf8)
        let header = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bytes.count)\r\n\(extra)Connection: close\r\n\r\n"
        writeAll(fd, Array(header.utf8) + (head ? [] : bytes))
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `pattern` occurs in the array.
    fileprivate func containsSequence(_ pattern: [UInt8]) -> Bool {
        guard count >= pattern.count else { return false }
        for start in 0...(count - pattern.count) where self[start..<(start + pattern.count)].elementsEqual(pattern) { return true }
        return false
    }
}
