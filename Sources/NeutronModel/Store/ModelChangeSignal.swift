import NIOConcurrencyHelpers

/// Wakes the requests waiting for a later model revision (the agents' long polls) when this
/// process commits a write. A counter of commits (`generation`) closes the gap between a
/// waiter reading the revision and starting to wait: it passes the generation it saw, and a
/// commit in between makes the wait return at once.
///
/// Commits by another process (a second server on one PostgreSQL) are not signalled here; the
/// waiter re-reads the revision every ``ModelStore/changePollInterval`` instead.
public final class ModelChangeSignal: Sendable {
    private struct State {
        var generation = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    /// The number of commits signalled so far.
    public var generation: Int { state.withLockedValue { $0.generation } }

    /// Signals a commit: every waiter returns.
    public func notify() {
        let waiters = state.withLockedValue { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume() }
    }

    /// Returns after the next commit (at once if one happened since `generation`), or after
    /// `seconds`, whichever comes first.
    public func wait(after generation: Int, upTo seconds: Double) async {
        let id: Int? = state.withLockedValue { state in
            guard state.generation == generation else { return nil }
            state.nextWaiter += 1
            return state.nextWaiter
        }
        guard let id else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let registered = state.withLockedValue { state -> Bool in
                guard state.generation == generation else { return false }
                state.waiters[id] = continuation
                return true
            }
            guard registered else { continuation.resume(); return }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
                self.resume(id)
            }
        }
    }

    private func resume(_ id: Int) {
        state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
