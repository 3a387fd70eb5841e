// SPDX-License-Identifier: GPL-2.0
// Steering program of the AF_XDP fast path (Sources/AFXDP/SteeringProgram.swift loads it).
//
// One copy of this program is loaded per switch and attached to every interface that is a
// `system` port. Each interface owns a contiguous range of slots in one XSKMAP, one slot per
// rx queue; `ports` says, per ifindex, which bridge port owns the interface and where its
// slots start. A frame is redirected to the AF_XDP socket of (interface, rx queue); frames of
// interfaces or queues that have no socket go to the kernel stack (XDP_PASS), so a switch
// that is starting or stopping never blackholes traffic it cannot handle.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_SOCKETS 256

struct port_info {
	__u32 port_id;    // the datapath's dense port index (informational, for bpftool)
	__u32 slot_base;  // first XSKMAP slot of this interface
	__u32 queues;     // number of rx queues that have a socket (slots slot_base ..< +queues)
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);                // ifindex
	__type(value, struct port_info);
} ports SEC(".maps");

// Frames passed to the stack because no socket was registered, per CPU (visible with bpftool).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} passed SEC(".maps");

static __always_inline int pass(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&passed, &k);
	if (v)
		(*v)++;
	return XDP_PASS;
}

SEC("xdp")
int xsk_steer(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct port_info *p = bpf_map_lookup_elem(&ports, &ifindex);
	if (!p)
		return pass();
	__u32 q = ctx->rx_queue_index;
	if (q >= p->queues)
		return pass();
	// bpf_redirect_map falls back to XDP_PASS when the slot holds no socket.
	return bpf_redirect_map(&xsks, p->slot_base + q, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
