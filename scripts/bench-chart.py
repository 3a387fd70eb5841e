#!/usr/bin/env python3
"""Chart of an `xdpswitch bench --json` file: Mpps at the sink per scenario and peer (median,
with the range of the runs), and total CPU seconds per million packets beside it.
Usage: bench-chart.py bench.json bench.png"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"xdpswitch": "#2b6cb0", "raw": "#a0aec0", "ovs": "#dd6b20", "kernel": "#38a169"}


def main(src, dst):
    data = json.load(open(src))
    peers = data["peers"]
    scenarios = [s for s in data["scenarios"] if s["status"] == "measured"]
    pending = [s["name"] for s in data["scenarios"] if s["status"] != "measured"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        xs, ys, lo, hi, cpu = [], [], [], [], []
        for j, s in enumerate(scenarios):
            m = s["median"].get(peer)
            if not m:
                continue
            runs = [r["mpps"] for r in s["runs"] if r["peer"] == peer]
            xs.append(j + (i - (len(peers) - 1) / 2) * width)
            ys.append(m["mpps"])
            lo.append(m["mpps"] - min(runs))
            hi.append(max(runs) - m["mpps"])
            cpu.append(m["total_cpu_s_per_mpkt"])
        color = COLORS.get(peer, None)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=peer, color=color)
        for x, y in zip(xs, ys):
            ax.text(x, y + 0.01, f"{y:.2f}", ha="center", va="bottom", fontsize=7)
        ax2.bar(xs, cpu, width, label=peer, color=color)
        for j, s in enumerate(scenarios):
            if peer in s.get("unsupported", {}):
                x = j + (i - (len(peers) - 1) / 2) * width
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    for a in (ax, ax2):
        a.set_xticks(range(len(scenarios)))
        a.set_xticklabels([s["name"] for s in scenarios])
    ax.set_ylabel("Mpps at the sink (median, bars: min-max of runs)")
    ax2.set_ylabel("CPU s per Mpkt (forwarder + softirq)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.18)
    ax.legend(loc="upper center", ncol=len(peers), fontsize=8)
    m = data["machine"]
    title = (f"xdpswitch bench: {data['frame_size']}-byte frames, {data['flows']} flow(s), "
             f"{data['repeats']}x{data['seconds']} s; {m['cpus']} CPUs, kernel {m['kernel']}")
    if pending:
        title += "\npending (feature not landed): " + ", ".join(pending)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
