#if canImport(Glibc)
import Glibc
#endif
import AFXDP

/// A joinable thread running `body`, for the lab's workers (the generator, the raw
/// forwarder). `body` and what it captures are kept alive until it returns; the caller
/// joins the returned thread.
func startLabThread(_ body: @escaping () -> Void) throws(AFXDPError) -> pthread_t {
    final class Start { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
    let context = Unmanaged.passRetained(Start(body)).toOpaque()
    var thread = pthread_t()
    let err = pthread_create(&thread, nil, { argument in
        Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, context)
    guard err == 0 else {
        Unmanaged<Start>.fromOpaque(context).release()
        throw AFXDPError(call: "pthread_create", errno: err)
    }
    return thread
}
