#!/usr/bin/python3
"""Prints the scapy-built VXLAN frames VXLANEncapsulationTests and VXLANTunnelTests compare
our encapsulation with. The outer UDP source port is computed here from the inner frame's
bytes, independently of the Swift code, by the rule VXLANEncapsulation documents (the flow
hash, then Linux's udp_flow_src_port scaling into 32768-60998).

Run: /usr/bin/python3 vxlan_fixtures.py   (paste the output into the tests)
"""
import struct
from scapy.all import ARP, Ether, IP, IPv6, TCP, UDP, VXLAN, Dot1Q, raw

M64 = (1 << 64) - 1


def be(b, off, n):
    return int.from_bytes(b[off:off + n], "big")


def flow_hash(f):
    if len(f) < 14:
        return 0
    typ, l3 = be(f, 12, 2), 14
    while typ in (0x8100, 0x88A8) and l3 + 4 <= len(f) and l3 < 22:
        typ, l3 = be(f, l3 + 2, 2), l3 + 4
    if typ == 0x0800 and l3 + 20 <= len(f):
        a = be(f, l3 + 12, 8)
        proto = f[l3 + 9]
        l4 = l3 + (f[l3] & 0x0F) * 4
        ports = 0
        if proto in (6, 17) and be(f, l3 + 6, 2) & 0x3FFF == 0 and l4 + 4 <= len(f):
            ports = be(f, l4, 4)
        b = 0x0800 << 40 | ports << 8 | proto
    elif typ == 0x86DD and l3 + 40 <= len(f):
        a = be(f, l3 + 8, 8) ^ ((be(f, l3 + 16, 8) * 0x9E3779B97F4A7C15) & M64) \
            ^ ((be(f, l3 + 24, 8) * 0xC2B2AE3D27D4EB4F) & M64) ^ be(f, l3 + 32, 8)
        proto = f[l3 + 6]
        ports = be(f, l3 + 40, 4) if proto in (6, 17) and l3 + 44 <= len(f) else 0
        b = 0x86DD << 40 | ports << 8 | proto
    else:
        a = be(f, 0, 8)
        b = typ << 32 | be(f, 8, 4)
    h = ((a * 0x9E3779B97F4A7C15) & M64) ^ b
    h ^= h >> 32
    h = (h * 0xD6E8FEB86659FD93) & M64
    h ^= h >> 32
    return h & 0xFFFFFFFF


def source_port(f):
    h = flow_hash(raw(f))
    h = (h ^ (h << 16)) & 0xFFFFFFFF
    return 32768 + ((h * (60999 - 32768)) >> 32)


def outer(inner, vni, dport=4789):
    return Ether(src="02:00:00:00:01:01", dst="02:00:00:00:02:02") \
        / IP(flags="DF", ttl=64, id=0, src="172.16.0.1", dst="172.16.0.2") \
        / UDP(sport=source_port(inner), dport=dport, chksum=0) / VXLAN(flags=0x08, vni=vni) / inner


A, B = "fa:16:3e:00:00:0a", "fa:16:3e:00:00:0b"
inners = {
    "udp": Ether(src=A, dst=B) / IP(src="10.1.0.10", dst="10.1.0.11") / UDP(sport=1000, dport=2000) / b"payload",
    "tcp": Ether(src=A, dst=B) / IP(src="10.1.0.10", dst="10.1.0.11") / TCP(sport=40000, dport=22, flags="S", window=8192),
    "tagged": Ether(src=A, dst=B) / Dot1Q(vlan=1) / IP(src="10.1.0.10", dst="10.1.0.11") / UDP(sport=1000, dport=2001) / b"payload",
    "ipv6": Ether(src=A, dst=B) / IPv6(src="fd00::a", dst="fd00::b", hlim=64) / UDP(sport=1000, dport=2000) / b"payload",
    "arp": Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=A, psrc="10.1.0.10", pdst="10.1.0.11"),
}
for name, inner in inners.items():
    print(f"{name:8}", "sport", source_port(inner), "hash", hex(flow_hash(raw(inner))))
    print("  inner", raw(inner).hex())
    print("  outer", raw(outer(inner, 0x2 if name != "tcp" else 0xABCDEF)).hex())
print("dport8472", raw(outer(inners["udp"], 0x2, dport=8472)).hex())
