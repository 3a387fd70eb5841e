// SPDX-License-Identifier: GPL-2.0
// Counting sink for `xdpswitch bench`: counts frames and bytes per CPU, then drops them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counts SEC(".maps");

SEC("xdp")
int count_sink(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct counters *c = bpf_map_lookup_elem(&counts, &k);
	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
