#!/bin/bash
# The AF_XDP integration tests (Tests/AFXDPTests, the suites under "AF_XDP integration") and
# the cloud demo (Tests/CloudTests: the API server, two compute nodes' and the network node's
# agents, over GRE and VLAN) run again with the in-kernel fast path on: XDPSWITCH_FAST_PATH=on
# makes it the default of every engine they start, in the test process and in the
# `xdpswitch` commands it runs (the agents too), and gives the hosts' veth ends GRO so they
# take the program's redirects. Every suite must pass so, those written for the fast path
# included (they set it on themselves in `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "test-fast-path: skipped: the AF_XDP integration tests need root (network namespaces, XDP)"
    exit 0
fi
XDPSWITCH_FAST_PATH=on ${SWIFT:-swift} test --filter 'AFXDPIntegrationTests|CloudTests'
