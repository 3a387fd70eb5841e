#if canImport(Glibc)
import Glibc
#endif

// State that outlives the process
// ===============================
//
// A restarted or upgraded switch should not cut its tenants' connections. What a live
// connection needs from the switch is the connection tracker's entries (the datapath's
// tracker behind `ct()`, and each router's NAT tracker, which holds the translations):
// without them every mid-stream segment after a restart is a packet with no connection,
// invalid, and the security group drops it. So those tables do not live in the process's
// heap but in a file mapped `MAP_SHARED` (under /run or /dev/shm: memory, not disk): the
// tracker reads and writes the mapping exactly as it read and wrote its heap arrays, the
// kernel's page cache holds every store the moment it is made, and a process killed by
// `kill -9` leaves the file as it was at its last instruction. The per-packet path does
// no extra work at all: no journal, no snapshot, no flush.
//
// A `StateFile` is one such mapping: a header page, then the payload its owner lays out.
//
//     offset  size  field
//     0       8     magic: the kind of file ("XDPSWct1" for a tracker)
//     8       4     format version of that kind
//     12      4     header size (4096)
//     16      8     payload size
//     24      4     clock the timestamps in the payload are on (CLOCK_BOOTTIME, 7)
//     28      4     geometry words that follow (n ≤ 16)
//     32      8·16  geometry: what the payload's layout depends on (capacity, strides…)
//     160     40    boot id (/proc/sys/kernel/random/boot_id) of the boot that wrote it
//     200     8     checksum: FNV-1a 64 of bytes 0..<200
//     256     8     generation: how many processes have mapped this file
//     264     8     state: 1 while a process has it mapped, 2 after one closed it
//
// Opening (`open(path:kind:version:geometry:payloadSize:)`) adopts the file at `path`
// when its magic, version, checksum, size, clock, geometry and boot id are all the ones
// asked for; otherwise it says why in one line (`refusal`) and creates an empty file in
// its place (written aside, then renamed over: a process still holding the old file keeps
// its own inode). A new boot refuses: CLOCK_BOOTTIME restarts at zero with the machine, so
// the timestamps of another boot mean nothing. CLOCK_BOOTTIME rather than CLOCK_MONOTONIC
// so that time spent suspended counts, as it does for the peers' timers.
//
// Torn state. The header's fixed part is written once, before the file is renamed into
// place, and checksummed: a file cut short or scribbled on is refused. The payload cannot
// carry a checksum without per-packet work, and a `kill -9` can land in the middle of an
// update (an entry linked on one list but not yet on the other). So the owner treats the
// payload as untrusted on adoption: the tracker keeps only its entries, checks each, and
// rebuilds every derived structure — index, free list, expiry lists, counts — from them
// (ConntrackStateFile.swift). `state` says whether the previous process closed the file
// (a SIGTERM) or vanished (a crash, `kill -9`); both are adopted the same way.
//
// Exclusive use. The open file holds an exclusive `flock`; a second opener (another
// process with the same path, or a datapath built while its predecessor still runs) does
// not get the lock (after trying for half a second) and starts a file of its own, renamed
// over the path: the state path always names the file of the tracker that was made last.

/// A file mapped `MAP_SHARED` whose payload outlives the process (see the essay at the
/// top of StateFile.swift). Control-path type: open it when a table is made, then use
/// `payload` as the table's memory.
public final class StateFile {
    /// Where it is.
    public let path: String
    /// The payload's memory: `payloadSize` bytes, page-aligned, in the mapping.
    public let payload: UnsafeMutableRawPointer
    /// The payload's size in bytes.
    public let payloadSize: Int
    /// Whether the file already existed and was adopted (false: the payload is zeros).
    public let adopted: Bool
    /// Why an existing file was not adopted (nil when adopted or when there was none).
    public let refusal: String?
    /// The processes that mapped this file, this one included.
    public let generation: UInt64
    /// For an adopted file: whether the process before closed it (false after a crash).
    public let closedCleanly: Bool

    private let fd: Int32
    private let mapping: UnsafeMutableRawPointer
    private let mappingSize: Int

    /// The header's size: one page, so the payload is page-aligned.
    public static let headerSize = 4096
    /// The clock every timestamp in a payload is on.
    public static let clockID: Int32 = 7  // CLOCK_BOOTTIME
    /// The most geometry words a header holds.
    public static let maximumGeometry = 16

    enum Offset {
        static let magic = 0, version = 8, headerSize = 12, payloadSize = 16, clock = 24, geometryCount = 28
        static let geometry = 32, bootID = 160, checksum = 200, generation = 256, state = 264
    }
    static let bootIDLength = 40
    static let stateOpen: UInt64 = 1
    static let stateClosed: UInt64 = 2

    private init(path: String, fd: Int32, mapping: UnsafeMutableRawPointer, mappingSize: Int, adopted: Bool,
                 refusal: String?) {
        self.path = path
        self.fd = fd
        self.mapping = mapping
        self.mappingSize = mappingSize
        payload = mapping + Self.headerSize
        payloadSize = mappingSize - Self.headerSize
        self.adopted = adopted
        self.refusal = refusal
        closedCleanly = adopted && mapping.load(fromByteOffset: Offset.state, as: UInt64.self) == Self.stateClosed
        let generation = (adopted ? mapping.load(fromByteOffset: Offset.generation, as: UInt64.self) : 0) &+ 1
        mapping.storeBytes(of: generation, toByteOffset: Offset.generation, as: UInt64.self)
        mapping.storeBytes(of: Self.stateOpen, toByteOffset: Offset.state, as: UInt64.self)
        self.generation = generation
    }

    deinit { close() }

    private var closed = false

    /// Marks the file closed cleanly (the next process reports a clean stop), keeping it
    /// mapped: for a switch that stops forwarding but may still answer a control request.
    public func markClosed() {
        mapping.storeBytes(of: Self.stateClosed, toByteOffset: Offset.state, as: UInt64.self)
    }

    /// Marks the file closed cleanly, unmaps it and releases the lock. The payload must not
    /// be used afterwards. Called by deinit.
    public func close() {
        guard !closed else { return }
        closed = true
        markClosed()
        munmap(mapping, mappingSize)
        Glibc.close(fd)
    }

    /// Adopts the file at `path` if it is a `kind` file of format `version` with this
    /// `geometry` and `payloadSize` from this boot, else creates an empty one there (the
    /// reason in `refusal`). Throws only when no file can be made at all (a directory
    /// that cannot be created or written, no memory): the caller then keeps its table in
    /// ordinary memory.
    public static func open(path: String, kind: UInt64, version: UInt32, geometry: [UInt64],
                            payloadSize: Int) throws(StateFileError) -> StateFile {
        precondition(geometry.count <= maximumGeometry, "too many geometry words")
        let wanted = Header(kind: kind, version: version, payloadSize: UInt64(payloadSize), geometry: geometry,
                            bootID: currentBootID())
        var refusal: String?
        let existing = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if existing >= 0 {
            if !lock(existing) {
                refusal = "in use by another switch (locked)"
                Glibc.close(existing)
            } else if let reason = check(fd: existing, wanted: wanted) {
                refusal = reason
                Glibc.close(existing)
            } else {
                let size = headerSize + payloadSize
                guard let mapping = map(existing, size: size) else {
                    Glibc.close(existing)
                    throw StateFileError(path: path, call: "mmap", errno: errno)
                }
                return StateFile(path: path, fd: existing, mapping: mapping, mappingSize: size, adopted: true, refusal: nil)
            }
        } else if errno != ENOENT {
            refusal = "cannot be opened (\(String(cString: strerror(errno))))"
        }
        return try create(path: path, header: wanted, refusal: refusal)
    }

    /// Writes an empty file aside, locks and maps it, then renames it over `path`.
    private static func create(path: String, header: Header, refusal: String?) throws(StateFileError) -> StateFile {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty { try makeDirectories(directory) }
        let temporary = "\(path).new-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = Glibc.open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateFileError(path: temporary, call: "open", errno: errno) }
        let size = headerSize + Int(header.payloadSize)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, ftruncate(fd, off_t(size)) == 0, let mapping = map(fd, size: size) else {
            let error = StateFileError(path: temporary, call: "ftruncate/mmap", errno: errno)
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        header.write(to: mapping)
        guard rename(temporary, path) == 0 else {
            let error = StateFileError(path: path, call: "rename", errno: errno)
            munmap(mapping, size)
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        return StateFile(path: path, fd: fd, mapping: mapping, mappingSize: size, adopted: false, refusal: refusal)
    }

    /// Takes the file's exclusive lock, trying for up to half a second: a process forked
    /// by the previous holder (between its fork and its exec, which closes the descriptor)
    /// may hold the lock for a moment after the holder let go.
    private static func lock(_ fd: Int32) -> Bool {
        for attempt in 0..<50 {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno != EWOULDBLOCK || attempt == 49 { break }
            usleep(10_000)
        }
        return false
    }

    private static func map(_ fd: Int32, size: Int) -> UnsafeMutableRawPointer? {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return p == MAP_FAILED ? nil : p
    }

    /// Why the file open at `fd` is not the one `wanted` describes, or nil.
    static func check(fd: Int32, wanted: Header) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return "cannot be read (\(String(cString: strerror(errno))))" }
        guard st.st_size >= headerSize else { return "corrupt: \(st.st_size) bytes, shorter than its header" }
        var bytes = [UInt8](repeating: 0, count: headerSize)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, headerSize, 0) }
        guard n == headerSize else { return "cannot be read (short read)" }
        return bytes.withUnsafeBytes { raw -> String? in
            let found = Header(reading: raw.baseAddress!)
            return found.refusal(wanted: wanted, fileSize: Int(st.st_size))
        }
    }

    static func makeDirectories(_ path: String) throws(StateFileError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw StateFileError(path: prefix, call: "mkdir", errno: errno)
            }
        }
    }

    /// This boot's id, or "" when the kernel does not say.
    public static func currentBootID() -> String {
        let fd = Glibc.open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).filter { !$0.isWhitespace }
    }

    /// The fixed, checksummed part of a header.
    struct Header: Equatable {
        var kind: UInt64
        var version: UInt32
        var headerSize = UInt32(StateFile.headerSize)
        var payloadSize: UInt64
        var clock = UInt32(bitPattern: StateFile.clockID)
        var geometry: [UInt64]
        var bootID: String
        var checksum: UInt64 = 0
        var storedChecksum: UInt64 = 0

        init(kind: UInt64, version: UInt32, payloadSize: UInt64, geometry: [UInt64], bootID: String) {
            self.kind = kind
            self.version = version
            self.payloadSize = payloadSize
            self.geometry = geometry
            self.bootID = bootID
        }

        /// Reads a header from `p` (at least `StateFile.headerSize` bytes).
        init(reading p: UnsafeRawPointer) {
            kind = p.loadUnaligned(fromByteOffset: Offset.magic, as: UInt64.self)
            version = p.loadUnaligned(fromByteOffset: Offset.version, as: UInt32.self)
            headerSize = p.loadUnaligned(fromByteOffset: Offset.headerSize, as: UInt32.self)
            payloadSize = p.loadUnaligned(fromByteOffset: Offset.payloadSize, as: UInt64.self)
            clock = p.loadUnaligned(fromByteOffset: Offset.clock, as: UInt32.self)
            let count = min(Int(p.loadUnaligned(fromByteOffset: Offset.geometryCount, as: UInt32.self)), StateFile.maximumGeometry)
            geometry = (0..<count).map { p.loadUnaligned(fromByteOffset: Offset.geometry + 8 * $0, as: UInt64.self) }
            let idBytes = UnsafeRawBufferPointer(start: p + Offset.bootID, count: StateFile.bootIDLength)
            bootID = String(decoding: idBytes.prefix { $0 != 0 }, as: UTF8.self)
            storedChecksum = p.loadUnaligned(fromByteOffset: Offset.checksum, as: UInt64.self)
            checksum = Self.fnv1a(p, count: Offset.checksum)
        }

        /// Writes the header (with its checksum) at `p`.
        func write(to p: UnsafeMutableRawPointer) {
            p.initializeMemory(as: UInt8.self, repeating: 0, count: StateFile.headerSize)
            p.storeBytes(of: kind, toByteOffset: Offset.magic, as: UInt64.self)
            p.storeBytes(of: version, toByteOffset: Offset.version, as: UInt32.self)
            p.storeBytes(of: headerSize, toByteOffset: Offset.headerSize, as: UInt32.self)
            p.storeBytes(of: payloadSize, toByteOffset: Offset.payloadSize, as: UInt64.self)
            p.storeBytes(of: clock, toByteOffset: Offset.clock, as: UInt32.self)
            p.storeBytes(of: UInt32(geometry.count), toByteOffset: Offset.geometryCount, as: UInt32.self)
            for (i, g) in geometry.enumerated() { p.storeBytes(of: g, toByteOffset: Offset.geometry + 8 * i, as: UInt64.self) }
            for (i, byte) in bootID.utf8.prefix(StateFile.bootIDLength - 1).enumerated() {
                p.storeBytes(of: byte, toByteOffset: Offset.bootID + i, as: UInt8.self)
            }
            p.storeBytes(of: Self.fnv1a(p, count: Offset.checksum), toByteOffset: Offset.checksum, as: UInt64.self)
        }

        /// Why a file with this header, `fileSize` bytes long, is not what `wanted`
        /// describes; nil when it is.
        func refusal(wanted: Header, fileSize: Int) -> String? {
            if kind != wanted.kind { return "not a state file of this kind (magic \(hex(kind)))" }
            if checksum != storedChecksum { return "corrupt: header checksum \(hex(storedChecksum)), computed \(hex(checksum))" }
            if version != wanted.version { return "format version \(version), this switch reads version \(wanted.version)" }
            if headerSize != wanted.headerSize || clock != wanted.clock {
                return "corrupt: header size \(headerSize), clock \(clock)"
            }
            if bootID != wanted.bootID { return "written by another boot (\(bootID.isEmpty ? "unknown" : bootID))" }
            if geometry != wanted.geometry || payloadSize != wanted.payloadSize {
                return "geometry differs: file \(geometry.map(String.init).joined(separator: "/")), configured \(wanted.geometry.map(String.init).joined(separator: "/"))"
            }
            if fileSize != StateFile.headerSize + Int(payloadSize) {
                return "corrupt: \(fileSize) bytes, header says \(StateFile.headerSize + Int(payloadSize))"
            }
            return nil
        }

        static func fnv1a(_ p: UnsafeRawPointer, count: Int) -> UInt64 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for i in 0..<count {
                h ^= UInt64(p.load(fromByteOffset: i, as: UInt8.self))
                h = h &* 0x0000_0100_0000_01B3
            }
            return h
        }

        private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
    }
}

/// A state file could not be made at all (the table then lives in ordinary memory).
public struct StateFileError: Error, Sendable, CustomStringConvertible {
    /// The file that could not be made.
    public var path: String
    /// The system call that failed (`open`, `ftruncate/mmap`, `rename`...).
    public var call: String
    /// Its errno.
    public var errno: Int32

    /// `path: call: errno text`.
    public var description: String { "\(path): \(call): \(String(cString: strerror(errno)))" }
}
