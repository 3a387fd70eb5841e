import Hummingbird
import Logging

/// One log line per request, when its response is known: method, path and query, status,
/// body bytes and milliseconds (Neutron's API server writes the same, as its WSGI access
/// log). 5xx at `error`, every other answer at `info`: a server at `--log-level notice`
/// logs only what went wrong and its own start and stop.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = start.duration(to: .now).components
        let milliseconds = Double(elapsed.seconds) * 1_000 + Double(elapsed.attoseconds) / 1e15
        let status = response.status.code
        let message: Logger.Message = "\(request.method) \(request.uri) \(status)"
        let metadata: Logger.Metadata = [
            "bytes": "\(response.body.contentLength ?? 0)",
            "ms": "\((milliseconds * 10).rounded() / 10)",
        ]
        logger.log(level: status >= 500 ? .error : .info, message, metadata: metadata)
        return response
    }
}
