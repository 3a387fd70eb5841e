#!/bin/bash
# make bench-check: the throughput regression checks, on l2, each a ratio from the same run
# (never an absolute rate: the machines vary ±15%):
#   raw       — short alternating runs of our datapath and the minimal AF_XDP forwarder; fails
#               when the median xdpswitch/raw ratio is below BENCH_CHECK_MIN;
#   fast path — the same with the in-kernel fast path on (xdpswitch-fp) against the direct veth
#               pair (no forwarder); fails when the median xdpswitch-fp/direct ratio is below
#               BENCH_CHECK_FAST_PATH_MIN or the kernel carried less than 99% of its frames.
# A check below its threshold is measured once more and fails only if that run is below too:
# a real regression fails both, a noisy one (BENCHMARKS.md, "make bench-check": the spreads)
# rarely fails twice in a row. Both checks always run; the script fails if either failed.
#   BENCH_CHECK_MIN=0.75 BENCH_CHECK_FAST_PATH_MIN=0.5 BENCH_CHECK_REPEAT=5 BENCH_CHECK_SECONDS=2 scripts/bench-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
# The bench needs no control plane (Package.swift): its release build leaves it out.
export XDPSWITCH_CONTROL_PLANE=0
$SWIFT build -c release --scratch-path .build-bench --product xdpswitch
bench=(.build-bench/release/xdpswitch bench l2 --seconds "${BENCH_CHECK_SECONDS:-2}" --repeat "${BENCH_CHECK_REPEAT:-5}")

# Runs one check, and once more when it fails; returns the second run's status.
check_twice() {
    "${bench[@]}" "$@" && return 0
    echo "bench-check: measuring once more (the check fails only when both runs are below the threshold)"
    "${bench[@]}" "$@"
}

status=0
check_twice --compare raw --min-raw-ratio "${BENCH_CHECK_MIN:-0.75}" || status=1
check_twice --compare fastpath,direct --min-fast-path-ratio "${BENCH_CHECK_FAST_PATH_MIN:-0.5}" || status=1
exit $status
