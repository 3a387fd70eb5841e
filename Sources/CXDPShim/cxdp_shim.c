#define _GNU_SOURCE
#include "cxdp_shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/resource.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

int cxdp_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
	int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	return fd < 0 ? -errno : fd;
}

int cxdp_xdp_link_ifindex(int link_fd)
{
	struct bpf_link_info info;
	__u32 length = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link_fd, &info, &length))
		return -errno;
	if (info.type != BPF_LINK_TYPE_XDP)
		return -EINVAL;
	return (int)info.xdp.ifindex;
}

int cxdp_is_bpffs(const char *path)
{
	struct statfs info;
	if (statfs(path, &info))
		return -errno;
	return info.f_type == BPF_FS_MAGIC;
}

int cxdp_xdp_query(int ifindex, struct cxdp_xdp_state *state)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, opts);
	int err = bpf_xdp_query(ifindex, 0, &opts);
	if (err)
		return err < 0 ? err : -err;
	state->prog_id = opts.prog_id;
	state->drv_prog_id = opts.drv_prog_id;
	state->skb_prog_id = opts.skb_prog_id;
	state->hw_prog_id = opts.hw_prog_id;
	state->mode = opts.attach_mode;
	return 0;
}

int cxdp_xdp_detach(int ifindex, uint32_t xdp_flags)
{
	int err = bpf_xdp_detach(ifindex, xdp_flags, NULL);
	return err < 0 ? err : -err;
}

int cxdp_prog_run_live(int prog_fd, const void *data, uint32_t size, int ifindex,
                       uint32_t repeat, uint32_t batch_size)
{
	struct xdp_md ctx = { .data_end = size, .ingress_ifindex = ifindex, .rx_queue_index = 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = data, .data_size_in = size,
		.ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		.repeat = repeat, .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch_size);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);
	return err ? -errno : 0;
}

int cxdp_rx_queue_count(const char *ifname)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_data = (void *)&ch;
	int n = 1;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
		n = (int)(ch.combined_count + ch.rx_count);
		if (n < 1)
			n = 1;
	}
	close(fd);
	return n;
}

static int verbose_logging;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose_logging)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int print_libxdp(enum libxdp_print_level level, const char *fmt, va_list args)
{
	if (!verbose_logging)
		return 0;
	return vfprintf(stderr, fmt, args);
}

void cxdp_set_library_logging(int verbose)
{
	verbose_logging = verbose;
	libbpf_set_print(print_libbpf);
	libxdp_set_print(print_libxdp);
}

int cxdp_prog_name(uint32_t prog_id, char *name, uint32_t capacity)
{
	if (capacity == 0)
		return -EINVAL;
	name[0] = 0;
	int fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return -errno;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (err)
		return -errno;
	snprintf(name, capacity, "%s", info.name);
	return 0;
}

int cxdp_enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = setns(fd, CLONE_NEWNET);
	int saved = errno;
	close(fd);
	return err ? -saved : 0;
}

int cxdp_unshare_netns(void)
{
	return unshare(CLONE_NEWNET) ? -errno : 0;
}

int64_t cxdp_thread_cpu_microseconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru))
		return -errno;
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int cxdp_pin_thread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int cxdp_allowed_cpus(uint8_t *allowed, int count)
{
	cpu_set_t set;
	if (sched_getaffinity(getpid(), sizeof(set), &set))
		return -errno;
	int n = 0;
	for (int cpu = 0; cpu < count; cpu++) {
		allowed[cpu] = cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set);
		n += allowed[cpu];
	}
	return n;
}

uint64_t cxdp_raise_memlock(void)
{
	struct rlimit lim = { RLIM_INFINITY, RLIM_INFINITY };
	if (setrlimit(RLIMIT_MEMLOCK, &lim)) {
		getrlimit(RLIMIT_MEMLOCK, &lim);
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &lim);
	}
	getrlimit(RLIMIT_MEMLOCK, &lim);
	return lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)lim.rlim_cur;
}

int cxdp_packet_socket(int ifindex)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll addr = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int cxdp_packet_send_batch(int fd, const uint8_t *frames, uint32_t frame_size, uint32_t count)
{
	enum { max_batch = 64 };
	struct iovec iov[max_batch];
	struct mmsghdr msgs[max_batch];
	if (count > max_batch)
		count = max_batch;
	memset(msgs, 0, sizeof(msgs[0]) * count);
	for (uint32_t i = 0; i < count; i++) {
		iov[i].iov_base = (void *)(frames + (size_t)i * frame_size);
		iov[i].iov_len = frame_size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	int sent = sendmmsg(fd, msgs, count, MSG_DONTWAIT);
	if (sent < 0)
		return errno == EAGAIN || errno == ENOBUFS ? 0 : -errno;
	return sent;
}

int cxdp_spawn(char *const argv[], int out_fd, const char *log_path, int new_session)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attributes;
	sigset_t none, stops;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&actions, 1, 2);
	/* Nothing else: a descriptor another thread opened without O_CLOEXEC (a library's
	 * socket, between its socket() and fcntl()) must not outlive its owner in the child. */
	posix_spawn_file_actions_addclosefrom_np(&actions, 3);
	posix_spawnattr_init(&attributes);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attributes, &none);
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	posix_spawnattr_setsigdefault(&attributes, &stops);
	posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      (new_session ? POSIX_SPAWN_SETSID : 0));
	err = posix_spawnp(&pid, argv[0], &actions, &attributes, argv, environ);
	posix_spawnattr_destroy(&attributes);
	posix_spawn_file_actions_destroy(&actions);
	return err ? -err : pid;
}

int cxdp_run(char *const argv[], char **output, size_t *length, int *status)
{
	int fds[2], raw = 0;
	size_t used = 0, capacity = 4096;
	char *buffer;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	pid = cxdp_spawn(argv, fds[1], NULL, 0);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return pid;
	}
	buffer = malloc(capacity);
	for (;;) {
		ssize_t n;
		if (buffer && used == capacity) {
			char *grown = realloc(buffer, capacity * 2);
			if (!grown) {
				free(buffer);
				buffer = NULL;
			} else {
				buffer = grown;
				capacity *= 2;
			}
		}
		if (buffer) {
			n = read(fds[0], buffer + used, capacity - used);
		} else {
			char discard[4096];
			n = read(fds[0], discard, sizeof discard);
		}
		if (n > 0)
			used += buffer ? (size_t)n : 0;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	close(fds[0]);
	while (waitpid(pid, &raw, 0) < 0 && errno == EINTR)
		;
	if (!buffer)
		return -ENOMEM;
	*output = buffer;
	*length = used;
	*status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
	return 0;
}
