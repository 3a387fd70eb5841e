// SPDX-License-Identifier: GPL-2.0
// Steering program of the AF_XDP path, with the in-kernel fast path in front of it
// (Sources/AFXDP/SteeringProgram.swift loads it, Sources/AFXDP/FastPathMaps.swift fills the
// fast path's maps).
//
// Steering. One copy of this program is loaded per switch and attached to every interface
// that is a `system` port. Each interface owns a contiguous range of slots in one XSKMAP, one
// slot per rx queue; `ports` says, per ifindex, which bridge port owns the interface and
// where its slots start. A frame is redirected to the AF_XDP socket of (interface, rx queue);
// frames of interfaces or queues the switch does not serve (not in `ports`, or a queue
// beyond its sockets) go to the kernel stack (XDP_PASS), so a switch that is starting or
// stopping never blackholes traffic it cannot handle. A served queue whose slot is empty
// means the daemon is away: the program and its maps were left pinned in bpffs by a switch
// that was killed or stopped with `--on-exit keep`, and the kernel emptied the slots of the
// sockets it closed (Sources/AFXDP/SteeringPins.swift). Such a frame — one the fast path
// below did not carry — is dropped and counted in `no_socket`, which the restarted switch
// reads: the host stack never sees a tenant's frame it would answer or route wrongly.
//
// The fast path: a cache of decisions the Swift pipeline already took. After the Swift
// datapath has forwarded a frame whose outcome is a pure function of its Ethernet header
// (learned unicast through NORMAL-only bridges, patch ports included, VLAN pop/push/rewrite
// on the way), the engine installs an entry in `fp_flows` keyed by exactly what decided it —
// (ingress ifindex, 802.1Q TCI or none, destination MAC, source MAC) — whose value is the
// flattened result: the tag operation and the egress interface. A frame of an established
// connection through OpenFlow tables (Neutron's security-group firewall: segments of flows
// joined by `ct()` lookups that find it established) is keyed by its IPv4 and transport
// fields too (Sources/XDPDatapath/FastPath/Datapath+FastPathConnections.swift): the program
// looks the Ethernet-only key up first and, on a miss, a UDP datagram or a TCP segment
// without SYN/FIN/RST/URG with the connection fields filled in. GRE tunnels at either end
// of a NORMAL path (Sources/XDPDatapath/FastPath/Datapath+FastPathTunnels.swift): an entry
// may carry outer headers to push (`encapsulate`: a gre port's Ethernet/IPv4/GRE, length
// and checksum written per frame) before the redirect to the underlay; and a GRE packet
// that `fp_tunnels` knows (`decapsulation`: underlay interface, our MAC, remote, our
// address, key) has its inner frame looked up under the tunnel's id in place of the
// ifindex, its outer bytes stripped on a hit. This program looks every
// frame of a served interface up there first; a hit whose entry has not expired applies the
// tag operation and redirects the frame through the DEVMAP `fp_devs` to the egress interface,
// counting packets, bytes and the last use in the per-CPU `fp_stats`. IPv6 takes the
// Ethernet-only key (learned unicast); only the connection key is IPv4's. Everything else —
// misses, expired entries, broadcast/multicast (never installed), ARP, any EtherType but
// IPv4 and IPv6, IPv4 with options or fragments, IPv6 with extension headers, and any
// frame the Swift parser would refuse (the checks below repeat PacketParser's for
// IPv4/IPv6/TCP/UDP/ICMP/ICMPv6, stricter where they can be: a frame they wrongly refuse
// only takes the slow path) — goes to the AF_XDP socket exactly as without the fast path. The Swift side stays the only truth: it removes
// entries before any change that could alter their outcome, and it folds `fp_stats` into
// its port and flow counters.
//
// Why one program and not a second one chained in front: an interface takes one XDP
// program per bpf_link, and chaining (libxdp's dispatcher, or tail calls) costs a dispatch
// per frame and a second load/attach lifecycle to keep in step with the steering's. The fast
// path needs the steering's own answer (the XSKMAP slot) on every miss, so it sits in the
// same function; `fp_config` switches it off with one array lookup (`run --fast-path off`).
// The verifier is no obstacle at this size: the parse is straight-line with constant offsets
// (one optional tag), so no loop or recirculation is needed.
//
// Expiry: a learned MAC ages out in the Swift tables at a known time; an entry carries the
// earliest such time (`expires`, CLOCK_BOOTTIME nanoseconds as bpf_ktime_get_boot_ns reads
// them: the engine's clock), and after it the frame goes to the slow path, which decides
// afresh. The program honours it by itself, also while the daemon is away.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_SOCKETS 256
#define MAX_FAST_PATH_ENTRIES 65536

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

// Frames of served queues dropped because their socket is gone (the daemon is away), per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} no_socket SEC(".maps");

// ---- fast path ----

// What decided a frame's fate (exact match). 36 bytes, no holes. An entry of a decision
// NORMAL alone took has the connection fields zero (proto 0); one through OpenFlow tables
// and the connection tracker has every IPv4 and transport field a flow can match.
struct fp_key {
	__u32 ifindex;    // ingress interface
	__u16 tci;        // the 802.1Q tag's TCI (host order) when tagged, else 0
	__u16 tagged;     // 1: one 802.1Q tag, 0: untagged
	__u8 dst[6];
	__u8 src[6];
	__u8 saddr[4];    // IPv4 source, as on the wire
	__u8 daddr[4];    // IPv4 destination
	__u8 sport[2];    // transport ports, as on the wire
	__u8 dport[2];
	__u8 proto;       // 6 (TCP) or 17 (UDP); 0 for an Ethernet-only entry
	__u8 tos;
	__u8 ttl;
	__u8 tcp_flags;   // the TCP flags byte (no SYN, FIN, RST or URG), 0 for UDP
};

#define FP_TAG_KEEP 0  // leave the frame as it is
#define FP_TAG_POP  1  // remove the tag
#define FP_TAG_PUSH 2  // insert an 802.1Q tag with `tci`
#define FP_TAG_SET  3  // rewrite the tag's TCI to `tci`

#define FP_REWRITE_MACS 1  // write `dst` and `src`
#define FP_REWRITE_L3   2  // verify the IPv4 header checksum, then write the addresses,
                           // ports and TTL and add the checksum deltas

// The flattened result. 104 bytes. A router's rewrite (FastPathRewrite in Swift): the key
// fixes every old value, so the checksum deltas (RFC 1624: the one's complement sum of
// ~old + new over the words that change) are constants of the entry.
struct fp_action {
	__u32 egress;     // egress ifindex, a key of fp_devs
	__u16 tag_op;     // FP_TAG_*
	__u16 tci;        // for PUSH and SET (host order)
	__u64 expires;    // bpf_ktime_get_boot_ns() after which the entry no longer holds; 0: never
	__u32 max_len;    // longer frames go to the slow path
	__u16 rewrite;    // FP_REWRITE_* bits; 0: none
	__u16 ip_csum;    // delta added to the complemented IPv4 header checksum
	__u8 dst[6];      // MACs as the frame leaves (FP_REWRITE_MACS)
	__u8 src[6];
	__u8 saddr[4];    // as on the wire (FP_REWRITE_L3)
	__u8 daddr[4];
	__u8 sport[2];
	__u8 dport[2];
	__u16 l4_csum;    // delta added to the complemented TCP/UDP checksum
	__u8 ttl;
	__u8 pad1;
	__u32 pad2;
	__u16 encap_len;  // bytes of outer headers pushed in front of the frame (GRE: 38, or 42
	                  // with a key), 0: none
	__u16 encap_sum;  // one's complement sum (folded) of the outer IPv4 header with its
	                  // total length and checksum zero: + the total length = ~checksum
	__u8 encap[44];   // outer Ethernet, IPv4 (total length and checksum zero), GRE
};

struct fp_counters {
	__u64 packets;
	__u64 bytes;      // as received (before the tag operation)
	__u64 last_used;  // bpf_ktime_get_boot_ns() of the last hit on this CPU
};

struct fp_settings {
	__u32 enabled;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FAST_PATH_ENTRIES);
	__type(key, struct fp_key);
	__type(value, struct fp_action);
} fp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_FAST_PATH_ENTRIES);
	__type(key, struct fp_key);
	__type(value, struct fp_counters);
} fp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);               // ifindex
	__type(value, __u32);             // the same ifindex
} fp_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_settings);
} fp_config SEC(".maps");

// A GRE packet that a tunnel port takes in (exact match). 24 bytes, no holes.
struct fp_tunnel_key {
	__u32 ifindex;    // the underlay interface it arrived on
	__u8 dst[6];      // our underlay MAC (the outer destination)
	__u16 keyed;      // 1: GRE flags K only (8-byte GRE header), 0: no flags (4 bytes)
	__u8 saddr[4];    // the remote endpoint (outer source), as on the wire
	__u8 daddr[4];    // our underlay address (outer destination)
	__u8 key[4];      // the GRE key as on the wire; zero when not keyed
};

// The tunnel port and tun_id it enters by, as the id the fast path's keys use in place of
// an ifindex for the inner frame (assigned by the engine; never an ifindex).
struct fp_tunnel {
	__u32 id;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct fp_tunnel_key);
	__type(value, struct fp_tunnel);
} fp_tunnels SEC(".maps");

static __always_inline int pass(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&passed, &k);
	if (v)
		(*v)++;
	return XDP_PASS;
}

// Whether PacketParser accepts the IPv4 packet at `l3` (no options, no fragment): its
// checks for the header, the total length and the TCP/UDP/ICMP header, nothing more.
static __always_inline int ipv4_acceptable(void *l3, void *end)
{
	__u8 *ip = l3;
	if ((void *)(ip + 20) > end)
		return 0;
	if (ip[0] != 0x45)                       // version 4, no options
		return 0;
	__u32 total = ((__u32)ip[2] << 8) | ip[3];
	if (total < 20 || (void *)ip + total > end)
		return 0;
	if ((((__u32)ip[6] << 8) | ip[7]) & 0x3FFF)  // MF or an offset: fragments
		return 0;
	__u8 *l4 = ip + 20;
	void *l4end = (void *)ip + total;
	switch (ip[9]) {
	case 6: {                                    // TCP
		if ((void *)(l4 + 20) > end || (void *)(l4 + 20) > l4end)
			return 0;
		__u32 hlen = (l4[12] >> 4) * 4;
		if (hlen < 20 || (void *)l4 + hlen > l4end)
			return 0;
		return 1;
	}
	case 17: {                                   // UDP
		if ((void *)(l4 + 8) > end || (void *)(l4 + 8) > l4end)
			return 0;
		__u32 ulen = ((__u32)l4[4] << 8) | l4[5];
		if (ulen < 8 || (void *)l4 + ulen > l4end)
			return 0;
		return 1;
	}
	case 1:                                      // ICMP
		return (void *)(l4 + 4) <= end && (void *)(l4 + 4) <= l4end;
	case 47:                                     // GRE
		return (void *)(l4 + 4) <= end && (void *)(l4 + 4) <= l4end;
	default:
		return 1;
	}
}

// Whether PacketParser accepts the IPv6 packet at `l3` and it has no extension header
// (those the parser walks go to the slow path here: stricter, never wrong): the fixed
// header, the payload length within the frame, and the TCP/UDP/ICMPv6 header as
// ipv4_acceptable checks it (a UDP length of 0 is accepted, as the parser does for IPv6).
static __always_inline int ipv6_acceptable(void *l3, void *end)
{
	__u8 *ip = l3;
	if ((void *)(ip + 40) > end)
		return 0;
	if ((ip[0] >> 4) != 6)
		return 0;
	__u32 payload = ((__u32)ip[4] << 8) | ip[5];
	__u8 *l4 = ip + 40;
	void *l4end = (void *)l4 + payload;
	if (l4end > end)
		return 0;
	switch (ip[6]) {
	case 6: {                                    // TCP
		if ((void *)(l4 + 20) > end || (void *)(l4 + 20) > l4end)
			return 0;
		__u32 hlen = (l4[12] >> 4) * 4;
		if (hlen < 20 || (void *)l4 + hlen > l4end)
			return 0;
		return 1;
	}
	case 17: {                                   // UDP
		if ((void *)(l4 + 8) > end || (void *)(l4 + 8) > l4end)
			return 0;
		__u32 ulen = ((__u32)l4[4] << 8) | l4[5];
		if ((ulen < 8 && ulen != 0) || (void *)l4 + ulen > l4end)
			return 0;
		return 1;
	}
	case 58:                                     // ICMPv6
	case 47:                                     // GRE
		return (void *)(l4 + 4) <= end && (void *)(l4 + 4) <= l4end;
	case 0: case 43: case 44: case 51: case 60:  // extension headers: the slow path
		return 0;
	default:
		return 1;
	}
}

// `~(~checksum + delta)` in one's complement arithmetic (RFC 1624 eqn. 3).
static __always_inline __u16 csum_adjust(__u16 checksum, __u16 delta)
{
	__u32 sum = (__u16)~checksum + (__u32)delta;
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return ~(__u16)sum;
}

// Whether the 20-byte IPv4 header at `ip` sums to all ones (the router drops others).
static __always_inline int ipv4_checksum_ok(__u8 *ip)
{
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < 20; i += 2)
		sum += ((__u32)ip[i] << 8) | ip[i + 1];
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return sum == 0xFFFF;
}

// Applies a router's rewrite to the frame at `data` whose IPv4 header starts at `l3`
// (14 or 18). 0 when done, -1 when the frame is too short (cannot happen: the key matched).
static __always_inline int rewrite_frame(struct fp_action *action, void *data, void *end, __u32 l3)
{
	__u8 *eth = data;
	if ((void *)(eth + 14) > end)
		return -1;
	if (action->rewrite & FP_REWRITE_MACS) {
		__builtin_memcpy(eth, action->dst, 6);
		__builtin_memcpy(eth + 6, action->src, 6);
	}
	if (!(action->rewrite & FP_REWRITE_L3))
		return 0;
	__u8 *ip = eth + (l3 == 18 ? 18 : 14);
	if ((void *)(ip + 28) > end)
		return -1;
	__u8 proto = ip[9];
	__builtin_memcpy(ip + 12, action->saddr, 4);
	__builtin_memcpy(ip + 16, action->daddr, 4);
	ip[8] = action->ttl;
	__u16 ck = ((__u16)ip[10] << 8) | ip[11];
	ck = csum_adjust(ck, action->ip_csum);
	ip[10] = ck >> 8;
	ip[11] = ck & 0xFF;
	__u8 *l4 = ip + 20;
	__builtin_memcpy(l4, action->sport, 2);
	__builtin_memcpy(l4 + 2, action->dport, 2);
	if (proto == 6) {
		if ((void *)(l4 + 18) > end)
			return -1;
		ck = ((__u16)l4[16] << 8) | l4[17];
		ck = csum_adjust(ck, action->l4_csum);
		l4[16] = ck >> 8;
		l4[17] = ck & 0xFF;
	} else {
		ck = ((__u16)l4[6] << 8) | l4[7];
		if (ck) {                                // UDP: 0 means none
			ck = csum_adjust(ck, action->l4_csum);
			if (!ck)
				ck = 0xFFFF;
			l4[6] = ck >> 8;
			l4[7] = ck & 0xFF;
		}
	}
	return 0;
}

// Pushes the entry's outer headers (a GRE tunnel's Ethernet, IPv4 and GRE, as the Swift
// tunnel writes them: TunnelTable.swift) in front of the `inner`-byte frame and writes the
// outer IPv4 total length and checksum. 0 when done, -1 when the headroom would not take
// them (cannot happen: XDP leaves every frame 256 bytes of headroom). `hlen` is the
// entry's `encap_len` as the caller read it once and checked it (38 or 42) before it
// rewrote anything.
static __always_inline int encapsulate(struct xdp_md *ctx, struct fp_action *action, __u32 hlen, __u32 inner)
{
	if (bpf_xdp_adjust_head(ctx, -(int)hlen))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *outer = data;
	if ((void *)(outer + 52) > end)              // hlen + the inner Ethernet header
		return -1;
	if (hlen == 42)
		__builtin_memcpy(outer, action->encap, 42);
	else
		__builtin_memcpy(outer, action->encap, 38);
	__u32 total = inner + hlen - 14;
	__u32 sum = (__u32)action->encap_sum + (total & 0xFFFF);
	sum = (sum & 0xFFFF) + (sum >> 16);
	__u16 ck = ~(__u16)sum;
	outer[16] = (total >> 8) & 0xFF;
	outer[17] = total & 0xFF;
	outer[24] = ck >> 8;
	outer[25] = ck & 0xFF;
	return 0;
}

// When the frame at `eth` is a GRE packet a tunnel port takes in, as the Swift underlay
// checks it on its common path (Datapath+Tunnel.swift): untagged IPv4 without options, not
// a fragment, a correct header checksum, GRE with no flags or K only, protocol 0x6558, the
// IPv4 packet ending exactly where the frame does (trailing bytes: the slow path), and an
// `fp_tunnels` entry for (interface, our MAC, remote, our address, key): the outer
// headers' length (38 or 42), with `*ingress` set to the tunnel's id. Else 0, `*ingress`
// untouched (the frame is looked up as it is; a GRE packet of a VM is just a frame).
static __always_inline __u32 decapsulation(__u8 *eth, void *end, __u32 *ingress)
{
	if ((void *)(eth + 42) > end)
		return 0;
	if (eth[12] != 0x08 || eth[13] != 0x00)
		return 0;
	__u8 *ip = eth + 14;
	if (ip[0] != 0x45 || ip[9] != 47 || ((((__u32)ip[6] << 8) | ip[7]) & 0x3FFF))
		return 0;
	__u8 *gre = ip + 20;
	if (gre[2] != 0x65 || gre[3] != 0x58)
		return 0;
	__u32 hlen;
	if (gre[0] == 0x20 && gre[1] == 0)
		hlen = 42;
	else if (gre[0] == 0 && gre[1] == 0)
		hlen = 38;
	else
		return 0;
	__u32 total = ((__u32)ip[2] << 8) | ip[3];
	if ((void *)eth + 14 + total != end || total < hlen)   // inner Ethernet header included
		return 0;
	if (!ipv4_checksum_ok(ip))
		return 0;
	struct fp_tunnel_key tkey = {};
	tkey.ifindex = *ingress;
	__builtin_memcpy(tkey.dst, eth, 6);
	tkey.keyed = hlen == 42;
	__builtin_memcpy(tkey.saddr, ip + 12, 4);
	__builtin_memcpy(tkey.daddr, ip + 16, 4);
	if (hlen == 42)
		__builtin_memcpy(tkey.key, gre + 4, 4);
	struct fp_tunnel *tunnel = bpf_map_lookup_elem(&fp_tunnels, &tkey);
	if (!tunnel)
		return 0;
	*ingress = tunnel->id;
	return hlen;
}

// XDP_REDIRECT when the fast path carried the frame, else -1 (go on to the socket).
static __always_inline int fast_path(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct fp_settings *settings = bpf_map_lookup_elem(&fp_config, &zero);
	if (!settings || !settings->enabled)
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *eth = data;
	if ((void *)(eth + 14) > end)
		return -1;
	__u32 ingress = ctx->ingress_ifindex;
	// GRE to a tunnel port: the inner frame is looked up as entering by the tunnel.
	__u32 outer = decapsulation(eth, end, &ingress);
	eth += outer;
	if ((void *)(eth + 14) > end)
		return -1;
	if (eth[0] & 1)                              // broadcast/multicast: never cached
		return -1;
	struct fp_key key = {};
	key.ifindex = ingress;
	__builtin_memcpy(key.dst, eth, 6);
	__builtin_memcpy(key.src, eth + 6, 6);
	__u16 type = ((__u16)eth[12] << 8) | eth[13];
	void *l3 = eth + 14;
	if (type == 0x8100) {
		if ((void *)(eth + 18) > end)
			return -1;
		key.tagged = 1;
		key.tci = ((__u16)eth[14] << 8) | eth[15];
		type = ((__u16)eth[16] << 8) | eth[17];
		l3 = eth + 18;
	}
	if (type == 0x86DD) {
		if (!ipv6_acceptable(l3, end))
			return -1;
	} else if (type != 0x0800 || !ipv4_acceptable(l3, end)) {
		return -1;
	}
	struct fp_action *action = bpf_map_lookup_elem(&fp_flows, &key);
	if (!action && type == 0x0800) {
		// A connection through the tables: UDP, or TCP with no SYN, FIN, RST, URG (nor
		// the NS and reserved bits), which could open, close or change it.
		__u8 *ip = l3;
		__u8 *l4 = ip + 20;                      // ipv4_acceptable: no options
		if (ip[9] == 6) {
			if ((void *)(l4 + 20) > end || (l4[12] & 0x0F) || (l4[13] & 0x27))
				return -1;
			key.tcp_flags = l4[13];
		} else if (ip[9] != 17 || (void *)(l4 + 8) > end) {
			return -1;
		}
		key.proto = ip[9];
		key.tos = ip[1];
		key.ttl = ip[8];
		__builtin_memcpy(key.saddr, ip + 12, 4);
		__builtin_memcpy(key.daddr, ip + 16, 4);
		__builtin_memcpy(key.sport, l4, 2);
		__builtin_memcpy(key.dport, l4 + 2, 2);
		action = bpf_map_lookup_elem(&fp_flows, &key);
	}
	if (!action)
		return -1;
	__u64 now = bpf_ktime_get_boot_ns();
	if (action->expires && now >= action->expires)
		return -1;
	__u64 length = (__u64)(end - (void *)eth);   // the inner frame's, after a tunnel
	if (length > action->max_len)
		return -1;
	__u32 encap_len = action->encap_len;
	if (encap_len && encap_len != 38 && encap_len != 42)
		return -1;
	if (action->rewrite & FP_REWRITE_L3) {
		__u8 *ip = l3;
		if ((void *)(ip + 20) > end || !ipv4_checksum_ok(ip))
			return -1;
	}
	// Where the IPv4 header is once the tag operation is done.
	__u32 out_l3 = key.tagged ? 18 : 14;
	// Resolve the egress before touching the frame: a missing device leaves it intact
	// for the slow path.
	if (bpf_redirect_map(&fp_devs, action->egress, 0) != XDP_REDIRECT)
		return -1;
	if (outer) {
		// Strip the outer headers: the frame is the inner one from here on.
		if (bpf_xdp_adjust_head(ctx, (int)outer))
			return -1;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		eth = data;
		if ((void *)(eth + 14) > end)
			return XDP_DROP;                     // cannot happen: the inner frame has 14+ bytes
	}
	__u16 op = action->tag_op;
	__u16 tci = action->tci;
	if (op == FP_TAG_POP) {
		// Slide the two addresses over the tag, then drop the first 4 bytes.
		__u8 addresses[12];
		__builtin_memcpy(addresses, eth, 12);
		if (bpf_xdp_adjust_head(ctx, 4))
			return -1;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (data + 12 > end)
			return XDP_DROP;                     // cannot happen: the frame had 18+ bytes
		__builtin_memcpy(data, addresses, 12);
		out_l3 = 14;
	} else if (op == FP_TAG_PUSH) {
		if (bpf_xdp_adjust_head(ctx, -4))
			return -1;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		__u8 *frame = data;
		if ((void *)(frame + 16) > end)
			return XDP_DROP;                     // cannot happen: 14 + 4 bytes are there
		__builtin_memmove(frame, frame + 4, 12);
		frame[12] = 0x81;
		frame[13] = 0x00;
		frame[14] = tci >> 8;
		frame[15] = tci & 0xFF;
		out_l3 = 18;
	} else if (op == FP_TAG_SET) {
		if ((void *)(eth + 18) > end)
			return XDP_DROP;                     // cannot happen: the key had the tag
		eth[14] = tci >> 8;
		eth[15] = tci & 0xFF;
	}
	if (action->rewrite && rewrite_frame(action, data, end, out_l3))
		return XDP_DROP;                         // cannot happen: the key's headers are there
	// The frame's length now, from the length received (the packet pointers are not kept
	// across the helper calls: the verifier refuses a spilled half of one).
	__u32 inner = (__u32)length + (op == FP_TAG_PUSH ? 4 : 0) - (op == FP_TAG_POP ? 4 : 0);
	if (encap_len && encapsulate(ctx, action, encap_len, inner))
		return XDP_DROP;                         // cannot happen: see encapsulate
	struct fp_counters *counters = bpf_map_lookup_elem(&fp_stats, &key);
	if (counters) {
		counters->packets += 1;
		counters->bytes += length;
		counters->last_used = now;
	}
	return XDP_REDIRECT;
}

SEC("xdp")
int xsk_steer(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct port_info *p = bpf_map_lookup_elem(&ports, &ifindex);
	if (!p)
		return pass();
	int fast = fast_path(ctx);
	if (fast >= 0)
		return fast;
	__u32 q = ctx->rx_queue_index;
	if (q >= p->queues)
		return pass();
	// bpf_redirect_map answers its flags' action (XDP_DROP) when the slot holds no socket.
	int verdict = bpf_redirect_map(&xsks, p->slot_base + q, XDP_DROP);
	if (verdict == XDP_DROP) {
		__u32 k = 0;
		__u64 *v = bpf_map_lookup_elem(&no_socket, &k);
		if (v)
			(*v)++;
	}
	return verdict;
}

char _license[] SEC("license") = "GPL";
