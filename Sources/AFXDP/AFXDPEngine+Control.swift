#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import XDPDatapath

// Control operations (add-flow, dump-flows, fdb/show, ...) run on the worker thread,
// between two iterations, so they never race the per-packet path and every batch sees
// the datapath either before or after an operation, never halfway.
//
// Who runs a job, exactly once:
// - while the worker runs, `perform` queues the job under the lifecycle lock and the
//   worker takes it (`runControlJobs`) between two iterations;
// - when the worker is not running, `perform` runs the job itself, still under the
//   lifecycle lock, so `start()` cannot begin a worker meanwhile;
// - `stop()` joins the worker and then, under the same lock, runs the jobs the worker
//   left queued (`runOrphanedControlJobs`).
// So the datapath is only ever touched by the worker, or by one thread holding the
// lifecycle lock while no worker exists. A job must therefore not call `start`, `stop`,
// `close`, `isRunning` or `statistics` of its own engine (they take the same lock).
extension AFXDPEngine {
    /// One operation waiting for the worker: the caller's closure with its completion
    /// (a semaphore signal or a continuation resume) folded in.
    struct ControlJob: Sendable {
        /// Runs with the engine (its worker's state) and the worker's clock.
        let run: @Sendable (AFXDPEngine, UInt64) -> Void
    }

    /// Runs `body` with the datapath and the time on the worker's clock
    /// between two iterations of the worker, and returns its result without blocking a
    /// thread (in the manner of swift-nio's `EventLoop.submit`). When the worker is not
    /// running, `body` runs on the calling task.
    ///
    /// `body` must not call back into this engine's `start`, `stop`, `close`,
    /// `isRunning` or `statistics`: it runs while the engine's lifecycle is locked.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (Datapath, DatapathInstant) -> T) async -> T? {
        guard hasDatapath else { return nil }
        return await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit(ControlJob { engine, now in
                let result = engine.aroundControl(now: now) { body(engine.datapath.unsafelyUnwrapped, DatapathInstant(nanoseconds: now)) }
                continuation.resume(returning: result)
            })
        }
    }

    /// `perform` for synchronous callers: **blocks the calling thread** until the worker
    /// has run `body` (at most one worker iteration plus `body` itself). From async code,
    /// `await perform(_:)` picks the non-blocking variant instead. The same rule holds:
    /// `body` must not call this engine's lifecycle.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (Datapath, DatapathInstant) -> T) -> T? {
        guard hasDatapath else { return nil }
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        submit(ControlJob { engine, now in
            let result = engine.aroundControl(now: now) { body(engine.datapath.unsafelyUnwrapped, DatapathInstant(nanoseconds: now)) }
            box.value.withLock { $0 = result }
            done.signal()
        })
        done.wait()
        return box.value.withLock { $0 }
    }

    /// Queues `job` for the worker, or runs it here when no worker runs (see the top).
    func submit(_ job: ControlJob) {
        let queued = lifecycle.withLock { running -> Bool in
            guard running else {
                job.run(self, DatapathInstant.now().nanoseconds)
                return false
            }
            controlJobs.withLock { $0.append(job) }
            controlPending.store(true, ordering: .releasing)
            return true
        }
        if queued { wake() }
    }

    /// Worker side: runs every waiting job.
    func runControlJobs(now: UInt64) {
        guard controlPending.exchange(false, ordering: .acquiringAndReleasing) else { return }
        runQueuedJobs(now: now)
    }

    /// `stop()` side, after the worker is joined and with the lifecycle locked: runs the
    /// jobs the worker did not get to, so no caller waits forever.
    func runOrphanedControlJobs() {
        controlPending.store(false, ordering: .relaxed)
        runQueuedJobs(now: DatapathInstant.now().nanoseconds)
    }

    private func runQueuedJobs(now: UInt64) {
        let jobs = controlJobs.withLock { jobs -> [ControlJob] in
            let taken = jobs
            jobs.removeAll()
            return taken
        }
        for job in jobs { job.run(self, now) }
    }
}

/// A result handed from the thread that ran a job to the thread waiting for it.
private final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}
