/// The state of `trace` (Datapath+Trace.swift): whether a traced frame is running, and
/// the steps recorded for it. The per-packet path reads only `active` (a byte behind a
/// pointer); recording is on the cold path.
@frozen
@usableFromInline
struct Tracer {
    @usableFromInline let active: UnsafeMutablePointer<Bool>
    @usableFromInline let steps: UnsafeMutablePointer<[Datapath.TraceStep]>

    init() {
        active = .allocate(capacity: 1)
        active.initialize(to: false)
        steps = .allocate(capacity: 1)
        steps.initialize(to: [])
    }

    func deallocate() {
        active.deallocate()
        steps.deinitialize(count: 1)
        steps.deallocate()
    }
}
