# XDPSwitch — the two commands of the README, and the helpers they use.
#   make demo   install what is missing, build release, run the cloud demo (MODE=gre | vlan)
#   make test   install what the tests need, run every test (root runs the veth tests too)

SWIFT    ?= swift
# Build-time libraries (Swift system modules and the eBPF build) and run-time tools of the tests.
DEPS_BUILD = pkg-config libxdp-dev libbpf-dev libelf-dev zlib1g-dev libpcap-dev
DEPS_TEST  = iproute2 ethtool tcpdump tshark python3-scapy iperf3 netcat-openbsd iputils-ping bpftool busybox postgresql curl
DEPS_BENCH = openvswitch-switch iptables conntrack bridge-utils

.PHONY: all deps deps-test build release demo demo-switch test bench bench-check bench-instructions clean

all: build

deps:
	@scripts/install-deps.sh $(DEPS_BUILD)

deps-test: deps
	@scripts/install-deps.sh $(DEPS_TEST)
	@scripts/install-openstack-client.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

MODE ?= gre
demo: release deps-test
	@MODE=$(MODE) scripts/demo-cloud.sh .build/release/xdpswitch

# The single-switch demo: the embedded configuration, a replay, one bridge over veth.
demo-switch: release deps-test
	@scripts/demo.sh .build/release/xdpswitch

test: deps-test
	@scripts/check-unchecked-sendable.sh
	@scripts/check-doc-comments.py
	$(SWIFT) test

bench: deps
	@scripts/install-deps.sh $(DEPS_BENCH)
	@scripts/bench-all.sh

bench-check: deps
	@scripts/install-deps.sh iproute2 ethtool
	@scripts/bench-check.sh

# The API server's latency and throughput on SQLite and PostgreSQL (BENCHMARKS.md, docs/api.md).
.PHONY: bench-api
bench-api: deps-test
	@scripts/bench-api.sh

# The node agent: one node's compile and build of a 1,000-port model, and a port created
# through the API until it is live on its node (BENCHMARKS.md).
.PHONY: bench-agent
bench-agent: release deps-test
	@python3 scripts/bench-agent.py .build/release/xdpswitch --model 1000,100,10
	@python3 scripts/bench-agent.py .build/release/xdpswitch

bench-instructions: deps
	@scripts/install-deps.sh valgrind binutils
	@scripts/bench-instructions.sh

# The AF_XDP integration tests and the cloud demo again with the in-kernel fast path on (root; scripts/test-fast-path.sh).
.PHONY: test-fast-path
test-fast-path: deps-test
	@SWIFT=$(SWIFT) scripts/test-fast-path.sh

# libFuzzer targets (Fuzz/, docs/SECURITY.md): FUZZ_SECONDS per target; fuzz-ci is CI's short pass.
.PHONY: fuzz fuzz-ci test-sanitize
FUZZ_SECONDS ?= 300
fuzz: deps-test
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

fuzz-ci: deps-test
	FUZZ_SECONDS=60 scripts/fuzz.sh

# The DocC documentation of the library (Sources/*/*.docc) into .build-docs/docs/; fails on a DocC warning.
.PHONY: docs
docs: deps
	scripts/docs.sh

# The unit tests that need no root under AddressSanitizer and ThreadSanitizer (docs/SECURITY.md).
test-sanitize: deps-test
	scripts/test-sanitize.sh

# The soak (Tests/AFXDPTests/SoakTests.swift) for DURATION seconds (root): `make test` runs it
# for a minute; by hand, `make soak DURATION=14400` for four hours
# (XDPSWITCH_SOAK_FLOATING_RECONFIGURE=1: floating IPs changed through reconfigure, the router rebuilt).
.PHONY: soak
DURATION ?= 3600
soak: deps-test
	XDPSWITCH_SOAK_SECONDS=$(DURATION) $(SWIFT) test --filter SoakTests

clean:
	rm -rf .build Benchmarks/.build
