/// The state of the connection-tracking stage behind `ct()`: the tracker (created when
/// a flow with `ct()` is installed), its configuration, and the fragments held while
/// their datagram completes (Datapath+Conntrack.swift). Freed by `deallocate`.
///
/// The tracker is reached per packet through `tracker`, an unmanaged cell (no
/// retain/release); `owner` holds the reference that keeps it alive.
@frozen
@usableFromInline
struct ConntrackStage {
    @usableFromInline let configuration: ConntrackConfiguration
    @usableFromInline let tracker: UnsafeMutablePointer<Unmanaged<ConnectionTracker>?>
    @usableFromInline let owner: UnsafeMutablePointer<ConnectionTracker?>
    @usableFromInline let heldFragments: HeldFragmentQueue

    /// `adopting`: the predecessor's tracker, configured the same (a reconfiguration):
    /// used as it is, so its state file is not opened a second time.
    init(configuration: ConntrackConfiguration, adopting predecessor: ConnectionTracker? = nil) {
        self.configuration = configuration
        tracker = .allocate(capacity: 1)
        tracker.initialize(to: predecessor.map { Unmanaged.passUnretained($0) })
        owner = .allocate(capacity: 1)
        owner.initialize(to: predecessor)
        heldFragments = HeldFragmentQueue(capacity: Datapath.heldFragmentCapacity)
    }

    /// The tracker, if started.
    @usableFromInline var instance: ConnectionTracker? { owner.pointee }

    /// Creates the tracker from the configuration, if there is none yet.
    func start() -> ConnectionTracker {
        if let existing = owner.pointee { return existing }
        let created = ConnectionTracker(configuration: configuration)
        owner.pointee = created
        tracker.pointee = Unmanaged.passUnretained(created)
        return created
    }

    func deallocate() {
        tracker.deallocate()
        owner.deinitialize(count: 1)
        owner.deallocate()
    }
}
