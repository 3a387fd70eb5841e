#if canImport(Glibc)
import Glibc
#endif

/// What `xdpswitch bench` measured: every run, medians per scenario and peer, ratios; the
/// table it prints and the JSON it writes (`--json`, read by scripts/bench-chart.py).
///
/// CPU figures are seconds per million packets delivered at the sink:
/// * `forwarderCPU`: the peer's own threads (ours/raw: the worker, RUSAGE_THREAD; ovs: the
///   ovs-vswitchd process; kernel: none — nil);
/// * `softirqCPU`: softirq time of the whole machine (/proc/stat) — the veth NAPI work on
///   both sides of the forwarder, the sink's XDP program, and for the Linux bridge all of its
///   forwarding; the same generator/sink overhead is in every peer's figure;
/// * `totalCPU` = forwarder + softirq: the comparable figure across peers;
/// * `machineCPU`: all busy time of the machine minus the generator thread — includes other
///   processes (builds, other tests), so it is in the JSON only.
struct BenchReport {
    struct Sample {
        var peer: String
        var round: Int
        var mpps: Double
        var offered: Double
        var forwarderCPU: Double?
        var softirqCPU: Double
        var machineCPU: Double
        var generatorCPU: Double
        /// Mean frame length the sink saw (checks the scenario's work: +4 after a VLAN push).
        var sinkFrameBytes: Double
        var detail: String
        /// How much each of the peer's cumulative counters grew in the window (`fast-path`,
        /// `rx`, drops by reason, ...; empty for peers without counters).
        var counts: [String: UInt64] = [:]
        var totalCPU: Double { (forwarderCPU ?? 0) + softirqCPU }
    }

    struct Median {
        var mpps: Double, offered: Double, forwarderCPU: Double?, softirqCPU: Double, totalCPU: Double, machineCPU: Double
        var runs: Int
    }

    struct Scenario {
        var name: String
        var summary: String
        var pending: String? = nil
        var samples: [Sample] = []
        var failures: [String: String] = [:]
        var unsupported: [String: String] = [:]

        func median(_ peer: String) -> Median? {
            let mine = samples.filter { $0.peer == peer }
            guard !mine.isEmpty else { return nil }
            let fwd = mine.compactMap(\.forwarderCPU)
            return Median(mpps: XDPBench.median(mine.map(\.mpps)), offered: XDPBench.median(mine.map(\.offered)),
                          forwarderCPU: fwd.isEmpty ? nil : XDPBench.median(fwd),
                          softirqCPU: XDPBench.median(mine.map(\.softirqCPU)), totalCPU: XDPBench.median(mine.map(\.totalCPU)),
                          machineCPU: XDPBench.median(mine.map(\.machineCPU)), runs: mine.count)
        }

        /// Median Mpps of `ours` over median Mpps of `peer`.
        func ratio(_ ours: String, _ peer: String) -> Double? {
            guard let a = median(ours), let b = median(peer), b.mpps > 0 else { return nil }
            return a.mpps / b.mpps
        }

        func summaryLines(peers: [String]) -> [String] {
            var lines = ["  median of \(samples.filter { $0.peer == peers[0] }.count):"]
            for peer in peers {
                guard let m = median(peer) else {
                    lines.append("    \(padded(peer, 9)) " + (unsupported[peer].map { "n/a: \($0)" } ?? "no successful run"))
                    continue
                }
                lines.append("    \(padded(peer, 9)) \(fixed(m.mpps, 3)) Mpps at sink (offered \(fixed(m.offered, 3)))  "
                    + "CPU s/Mpkt: fwd \(m.forwarderCPU.map { fixed($0, 3) } ?? "-") softirq \(fixed(m.softirqCPU, 3)) "
                    + "total \(fixed(m.totalCPU, 3))")
            }
            let ratios = peers.dropFirst().compactMap { p in ratio(peers[0], p).map { "\(peers[0])/\(p) \(fixed($0, 2))" } }
            if !ratios.isEmpty { lines.append("    " + ratios.joined(separator: "  ")) }
            return lines
        }
    }

    var seconds: Int, repeats: Int, size: Int, flows: Int
    var peers: [String]
    var arguments: [String]
    var cpuMethods: [String: String] = [:]
    var scenarios: [Scenario] = []
    var elapsedSeconds = 0.0

    /// The Markdown table of medians (also printed at the end of a run).
    func table() -> [String] {
        var lines = ["| scenario | peer | Mpps at sink | offered Mpps | fwd CPU s/Mpkt | softirq s/Mpkt | total CPU s/Mpkt | xdpswitch/peer |",
                     "|---|---|---:|---:|---:|---:|---:|---:|"]
        for s in scenarios {
            if let pending = s.pending {
                lines.append("| \(s.name) | — | pending | | | | | \(pending) |")
                continue
            }
            for peer in peers {
                guard let m = s.median(peer) else {
                    if let reason = s.unsupported[peer] {
                        lines.append("| \(s.name) | \(peer) | n/a | | | | | \(reason) |")
                        continue
                    }
                    lines.append("| \(s.name) | \(peer) | failed | | | | | \(s.failures[peer] ?? "") |")
                    continue
                }
                let ratio = peer == peers[0] ? "" : s.ratio(peers[0], peer).map { fixed($0, 2) } ?? ""
                lines.append("| \(s.name) | \(peer) | \(fixed(m.mpps, 3)) | \(fixed(m.offered, 3)) | "
                    + "\(m.forwarderCPU.map { fixed($0, 3) } ?? "—") | \(fixed(m.softirqCPU, 3)) | \(fixed(m.totalCPU, 3)) | \(ratio) |")
            }
        }
        return lines
    }

    func writeJSON(to path: String) throws {
        var o = "{\n"
        o += "  \"tool\": \"xdpswitch bench\",\n"
        o += "  \"arguments\": [\(arguments.map(Self.quote).joined(separator: ", "))],\n"
        o += "  \"machine\": {\"kernel\": \(Self.quote(Self.kernel())), \"cpus\": \(sysconf(Int32(_SC_NPROCESSORS_ONLN))), "
            + "\"cpu_model\": \(Self.quote(Self.cpuModel()))},\n"
        o += "  \"seconds\": \(seconds), \"repeats\": \(repeats), \"frame_size\": \(size), \"flows\": \(flows),\n"
        o += "  \"elapsed_seconds\": \(fixed(elapsedSeconds, 1)),\n"
        o += "  \"peers\": [\(peers.map(Self.quote).joined(separator: ", "))],\n"
        o += "  \"cpu_methods\": {\(peers.map { "\(Self.quote($0)): \(Self.quote(cpuMethods[$0] ?? ""))" }.joined(separator: ", ")), "
            + "\"softirq\": \"machine-wide softirq seconds from /proc/stat (veth NAPI on both sides, sink XDP; all of the Linux bridge's forwarding)\", "
            + "\"total\": \"fwd + softirq\", \"machine\": \"machine busy seconds minus the generator thread (includes unrelated processes)\", "
            + "\"unit\": \"CPU seconds per million packets delivered\"},\n"
        o += "  \"scenarios\": [\n"
        o += scenarios.map { s in
            var e = "    {\"name\": \(Self.quote(s.name)), \"summary\": \(Self.quote(s.summary)), "
            if let pending = s.pending { return e + "\"status\": \"pending\", \"reason\": \(Self.quote(pending))}" }
            e += "\"status\": \"measured\",\n      \"median\": {"
            e += peers.compactMap { p in
                s.median(p).map { m in
                    "\(Self.quote(p)): {\"mpps\": \(Self.num(m.mpps)), \"offered_mpps\": \(Self.num(m.offered)), "
                        + "\"fwd_cpu_s_per_mpkt\": \(m.forwarderCPU.map(Self.num) ?? "null"), \"softirq_cpu_s_per_mpkt\": \(Self.num(m.softirqCPU)), "
                        + "\"total_cpu_s_per_mpkt\": \(Self.num(m.totalCPU)), \"machine_cpu_s_per_mpkt\": \(Self.num(m.machineCPU)), \"runs\": \(m.runs)}"
                }
            }.joined(separator: ",\n        ")
            e += "},\n      \"ratios\": {"
            e += peers.dropFirst().compactMap { p in s.ratio(peers[0], p).map { "\(Self.quote("\(peers[0])/\(p)")): \(Self.num($0))" } }
                .joined(separator: ", ")
            e += "},\n      \"unsupported\": {\(s.unsupported.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)): \(Self.quote($0.value))" }.joined(separator: ", "))},"
            e += "\n      \"failures\": {\(s.failures.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)): \(Self.quote($0.value))" }.joined(separator: ", "))},\n"
            e += "      \"runs\": [\n"
            e += s.samples.map { r in
                "        {\"peer\": \(Self.quote(r.peer)), \"round\": \(r.round), \"mpps\": \(Self.num(r.mpps)), \"offered_mpps\": \(Self.num(r.offered)), "
                    + "\"fwd_cpu_s_per_mpkt\": \(r.forwarderCPU.map(Self.num) ?? "null"), \"softirq_cpu_s_per_mpkt\": \(Self.num(r.softirqCPU)), "
                    + "\"machine_cpu_s_per_mpkt\": \(Self.num(r.machineCPU)), \"generator_cpu_s_per_mpkt\": \(Self.num(r.generatorCPU)), \"sink_frame_bytes\": \(Self.num(r.sinkFrameBytes)), "
                    + "\"detail\": \(Self.quote(r.detail))}"
            }.joined(separator: ",\n")
            return e + "\n      ]}"
        }.joined(separator: ",\n")
        o += "\n  ]\n}\n"
        guard let file = fopen(path, "w") else { throw BenchFailure(String(cString: strerror(errno))) }
        defer { fclose(file) }
        guard fputs(o, file) >= 0 else { throw BenchFailure(String(cString: strerror(errno))) }
    }

    static func num(_ v: Double) -> String { v.isFinite ? fixed(v, 4) : "null" }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    static func kernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func cpuModel() -> String {
        guard let text = ProcessCPU.read("/proc/cpuinfo"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "" }
        return String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")
    }
}
