#!/bin/bash
# The unit tests that need no root, under AddressSanitizer, then ThreadSanitizer
# (docs/SECURITY.md, "Sanitizers"). Each sanitizer builds into its own scratch directory
# (.build-asan, .build-tsan) so the normal build is not thrown away. Prints the time each
# run took. SANITIZERS="address" runs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Pure layers and the library over in-memory ports, the control socket and the YAML: no
# root, no AF_XDP (AFXDPTests needs both and runs in make test). The Examples/ programs are
# separate processes that make test runs; built with a sanitizer they report what their
# async main still holds when it exits, so they are skipped here.
# The control plane is left out (Package.swift): its packages would double each build.
export XDPSWITCH_CONTROL_PLANE=0
FILTER=${SANITIZE_FILTER:-'XDPPacketTests|XDPDatapathTests|XDPModelTests|XDPSwitchTests'}
for sanitizer in ${SANITIZERS:-address thread}; do
    scratch=.build-${sanitizer/address/asan}
    scratch=${scratch/thread/tsan}
    start=$(date +%s)
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
    built=$(date +%s)
    # halt_on_error: the first report fails the run; the exit code says so.
    ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1} TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
        LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt} \
        swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --filter "$FILTER" --skip ExamplesTests
    # As root, ThreadSanitizer also watches the engine's threads and the control socket
    # driving them on veth pairs (AF_XDP integration tests; make test runs them plain).
    if [ "$sanitizer" = thread ] && [ "$(id -u)" = 0 ]; then
        TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} swift test --skip-build --sanitize=thread --scratch-path "$scratch" \
            --filter "${SANITIZE_ROOT_FILTER:-LiveFlowControlTests|EngineIntegrationTests}"
    fi
    done=$(date +%s)
    echo "test-sanitize: $sanitizer: build $((built - start)) s, tests $((done - built)) s"
done
