#!/bin/bash
# make bench-instructions: instructions per packet of every pipeline stage (and allocations,
# retain/release and exclusivity checks per packet), counted by valgrind's callgrind over the
# release build's hidden `xdpswitch bench-micro` command (scripts/bench-instructions.py).
# Writes docs/benchmarks/instructions.md (OUT=...); quoted in BENCHMARKS.md.
#   scripts/bench-instructions.sh [STAGE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
OUT=${OUT:-docs/benchmarks}
mkdir -p "$OUT"
scripts/install-deps.sh valgrind binutils
# The bench needs no control plane (Package.swift): its release build leaves it out.
export XDPSWITCH_CONTROL_PLANE=0
$SWIFT build -c release --scratch-path .build-bench --product xdpswitch
# valgrind 3.19 gives up on the DWARF of Swift binaries; the symbol table is all it needs.
BIN=$(mktemp /tmp/xdpswitch-nodebug.XXXXXX)
trap 'rm -f "$BIN"' EXIT
objcopy --strip-debug .build-bench/release/xdpswitch "$BIN"
python3 scripts/bench-instructions.py "$BIN" "$@" | tee "$OUT/instructions.md"
