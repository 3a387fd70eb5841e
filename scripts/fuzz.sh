#!/bin/bash
# Builds the libFuzzer targets of Fuzz/ with -sanitize=fuzzer,address and runs each for
# FUZZ_SECONDS (default 300) from a corpus seeded by scripts/fuzz-corpus.py (scapy frames,
# the docs' flows and YAML). Prints one line per target: executions, corpus size, result.
# A crash leaves its input in Fuzz/.build/crashes/TARGET/ and fails the run; make it a
# regression test in the normal suite (docs/SECURITY.md, "Fuzzing").
#   FUZZ_SECONDS=N     seconds per target
#   FUZZ_TARGETS="…"   which targets (default: all six)
#   XDPSWITCH_CONTROL_PLANE=0  leaves the control plane's packages out: every target but fuzz-api
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-300}
DEFAULT_TARGETS="fuzz-packet fuzz-datapath fuzz-flow-syntax fuzz-yaml fuzz-control"
[ "${XDPSWITCH_CONTROL_PLANE:-1}" = 0 ] || DEFAULT_TARGETS+=" fuzz-api"
TARGETS=${FUZZ_TARGETS:-$DEFAULT_TARGETS}
FLAGS=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
WORK=Fuzz/.build/fuzz-work
rm -rf "$WORK/seeds"
mkdir -p "$WORK/seeds" Fuzz/.build/corpus Fuzz/.build/crashes
/usr/bin/python3 scripts/fuzz-corpus.py "$WORK/seeds"
for target in $TARGETS; do
    (cd Fuzz && swift build "${FLAGS[@]}" --product "$target" >/dev/null) || { echo "fuzz: $target does not build"; exit 1; }
done
BIN=$(cd Fuzz && swift build "${FLAGS[@]}" --show-bin-path)
failed=0
for target in $TARGETS; do
    corpus=Fuzz/.build/corpus/$target crashes=Fuzz/.build/crashes/$target
    mkdir -p "$corpus" "$crashes"
    log=$WORK/$target.log
    # -rss_limit_mb: a configuration may size tables; 2 GB is the machine's budget per target.
    if "$BIN/$target" "$corpus" "$WORK/seeds/$target" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 \
        -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1; then
        result=clean
    else
        result="FAILED (input in $crashes, log $log)"
        failed=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $target: $runs executions in ${SECONDS_PER_TARGET} s, corpus $(ls "$corpus" | wc -l) inputs, $result"
done
exit $failed
