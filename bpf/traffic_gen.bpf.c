// SPDX-License-Identifier: GPL-2.0
// Load generator for `xdpswitch bench`: run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES,
// every frame is sent out of the interface named by the test context's ingress_ifindex
// (XDP_TX on a veth: the frame arrives on the peer, which must run an XDP program).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int traffic_gen(struct xdp_md *ctx)
{
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
