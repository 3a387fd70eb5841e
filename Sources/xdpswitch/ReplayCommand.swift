import ArgumentParser
import XDPSwitch

/// `xdpswitch replay`: the datapath offline, from pcap files to pcap files.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run the datapath over capture files: frames in by port, one pcap out per port that emits.",
        discussion: """
        Frames of all inputs are processed in timestamp order; capture timestamps are the \
        datapath's clock. Every port that emits frames gets DIR/PORT.pcap. With --seed N \
        every random choice (connection-tracker hashes, so the ports NAT picks) is derived \
        from N: the same captures and seed give byte-identical outputs.
        Example: xdpswitch replay --config node.yaml --input qvo-vm1=vm1.pcap --output-dir out
        """)

    @OptionGroup var config: ConfigOption

    @Option(name: .long, help: ArgumentHelp("A capture to feed into a port (repeatable).", valueName: "PORT=FILE"))
    var input: [String] = []

    @Option(name: .customLong("output-dir"), help: "Where to write PORT.pcap for each port that emits frames.")
    var outputDir: String

    @Option(name: .long, help: "Frames in the pool (each 2048 bytes).")
    var frames: Int = 4096

    @Option(name: .long, help: ArgumentHelp("Seed every random choice from N, for reproducible outputs (default: random).",
                                            valueName: "N"))
    var seed: UInt64?

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input PORT=FILE") }
        for item in input where !item.contains("=") {
            throw ValidationError("--input \(item): expected PORT=FILE")
        }
    }

    func run() throws {
        var loaded = try config.load()
        if let seed { loaded.datapath.randomSeed = seed }
        let datapath = try loaded.makeDatapath(pool: FramePool(frameCount: frames), now: .zero)
        let inputs = input.map { item -> PcapReplay.Input in
            let parts = item.split(separator: "=", maxSplits: 1)
            return PcapReplay.Input(port: String(parts[0]), path: String(parts[1]))
        }
        let report: PcapReplay.Report
        do {
            report = try PcapReplay(datapath: datapath).run(inputs: inputs, outputDirectory: outputDir)
        } catch {
            throw CommandFailure("\(error)")
        }
        print("replayed \(report.framesRead) frame(s) from \(inputs.count) input(s)")
        print(SwitchText.stats(datapath.portStatistics()), terminator: "")
        for (port, path) in report.outputFiles.sorted(by: { $0.key < $1.key }) {
            print("wrote \(report.framesWritten[port] ?? 0) frame(s) to \(path)")
        }
    }
}
