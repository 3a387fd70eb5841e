import CPcap

/// One packet record of a capture file.
public struct PcapRecord: Sendable, Equatable {
    /// Capture time, nanoseconds since the Unix epoch (exact for nanosecond files,
    /// microseconds × 1000 for classic ones).
    public var timestampNanoseconds: UInt64
    /// The captured bytes (`caplen` of them).
    public var bytes: [UInt8]
    /// The packet's length on the wire (`len`), ≥ `bytes.count` when the capture was cut
    /// at a snapshot length.
    public var originalLength: Int

    /// A record of `bytes` captured at `timestampNanoseconds`; `originalLength` defaults
    /// to the bytes' count (nothing cut).
    public init(timestampNanoseconds: UInt64, bytes: [UInt8], originalLength: Int? = nil) {
        self.timestampNanoseconds = timestampNanoseconds
        self.bytes = bytes
        self.originalLength = originalLength ?? bytes.count
    }
}

/// Reads packet records from a pcap or pcapng file through libpcap.
///
/// libpcap's `pcap_open_offline_with_tstamp_precision` recognises both formats by their
/// magic number and hands back timestamps at nanosecond precision whatever the file
/// holds. For pcapng, libpcap reads the packets of the first interface's link type; files
/// that mix link types across interfaces are refused by libpcap.
///
/// Not thread-safe: one reader per thread. Iterate with `next()`, or `nextPacket(_:)` to
/// see the bytes in libpcap's buffer without copying them (a replay port's loop).
public final class PcapReader {
    /// The file being read.
    public let path: String
    @usableFromInline
    let handle: OpaquePointer

    /// Opens `path` for reading. The corresponding C function is
    /// `pcap_open_offline_with_tstamp_precision`.
    public init(path: String) throws(PcapError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        guard let opened else {
            throw PcapError(operation: "pcap_open_offline_with_tstamp_precision", path: path,
                            message: String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.handle = opened
    }

    deinit { pcap_close(handle) }

    /// The file's link-layer header type (`DLT_EN10MB` = 1 for Ethernet).
    public var linkType: Int32 { pcap_datalink(handle) }

    /// The file's snapshot length.
    public var snapshotLength: Int32 { pcap_snapshot(handle) }

    /// Calls `body` with the next packet's bytes (valid only during the call), its
    /// timestamp in nanoseconds and its original length; returns nil at end of file.
    /// The corresponding C function is `pcap_next_ex`.
    public func nextPacket<R>(_ body: (UnsafeRawBufferPointer, _ timestampNanoseconds: UInt64, _ originalLength: Int) -> R) throws(PcapError) -> R? {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let header, let data else { return nil }
            let h = header.pointee
            // Opened with nanosecond precision, so tv_usec holds nanoseconds.
            let ns = UInt64(h.ts.tv_sec) &* 1_000_000_000 &+ UInt64(h.ts.tv_usec)
            return body(UnsafeRawBufferPointer(start: data, count: Int(h.caplen)), ns, Int(h.len))
        case PCAP_ERROR_BREAK:  // -2: no more packets in the file
            return nil
        default:
            throw PcapError(operation: "pcap_next_ex", path: path, message: String(cString: pcap_geterr(handle)))
        }
    }

    /// The next record, copied out of libpcap's buffer, or nil at end of file.
    public func next() throws(PcapError) -> PcapRecord? {
        try nextPacket { bytes, ns, length in
            PcapRecord(timestampNanoseconds: ns, bytes: Array(bytes), originalLength: length)
        }
    }

    /// All remaining records.
    public func readAll() throws(PcapError) -> [PcapRecord] {
        var records: [PcapRecord] = []
        while let record = try next() { records.append(record) }
        return records
    }
}
