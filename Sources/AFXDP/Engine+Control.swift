#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import XDPDatapath

/// Control operations (add-flow, dump-flows, fdb/show, ...) run on the worker thread,
/// between two iterations, so they never race the per-packet path and every batch sees
/// the datapath either before or after an operation, never halfway.
extension Engine {
    /// One operation waiting for the worker.
    final class ControlJob: @unchecked Sendable {
        let body: (Datapath, UInt64) -> Void
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping (Datapath, UInt64) -> Void) { self.body = body }
    }

    /// Runs `body` with the datapath and the worker's clock (monotonic nanoseconds) on the
    /// worker thread between two iterations, and returns its result. When the worker is
    /// not running, runs it on the calling thread.
    public func perform<T>(_ body: @escaping (Datapath, UInt64) -> T) -> T? {
        guard let datapath else { return nil }
        guard isRunning else { return body(datapath, monotonicNanoseconds()) }
        nonisolated(unsafe) var result: T?
        let job = ControlJob { datapath, now in result = body(datapath, now) }
        controlJobs.withLock { $0.append(job) }
        controlPending.store(true, ordering: .releasing)
        wake()
        // The worker may stop before serving the job: then run it here, it is ours again.
        while job.done.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if !isRunning {
                let mine = controlJobs.withLock { jobs -> Bool in
                    guard let i = jobs.firstIndex(where: { $0 === job }) else { return false }
                    jobs.remove(at: i)
                    return true
                }
                if mine { return body(datapath, monotonicNanoseconds()) }
            }
        }
        return result
    }

    /// Worker side: runs every waiting job.
    func runControlJobs(now: UInt64) {
        guard controlPending.exchange(false, ordering: .acquiringAndReleasing), let datapath else { return }
        let jobs = controlJobs.withLock { jobs -> [ControlJob] in
            let taken = jobs
            jobs.removeAll()
            return taken
        }
        for job in jobs {
            job.body(datapath, now)
            job.done.signal()
        }
    }
}
