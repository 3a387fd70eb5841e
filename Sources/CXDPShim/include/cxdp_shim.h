#ifndef CXDP_SHIM_H
#define CXDP_SHIM_H
// The few libbpf/kernel calls Swift cannot make directly: option structs declared with
// LIBBPF_OPTS (their `sz` field must be the compiled struct size), ioctls with unions and
// libbpf's variadic print callback. Every function returns 0 or a value >= 0 on success and
// -errno on failure, and contains no policy.
#include <stddef.h>
#include <stdint.h>
#include <linux/if_link.h>

/// Creates an XDP bpf_link (BPF_LINK_CREATE, attach type BPF_XDP) of `prog_fd` on `ifindex`
/// with `xdp_flags` (XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE or 0). Returns the link fd;
/// closing it (or the process dying) detaches the program.
int cxdp_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags);

/// The interface index of the XDP bpf_link `link_fd` (0 when its interface is gone), or
/// -EINVAL when `link_fd` is a link of another kind.
int cxdp_xdp_link_ifindex(int link_fd);

/// 1 when `path` is on a bpf filesystem (bpffs, where objects are pinned), 0 when not, -errno.
int cxdp_is_bpffs(const char *path);

/// What is attached to an interface: XDP_ATTACHED_* in `mode`, program ids per mode.
struct cxdp_xdp_state {
	uint32_t prog_id;
	uint32_t drv_prog_id;
	uint32_t skb_prog_id;
	uint32_t hw_prog_id;
	uint8_t mode;
};
int cxdp_xdp_query(int ifindex, struct cxdp_xdp_state *state);

/// Detaches a netlink-attached (not link-attached) program in the mode given by `xdp_flags`.
int cxdp_xdp_detach(int ifindex, uint32_t xdp_flags);

/// BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: runs `prog_fd` `repeat` times on a copy of
/// `data` as if received on `ifindex` rx queue 0, in batches of `batch_size`; frames the
/// program returns XDP_TX for leave through `ifindex`. Runs in the caller's network namespace.
int cxdp_prog_run_live(int prog_fd, const void *data, uint32_t size, int ifindex,
                       uint32_t repeat, uint32_t batch_size);

/// Number of rx queues of `ifname` (ethtool channels; combined + rx), 1 when unknown.
int cxdp_rx_queue_count(const char *ifname);

/// Sends libbpf's and libxdp's messages to stderr when `verbose`, else drops them
/// (the Swift code reports errors itself, one line each).
void cxdp_set_library_logging(int verbose);

/// Name of the program with id `prog_id` (into `name`, NUL-terminated), for messages.
int cxdp_prog_name(uint32_t prog_id, char *name, uint32_t capacity);

/// Moves the calling thread into the network namespace at `path` (/run/netns/NAME).
int cxdp_enter_netns(const char *path);

/// Moves the calling thread into a new network namespace of its own (unshare(CLONE_NEWNET)).
int cxdp_unshare_netns(void);

/// Microseconds of CPU (user + system) the calling thread has used (RUSAGE_THREAD).
int64_t cxdp_thread_cpu_microseconds(void);

/// Pins the calling thread to `cpu`.
int cxdp_pin_thread(int cpu);
/* allowed[cpu] = 1 for each of the first `count` CPUs the process may run on (its
 * affinity mask: online CPUs, narrowed by taskset or a cgroup cpuset); returns how many,
 * or -errno. */
int cxdp_allowed_cpus(uint8_t *allowed, int count);

/// Raises RLIMIT_MEMLOCK to infinity (or to the hard limit when that fails).
/// Returns the resulting soft limit in bytes (UINT64_MAX for infinity).
uint64_t cxdp_raise_memlock(void);

/* A raw packet socket that sends on interface `ifindex` without the qdisc
 * (PACKET_QDISC_BYPASS): the load generator's fallback where the kernel refuses
 * BPF_PROG_RUN with live frames. Returns the descriptor or -errno. */
int cxdp_packet_socket(int ifindex);

/* Sends `count` frames of `frame_size` bytes laid out back to back at `frames` with one
 * sendmmsg call. Returns how many were sent (0 when the socket buffer is full), or -errno. */
int cxdp_packet_send_batch(int fd, const uint8_t *frames, uint32_t frame_size, uint32_t count);

/// Starts `argv[0]` (looked up in PATH; `argv` ends with NULL) with stdin from /dev/null
/// and stdout and stderr on `out_fd`, or appended to `log_path` (created 0644) when
/// `out_fd` < 0; in a session of its own when `new_session`. No other descriptor of the
/// caller reaches the child (a library's socket opened without O_CLOEXEC would otherwise
/// outlive its owner there, e.g. an AF_XDP socket keeping its queue bound). The child gets an empty signal
/// mask and default SIGINT/SIGTERM actions: a caller's thread may block signals (the test
/// runner's threads, an agent taking them with sigwait) and a child inherits the mask, so
/// it would otherwise ignore the SIGTERM meant to stop it. Returns the pid, or -errno.
int cxdp_spawn(char *const argv[], int out_fd, const char *log_path, int new_session);

/// Runs `argv` as `cxdp_spawn` does, its stdout and stderr collected through a
/// close-on-exec pipe (a daemon the command leaves behind does not hold it open), and
/// waits for it. On success returns 0 with the output in `*output` (malloc'ed, `*length`
/// bytes; the caller frees it) and the exit status in `*status` (128 + signal when
/// killed); else -errno with nothing to free.
int cxdp_run(char *const argv[], char **output, size_t *length, int *status);

#endif
