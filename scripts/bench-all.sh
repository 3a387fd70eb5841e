#!/bin/bash
# make bench: release build (own scratch path), every scenario against every peer, the JSON and
# the chart, then the microbenchmarks; everything lands in docs/benchmarks/ (OUT=...), the
# figures quoted in BENCHMARKS.md come from there.
#   SECONDS_PER_RUN=5 REPEAT=3 scripts/bench-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
OUT=${OUT:-docs/benchmarks}
mkdir -p "$OUT"
# The bench needs no control plane (Package.swift): its release build leaves it out.
export XDPSWITCH_CONTROL_PLANE=0
$SWIFT build -c release --scratch-path .build-bench --product xdpswitch
.build-bench/release/xdpswitch bench all --compare ovs,kernel,raw \
  --seconds "${SECONDS_PER_RUN:-5}" --repeat "${REPEAT:-5}" --json "$OUT/bench.json" | tee "$OUT/bench.txt"
PY=python3
$PY -c 'import matplotlib' 2>/dev/null || { /usr/bin/python3 -c 'import matplotlib' 2>/dev/null && PY=/usr/bin/python3; } \
  || pip install -q matplotlib 2>/dev/null || scripts/install-deps.sh python3-matplotlib
$PY -c 'import matplotlib' 2>/dev/null || PY=/usr/bin/python3
$PY scripts/bench-chart.py "$OUT/bench.json" "$OUT/bench.png"
if [ "${MICRO:-1}" = 1 ]; then
  scripts/bench-instructions.sh
  (cd Benchmarks && $SWIFT package --disable-sandbox benchmark --format markdown) \
    | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -E '^(\||#)' > "$OUT/micro.md"
  $PY scripts/bench-micro.py "$OUT/micro.md" | tee "$OUT/micro-table.md"
fi
