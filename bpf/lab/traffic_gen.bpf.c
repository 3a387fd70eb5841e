// SPDX-License-Identifier: GPL-2.0
// Load generator for `xdpswitch bench`: run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES,
// every frame is sent out of the interface named by the test context's ingress_ifindex
// (XDP_TX on a veth: the frame arrives on the peer, which must run an XDP program).
//
// Several flows: when `config.flows` > 1 the program rewrites the 16-bit big-endian field
// at `config.port_offset` (the UDP source port) to 1024 + n, n cycling 0..flows-1 per CPU,
// so consecutive frames belong to different 5-tuples. The UDP checksum of the template is
// 0 (none), so nothing else changes. With `config.flows` <= 1 the frame is sent untouched.
//
// Restored headers: live frames come from a page pool that the kernel initialises from
// the template once per page, not per run; when the frame's receiver changes the page in
// place — the Linux stack routing or NATing an skb built on it rewrites MACs, addresses
// and checksums — the recycled page goes out again as modified. With `headers.len` > 0 the
// program first writes the template's first `len` bytes (at most 128) back.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define HEADERS_MAX 128

struct gen_headers {
	__u32 len;
	unsigned char bytes[HEADERS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_headers);
} headers SEC(".maps");

struct gen_config {
	__u32 flows;
	__u32 port_offset;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} flow_counter SEC(".maps");

SEC("xdp")
int traffic_gen(struct xdp_md *ctx)
{
	__u32 k = 0;
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	struct gen_headers *h = bpf_map_lookup_elem(&headers, &k);
	if (h && h->len) {
		for (__u32 i = 0; i < HEADERS_MAX; i++) {
			if (i >= h->len || data + i + 1 > end)
				break;
			data[i] = h->bytes[i];
		}
	}
	struct gen_config *c = bpf_map_lookup_elem(&config, &k);
	if (!c || c->flows <= 1)
		return XDP_TX;
	__u32 *n = bpf_map_lookup_elem(&flow_counter, &k);
	if (!n)
		return XDP_TX;
	__u32 next = *n + 1;
	if (next >= c->flows)
		next = 0;
	*n = next;
	__u32 off = c->port_offset & 0xff;
	unsigned char *p = data + off;
	if (p + 2 > end)
		return XDP_TX;
	__u16 port = 1024 + next;
	p[0] = port >> 8;
	p[1] = port & 0xff;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
