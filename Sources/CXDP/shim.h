#ifndef CXDP_SHIM_H
#define CXDP_SHIM_H
// libpcap's <pcap/bpf.h> (module CPcap, used by the packet layer) defines its own
// `struct bpf_insn` and `struct bpf_program`, which clash with the kernel's/libbpf's when
// one Swift module sees both clang modules. Inside this module the kernel's and libbpf's
// are renamed; struct tags do not reach the linker, so the ABI is unchanged.
#define bpf_insn linux_bpf_insn
#define bpf_program libbpf_program
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>
#include <xdp/libxdp.h>
#include <sys/eventfd.h>
#undef bpf_insn
#undef bpf_program
#endif
