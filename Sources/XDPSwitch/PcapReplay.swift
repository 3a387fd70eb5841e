import XDPPacket
import XDPPcap
import XDPDatapath

/// Runs a datapath offline over capture files: the third transport, beside AF_XDP
/// sockets and in-memory ports.
///
/// Frames from every input are merged in timestamp order (ties keep the order of the
/// inputs, then of the file) and each is processed as received on its input's port
/// with its capture timestamp as the datapath clock, so MAC aging replays as it
/// happened. Every port that emits frames gets `DIR/PORT.pcap`, each frame stamped
/// with the time of the frame that caused it.
///
/// A replay is reproducible when the datapath was built with
/// `DatapathConfiguration.randomSeed` set (`xdpswitch replay --seed N`): the same
/// captures then give byte-identical output files, run after run.
public struct PcapReplay {
    /// One capture file fed into one port.
    public struct Input: Sendable, Equatable {
        /// The port the file's frames are received on.
        public var port: String
        /// The capture file (pcap or pcapng, Ethernet).
        public var path: String
        /// The file at `path` fed into the port named `port`.
        public init(port: String, path: String) {
            self.port = port
            self.path = path
        }
    }

    /// Why a replay could not run: an input or the output directory refused, or a
    /// capture file that could not be read or written.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// An input names no port that has a wire, or the output directory cannot be
        /// used: what is wrong, naming the flag and file.
        case refused(String)
        /// libpcap could not read an input or write an output file.
        case capture(PcapError)

        /// What is wrong, in one line.
        public var description: String {
            switch self {
            case .refused(let message): message
            case .capture(let error): error.description
            }
        }
    }

    /// What a replay did.
    public struct Report: Sendable {
        /// Frames read from all inputs.
        public var framesRead: Int
        /// Frames written, by port name.
        public var framesWritten: [String: Int]
        /// Output files, by port name.
        public var outputFiles: [String: String]
    }

    /// The datapath the frames run through (its clock is the captures' timestamps).
    public let datapath: Datapath

    /// A replay through `datapath`.
    public init(datapath: Datapath) { self.datapath = datapath }

    /// Replays `inputs` and writes what each port emitted into `outputDirectory`
    /// (created if missing). Throws `Failure.refused` when an input or the output
    /// directory cannot be used, `Failure.capture` when libpcap fails.
    public func run(inputs: [Input], outputDirectory: String) throws(Failure) -> Report {
        var records: [(time: UInt64, input: Int, index: Int, bytes: [UInt8])] = []
        var ports: [DatapathPort] = []
        for (n, input) in inputs.enumerated() {
            guard let port = datapath.port(named: input.port) else {
                throw .refused("--input \(input.port)=\(input.path): no port named \(input.port)")
            }
            if case .patch = port.type {
                throw .refused("--input \(input.port)=\(input.path): \(input.port) is a patch port; it has no wire to replay into")
            }
            if port.serviceKind != .none {
                throw .refused("--input \(input.port)=\(input.path): \(input.port) is a \(port.serviceKind) port; its frames come from the datapath's \(port.serviceKind), not a wire")
            }
            ports.append(port)
            let reader = try capture { () throws(PcapError) in try PcapReader(path: input.path) }
            guard reader.linkType == 1 else {
                throw .refused("\(input.path): link type \(reader.linkType) is not Ethernet (1)")
            }
            var index = 0
            while let record = try capture({ () throws(PcapError) in try reader.next() }) {
                records.append((record.timestampNanoseconds, n, index, record.bytes))
                index += 1
            }
        }
        records.sort { ($0.time, $0.input, $0.index) < ($1.time, $1.input, $1.index) }
        try makeDirectory(outputDirectory)

        var writers: [PortID: PcapWriter] = [:]
        var report = Report(framesRead: records.count, framesWritten: [:], outputFiles: [:])
        for record in records {
            datapath.inject(record.bytes, into: ports[record.input], now: DatapathInstant(nanoseconds: record.time))
            for port in datapath.ports where !port.txQueue.isEmpty {
                let writer: PcapWriter
                if let existing = writers[port.id] {
                    writer = existing
                } else {
                    let path = outputDirectory + "/" + port.name + ".pcap"
                    writer = try capture { () throws(PcapError) in try PcapWriter(path: path) }
                    writers[port.id] = writer
                    report.outputFiles[port.name] = path
                }
                for frame in datapath.drainTransmitted(port) {
                    try capture { () throws(PcapError) in try writer.write(frame, timestampNanoseconds: record.time) }
                    report.framesWritten[port.name, default: 0] += 1
                }
            }
        }
        for writer in writers.values { try capture { () throws(PcapError) in try writer.close() } }
        return report
    }

    /// What `body` returns, its libpcap error thrown as `Failure.capture`.
    private func capture<T>(_ body: () throws(PcapError) -> T) throws(Failure) -> T {
        do { return try body() } catch { throw .capture(error) }
    }

    private func makeDirectory(_ path: String) throws(Failure) {
        var isDirectory = false
        if fileExists(path, isDirectory: &isDirectory) {
            guard isDirectory else { throw .refused("--output-dir \(path): exists and is not a directory") }
            return
        }
        guard mkdirAll(path) else { throw .refused("--output-dir \(path): cannot create it") }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func fileExists(_ path: String, isDirectory: inout Bool) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0 else { return false }
    isDirectory = info.st_mode & S_IFMT == S_IFDIR
    return true
}

private func mkdirAll(_ path: String) -> Bool {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        var isDirectory = false
        if fileExists(current, isDirectory: &isDirectory) { if !isDirectory { return false }; continue }
        guard mkdir(current, 0o755) == 0 || errno == EEXIST else { return false }
    }
    return true
}
