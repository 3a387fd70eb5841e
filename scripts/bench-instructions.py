#!/usr/bin/env python3
"""Instructions per packet of each pipeline stage, counted by valgrind's callgrind.

Perf counters are not available in this machine's VM (`perf stat -e instructions true` says
<not supported>); callgrind counts the instructions a program executes exactly and
repeatably. `xdpswitch bench-micro STAGE --batches N` (a hidden command) runs N batches of
64 frames through one stage, and only the stage runs inside the functions named
`xdpswitch_micro_*`, which is what `--toggle-collect` counts. Each stage runs twice, with
LOW and HIGH batches; the difference divided by the (HIGH - LOW) x 64 packets is the
per-packet figure (so set-up and warm-up cancel out). The same difference over callgrind's
call counts gives the calls per packet of the runtime functions the hot-path rules forbid:
allocation (malloc, swift_allocObject, ...), reference counting (swift_retain/release,
...) and exclusivity checks (swift_beginAccess).

Usage: bench-instructions.py XDPSWITCH_BINARY [STAGE ...] > table.md
(the binary without DWARF: valgrind 3.19 cannot read Swift's; scripts/bench-instructions.sh
strips a copy.)"""
import os
import re
import subprocess
import sys
import tempfile

LOW, HIGH, BATCH = 100, 300, 64
ALLOC = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "swift_allocObject", "swift_slowAlloc")
ARC = ("swift_retain", "swift_release", "swift_retain_n", "swift_release_n", "swift_bridgeObjectRetain",
       "swift_bridgeObjectRelease", "swift_unknownObjectRetain", "swift_unknownObjectRelease")
EXCL = ("swift_beginAccess",)
# Swift seeds its Hasher per process: with the seed fixed, whatever a Set or Dictionary
# probes (the classifier's) takes the same steps every run.
ENV = dict(os.environ, SWIFT_DETERMINISTIC_HASHING="1")


def callgrind(binary, stage, batches):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              "--toggle-collect=xdpswitch_micro_*", binary, "bench-micro", stage,
                              "--batches", str(batches)], capture_output=True, text=True, env=ENV)
        if run.returncode != 0 or not os.path.exists(out):
            sys.exit(f"{stage}: valgrind failed:\n{run.stdout}{run.stderr}")
        text = open(out).read()
    total = int(re.search(r"^totals:\s+(\d+)", text, re.M).group(1))
    names, calls, callee = {}, {}, None
    for line in text.splitlines():
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            callee = names.get(m.group(1)) if line.startswith("cfn=") else None
            continue
        if line.startswith("calls=") and callee:
            calls[callee] = calls.get(callee, 0) + int(line[6:].split()[0])
            callee = None
    return total, calls


def per_packet(binary, stage):
    (t0, c0), (t1, c1) = callgrind(binary, stage, LOW), callgrind(binary, stage, HIGH)
    packets = (HIGH - LOW) * BATCH

    def count(names):
        return sum(c1.get(n, 0) - c0.get(n, 0) for n in names) / packets

    return (t1 - t0) / packets, count(ALLOC), count(ARC), count(EXCL)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    stages = sys.argv[2:] or subprocess.run([binary, "bench-micro", "list"], capture_output=True,
                                            text=True, check=True).stdout.split()
    print("| stage | instructions/packet | allocations/packet | retain+release/packet | exclusivity checks/packet |")
    print("|---|---:|---:|---:|---:|")
    for stage in stages:
        ir, alloc, arc, excl = per_packet(binary, stage)
        print(f"| {stage} | {ir:.1f} | {alloc:.3f} | {arc:.3f} | {excl:.3f} |", flush=True)


if __name__ == "__main__":
    main()
