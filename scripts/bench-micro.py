#!/usr/bin/env python3
"""Per-packet figures from `swift package benchmark --format markdown` output (Benchmarks/).
Each benchmark named '... xN' handles N packets per iteration (1000 batches of 64); throughput
is iterations per second on one thread, so packets/s per core = throughput x N. Mallocs per
packet subtract the harness's own allocations per iteration (the empty baseline's count).
Usage: bench-micro.py micro.md  (prints a Markdown table)"""
import re
import sys

UNITS = {"ns": 1, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
SCALE = {"#": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def parse(text):
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    benches, name = {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            name = line[4:].strip()
            benches[name] = {}
        elif name and line.startswith("| ") and not line.startswith("| Metric"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            metric, p50 = cells[0], cells[3]
            try:
                value = float(p50)
            except ValueError:
                continue
            unit = re.search(r"\(([^()]*)\)\s*\*?$", metric)
            unit = unit.group(1) if unit else "#"
            if metric.startswith("Throughput"):
                benches[name]["throughput"] = value * SCALE.get(unit, 1)
            elif metric.startswith("Time (wall clock)"):
                benches[name]["wall_ns"] = value * UNITS.get(unit, 1)
            elif metric.startswith("Malloc (total)"):
                benches[name]["mallocs"] = value * SCALE.get(unit, 1)
            elif metric.startswith("Instructions"):
                benches[name]["instructions"] = value * SCALE.get(unit, 1)
    return benches


def main(path):
    benches = parse(open(path).read())
    base = benches.get("Baseline: empty iteration", {}).get("mallocs", 0)
    print("| benchmark (p50) | packets/iteration | Mpps per core | ns per packet | mallocs per packet |")
    print("|---|---:|---:|---:|---:|")
    for name, b in benches.items():
        m = re.search(r"x(\d+)$", name)
        if not m or "throughput" not in b:
            continue
        n = int(m.group(1))
        mpps = b["throughput"] * n / 1e6
        ns = b.get("wall_ns", 0) / n
        mallocs = (b.get("mallocs", 0) - base) / n
        print(f"| {name} | {n} | {mpps:.1f} | {ns:.1f} | {mallocs:.4f} |")


if __name__ == "__main__":
    main(sys.argv[1])
