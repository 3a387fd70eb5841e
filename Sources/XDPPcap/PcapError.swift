/// A libpcap failure while opening, reading or writing a capture file.
public struct PcapError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libpcap function that failed (`pcap_open_offline_with_tstamp_precision`,
    /// `pcap_next_ex`, `pcap_dump_open`, ...), or the check this layer made.
    public var operation: String
    /// The capture file's path.
    public var path: String
    /// libpcap's error text (`errbuf` or `pcap_geterr`).
    public var message: String

    /// A failure of `operation` on the file at `path`, as libpcap said it.
    public init(operation: String, path: String, message: String) {
        self.operation = operation
        self.path = path
        self.message = message
    }

    /// `OPERATION PATH: message`.
    public var description: String { "\(operation) \(path): \(message)" }
}
