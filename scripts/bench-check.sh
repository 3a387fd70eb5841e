#!/bin/bash
# make bench-check: the throughput regression check. Short alternating runs of our datapath and
# the minimal AF_XDP forwarder on l2; fails when the median xdpswitch/raw ratio is below the
# threshold (a ratio from the same run, never an absolute rate: the machines vary ±15%).
#   BENCH_CHECK_MIN=0.75 BENCH_CHECK_REPEAT=5 BENCH_CHECK_SECONDS=2 scripts/bench-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
$SWIFT build -c release --scratch-path .build-bench --product xdpswitch
exec .build-bench/release/xdpswitch bench l2 --compare raw \
  --seconds "${BENCH_CHECK_SECONDS:-2}" --repeat "${BENCH_CHECK_REPEAT:-5}" --min-raw-ratio "${BENCH_CHECK_MIN:-0.75}"
