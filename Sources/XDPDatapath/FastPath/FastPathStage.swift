/// The state of the fast-path recorder: while an engine runs an in-kernel fast path
/// (bpf/datapath/xsk_steer.bpf.c), the datapath notes, for each frame it receives from
/// outside, the NORMAL path that frame took, so that one whose outcome is a pure function
/// of its Ethernet header can be repeated by the kernel (Datapath+FastPath.swift), and the
/// decisions of established connections through OpenFlow tables
/// (Datapath+FastPathConnections.swift).
///
/// `process` reads `recording` (a byte behind a pointer) once per batch and, only when it
/// is set, writes each frame's `record` and `steps`; kept records wait in `pending` until
/// the transport takes them. Memory allocated once, no retain on the NORMAL-only path (the
/// decisions through tables, made while recording only, hold their flows' counters).
@frozen
@usableFromInline
struct FastPathStage {
    /// At most this many NORMAL steps (bridges joined by patch ports) make one cached path.
    @usableFromInline static var maximumSteps: Int { 4 }
    /// At most this many flow segments (runs of tables joined by `ct()`) make one cached path.
    static var maximumSegments: Int { 8 }
    /// Finished records kept between two `takeFastPathDecisions` calls.
    @usableFromInline static var pendingCapacity: Int { 128 }

    @usableFromInline let recording: UnsafeMutablePointer<Bool>
    /// Set when a MAC entry moved; the transport then revalidates what it installed.
    @usableFromInline let macChanged: UnsafeMutablePointer<Bool>
    /// The connections whose TCP segments with FIN or RST reached a bridge with tables
    /// while recording (a cached connection may be closing: the transport re-checks its
    /// entries), at most `closingCapacity` until taken; `closingOverflow`: more than that.
    let closing: UnsafeMutablePointer<[FastPathConnection]>
    let closingOverflow: UnsafeMutablePointer<Bool>
    static var closingCapacity: Int { 32 }
    @usableFromInline let record: UnsafeMutablePointer<FastPathRecord>
    @usableFromInline let steps: UnsafeMutablePointer<FastPathRecordStep>
    @usableFromInline let pending: UnsafeMutablePointer<FastPathRecord>
    @usableFromInline let pendingSteps: UnsafeMutablePointer<FastPathRecordStep>
    @usableFromInline let pendingCount: UnsafeMutablePointer<Int>
    /// Decisions through tables, worked out as their frames were recorded (while the flow
    /// segments they went through are surely in the cache), one per key, until taken.
    let pendingConnections: UnsafeMutablePointer<[FastPathDecision]>
    /// Keys whose decision could not be made since the last take: not tried again until
    /// then (a stream the fast path does not repeat pays the work once per batch).
    let refusedConnections: UnsafeMutablePointer<[FastPathKey]>
    /// What `dump-fastpath` lists, given by the transport that runs the fast path.
    let reporter: UnsafeMutablePointer<((DatapathInstant) -> FastPathDump)?>

    init() {
        recording = .allocate(capacity: 1)
        recording.initialize(to: false)
        macChanged = .allocate(capacity: 1)
        macChanged.initialize(to: false)
        closing = .allocate(capacity: 1)
        closing.initialize(to: [])
        closing.pointee.reserveCapacity(Self.closingCapacity)
        closingOverflow = .allocate(capacity: 1)
        closingOverflow.initialize(to: false)
        record = .allocate(capacity: 1)
        record.initialize(to: FastPathRecord())
        steps = .allocate(capacity: Self.maximumSteps)
        steps.initialize(repeating: FastPathRecordStep(), count: Self.maximumSteps)
        pending = .allocate(capacity: Self.pendingCapacity)
        pending.initialize(repeating: FastPathRecord(), count: Self.pendingCapacity)
        pendingSteps = .allocate(capacity: Self.pendingCapacity * Self.maximumSteps)
        pendingSteps.initialize(repeating: FastPathRecordStep(), count: Self.pendingCapacity * Self.maximumSteps)
        pendingCount = .allocate(capacity: 1)
        pendingCount.initialize(to: 0)
        reporter = .allocate(capacity: 1)
        reporter.initialize(to: nil)
        pendingConnections = .allocate(capacity: 1)
        pendingConnections.initialize(to: [])
        pendingConnections.pointee.reserveCapacity(Self.pendingCapacity)
        refusedConnections = .allocate(capacity: 1)
        refusedConnections.initialize(to: [])
        refusedConnections.pointee.reserveCapacity(Self.pendingCapacity)
    }

    func deallocate() {
        recording.deallocate()
        macChanged.deallocate()
        closing.deinitialize(count: 1)
        closing.deallocate()
        closingOverflow.deallocate()
        record.deallocate()
        steps.deallocate()
        pending.deallocate()
        pendingSteps.deallocate()
        pendingCount.deallocate()
        reporter.deinitialize(count: 1)
        reporter.deallocate()
        pendingConnections.deinitialize(count: 1)
        pendingConnections.deallocate()
        refusedConnections.deinitialize(count: 1)
        refusedConnections.deallocate()
    }
}

/// The recorder's view of one frame: its NORMAL path and how it left (plain values).
@frozen
@usableFromInline
struct FastPathRecord {
    @usableFromInline var stepCount = 0
    /// The port the frame entered by (set for a frame through tables).
    @usableFromInline var inPort = -1
    @usableFromInline var outPort = -1
    @usableFromInline var outAddress: UInt64 = 0
    @usableFromInline var outLength: UInt32 = 0
    // The frame as it entered.
    @usableFromInline var dst: UInt64 = 0
    @usableFromInline var src: UInt64 = 0
    @usableFromInline var tagged = false
    @usableFromInline var tpid: UInt16 = 0
    @usableFromInline var tci: UInt16 = 0
    @usableFromInline var vlanCount: UInt8 = 0
    @usableFromInline var inLength: UInt32 = 0
    // The frame as it left (read from the queued frame when the record ends).
    @usableFromInline var outDst: UInt64 = 0
    @usableFromInline var outSrc: UInt64 = 0
    @usableFromInline var outTagged = false
    @usableFromInline var outTCI: UInt16 = 0
    /// Bytes of outer headers a tunnel at the end of the path prepends (0: none); the
    /// queued frame is the encapsulated one.
    @usableFromInline var outerLength: UInt32 = 0
    /// The port by which a NORMAL walk entered a later bridge with OpenFlow tables
    /// (`walkNormal`'s `intoTables`); -1 when it did not.
    @usableFromInline var tablesPort = -1
    /// Whether the frame entered by a tunnel port (decapsulated from the underlay), and
    /// the tun_id it entered with.
    @usableFromInline var fromTunnel = false
    @usableFromInline var tunnelID: UInt64 = 0
    // A frame through OpenFlow tables (Datapath+FastPathConnections.swift): its connection
    // fields, a hash of its IPv4 and transport headers as it entered and as it left, and
    // when it was forwarded.
    @usableFromInline var connection: FastPathConnection? = nil
    @usableFromInline var inHeaderHash: UInt64 = 0
    @usableFromInline var outHeaderHash: UInt64 = 0
    @usableFromInline var recordedAt: UInt64 = 0

    @inlinable init() {}
}

/// One NORMAL decision of a recorded frame.
@frozen
@usableFromInline
struct FastPathRecordStep {
    @usableFromInline var depth = 0
    @usableFromInline var bridge = 0
    @usableFromInline var vlan: UInt16 = 0
    @usableFromInline var inPort = 0
    @usableFromInline var outPort = 0
    @usableFromInline var inLength: UInt32 = 0
    /// Whether NORMAL flooded the frame (its destination unknown) to its one output.
    @usableFromInline var flooded = false

    @inlinable init() {}
}
