import CPcap

/// Writes packets to a classic pcap file through libpcap, with nanosecond timestamps
/// (magic 0xa1b23c4d) and link type Ethernet (`DLT_EN10MB`) unless told otherwise.
///
/// Only pcap is written: libpcap cannot write pcapng. Read either with `PcapReader`.
///
/// Not thread-safe: one writer per thread. The file is flushed and closed by `close()`
/// or when the writer is released.
public final class PcapWriter {
    /// The file being written.
    public let path: String
    @usableFromInline
    let handle: OpaquePointer
    @usableFromInline
    var dumper: OpaquePointer?
    /// Records longer than this are cut to it (their original length is kept).
    public let snapshotLength: Int

    /// Creates (or truncates) `path`. The corresponding C functions are
    /// `pcap_open_dead_with_tstamp_precision` and `pcap_dump_open`.
    public init(path: String, linkType: Int32 = Int32(DLT_EN10MB), snapshotLength: Int = 262_144) throws(PcapError) {
        self.path = path
        self.snapshotLength = snapshotLength
        guard let dead = pcap_open_dead_with_tstamp_precision(linkType, Int32(snapshotLength), UInt32(PCAP_TSTAMP_PRECISION_NANO)) else {
            throw PcapError(operation: "pcap_open_dead_with_tstamp_precision", path: path, message: "out of memory")
        }
        guard let dumper = pcap_dump_open(dead, path) else {
            let message = String(cString: pcap_geterr(dead))
            pcap_close(dead)
            throw PcapError(operation: "pcap_dump_open", path: path, message: message)
        }
        self.handle = dead
        self.dumper = dumper
    }

    deinit {
        if let dumper { pcap_dump_close(dumper) }
        pcap_close(handle)
    }

    /// Appends one record with the given capture time (nanoseconds since the epoch).
    /// The corresponding C function is `pcap_dump`, which reports no errors; they show
    /// up in `flush()` or `close()`.
    public func write(_ bytes: UnsafeRawBufferPointer, timestampNanoseconds: UInt64, originalLength: Int? = nil) throws(PcapError) {
        guard let dumper else { throw PcapError(operation: "pcap_dump", path: path, message: "writer is closed") }
        var header = pcap_pkthdr()
        header.ts.tv_sec = Int(timestampNanoseconds / 1_000_000_000)
        header.ts.tv_usec = Int(timestampNanoseconds % 1_000_000_000)  // nanoseconds: opened with NANO precision
        header.caplen = UInt32(min(bytes.count, snapshotLength))
        header.len = UInt32(max(originalLength ?? bytes.count, bytes.count))
        // pcap_dump takes the dumper as its `u_char *user` argument.
        pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), &header,
                  bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!)
    }

    /// Appends one record from an array.
    public func write(_ bytes: [UInt8], timestampNanoseconds: UInt64, originalLength: Int? = nil) throws(PcapError) {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out by hand.
        let failure: PcapError? = bytes.withUnsafeBytes { raw in
            do throws(PcapError) {
                try write(raw, timestampNanoseconds: timestampNanoseconds, originalLength: originalLength)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Appends a record read from another file.
    public func write(_ record: PcapRecord) throws(PcapError) {
        try write(record.bytes, timestampNanoseconds: record.timestampNanoseconds, originalLength: record.originalLength)
    }

    /// Pushes buffered records to the file. The corresponding C function is `pcap_dump_flush`.
    public func flush() throws(PcapError) {
        guard let dumper else { return }
        if pcap_dump_flush(dumper) != 0 {
            throw PcapError(operation: "pcap_dump_flush", path: path, message: "write failed")
        }
    }

    /// Flushes and closes the file; later writes throw. Calling it twice is harmless.
    public func close() throws(PcapError) {
        guard let dumper else { return }
        let failed = pcap_dump_flush(dumper) != 0
        pcap_dump_close(dumper)
        self.dumper = nil
        if failed { throw PcapError(operation: "pcap_dump_flush", path: path, message: "write failed") }
    }
}
