#!/usr/bin/python3
"""Writes the XDPPacket test fixtures with scapy (Debian python3-scapy).

Run from anywhere:  /usr/bin/python3 Tests/XDPPacketTests/Fixtures/make_fixtures.py

Outputs, next to this script:
  frames.txt        one frame per line, "name hex", checksums and lengths computed by scapy
  frames.pcap       four frames, nanosecond pcap, known timestamps (see TIMESTAMPS)
  frames.pcapng     the same four frames as pcapng
  ipv6_text.txt     random IPv6 addresses and their RFC 5952 text from Python's ipaddress

Every field value the Swift tests assert on is written literally below, so a reader can
check a test against the packet it reads. Keep the two in step.
"""
import os
from decimal import Decimal

from scapy.all import (ARP, ICMP, IP, GRE, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6,
                       ICMPv6EchoRequest, ICMPv6PacketTooBig, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw,
                       wrpcap, IPOption_Router_Alert)
from scapy.layers.inet6 import in6_chksum
from scapy.layers.ipsec import AH
from scapy.utils import PcapNgWriter, PcapWriter

HERE = os.path.dirname(os.path.abspath(__file__))

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
IP_A = "10.0.0.1"
IP_B = "10.0.0.2"
IP6_A = "2001:db8::1"
IP6_B = "2001:db8::2"


def eth():
    return Ether(src=MAC_A, dst=MAC_B)


def inner_eth():
    return Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP(
        src="192.168.1.10", dst="192.168.1.20", id=7, ttl=63) / UDP(sport=1111, dport=2222) / b"inner"


def chain_udp_checksum():
    """scapy does not find the UDP header behind AH and writes 0: compute it by hand over
    the pseudo-header with the final destination (the routing header's address)."""
    pkt = IPv6(src=IP6_A, dst="2001:db8::99") / UDP(sport=4000, dport=4001, chksum=0) / b"chain"
    return in6_chksum(17, pkt[UDP], bytes(pkt[UDP]))


FRAMES = {
    "ipv4_udp": eth() / IP(src=IP_A, dst=IP_B, id=0x1234, ttl=64, flags="DF", tos=0xB8)
    / UDP(sport=5000, dport=53) / b"hello",
    "ipv4_tcp": eth() / IP(src=IP_A, dst=IP_B, id=0x0101, ttl=63)
    / TCP(sport=40000, dport=80, seq=0x01020304, ack=0x0A0B0C0D, flags="PA", window=29200,
          urgptr=0) / b"GET / HTTP/1.0\r\n\r\n",
    "ipv4_tcp_options": eth() / IP(src=IP_A, dst=IP_B, id=2, ttl=64)
    / TCP(sport=1234, dport=443, seq=1000, ack=0, flags="S", window=65535,
          options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]),
    "ipv4_tcp_allflags": eth() / IP(src=IP_A, dst=IP_B, id=3, ttl=64)
    / TCP(sport=1, dport=2, seq=0xFFFFFFFF, ack=0x80000000, flags="FSRPAUEC", window=1, urgptr=0xBEEF),
    "ipv4_icmp_echo": eth() / IP(src=IP_A, dst=IP_B, id=0x4321, ttl=64)
    / ICMP(type=8, code=0, id=0x4242, seq=7) / b"abcdefgh",
    "ipv4_icmp_fragneeded": eth() / IP(src=IP_B, dst=IP_A, id=5, ttl=255)
    / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(IP(src=IP_A, dst="10.9.9.9", flags="DF")
                                                  / UDP(sport=1, dport=2))[:28],
    "ipv4_options": eth() / IP(src=IP_A, dst=IP_B, id=9, ttl=1, options=[IPOption_Router_Alert()])
    / UDP(sport=7, dport=9) / b"ra",
    "ipv4_fragment": eth() / IP(src=IP_A, dst=IP_B, id=99, ttl=64, flags="MF", frag=185, proto=17)
    / Raw(b"x" * 16),
    "ipv4_udp_nochecksum": eth() / IP(src=IP_A, dst=IP_B, id=1, ttl=64) / UDP(sport=68, dport=67, chksum=0)
    / b"dhcp",
    "vlan_ipv4_udp": eth() / Dot1Q(vlan=100, prio=5, id=1) / IP(src=IP_A, dst=IP_B, id=1, ttl=64)
    / UDP(sport=5000, dport=5001) / b"tagged",
    "qinq_ipv4_icmp": Ether(src=MAC_A, dst=MAC_B, type=0x88A8) / Dot1AD(vlan=200, prio=3, id=0)
    / Dot1Q(vlan=10, prio=0) / IP(src=IP_A, dst=IP_B, id=1, ttl=64) / ICMP(type=8, id=1, seq=1),
    "arp_request": Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff")
    / ARP(op=1, hwsrc=MAC_A, psrc=IP_A, hwdst="00:00:00:00:00:00", pdst=IP_B),
    "arp_reply": Ether(src=MAC_B, dst=MAC_A)
    / ARP(op=2, hwsrc=MAC_B, psrc=IP_B, hwdst=MAC_A, pdst=IP_A),
    "ipv6_udp": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=64, tc=0x28, fl=0x12345)
    / UDP(sport=5353, dport=5353) / b"v6 udp",
    "ipv6_tcp": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=64)
    / TCP(sport=50000, dport=22, seq=42, ack=43, flags="A", window=500) / b"ssh",
    "ipv6_icmpv6_echo": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=255)
    / ICMPv6EchoRequest(id=0x1001, seq=3, data=b"ping6"),
    "ipv6_icmpv6_toobig": eth() / IPv6(src=IP6_B, dst=IP6_A, hlim=64)
    / ICMPv6PacketTooBig(mtu=1280) / bytes(IPv6(src=IP6_A, dst="2001:db8::9") / UDP(sport=1, dport=2)),
    # scapy leaves AH next header and length to IPsec code: set them (24 bytes = (4 + 2) * 4).
    # Extension header chain: hop-by-hop, routing, destination options, fragment (first), AH, UDP.
    "ipv6_ext_chain": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=64)
    / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=["2001:db8::99"])
    / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=0, m=1, id=0xABCDEF)
    / AH(nh=17, payloadlen=4, spi=0x100, seq=1, icv=b"\x00" * 12)
    / UDP(sport=4000, dport=4001, chksum=chain_udp_checksum()) / b"chain",
    # A later fragment: the walk must stop at the fragment header.
    "ipv6_later_fragment": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=64)
    / IPv6ExtHdrFragment(nh=17, offset=100, m=0, id=77) / Raw(b"y" * 24),
    # Hop-by-hop in second position: malformed (RFC 8200 §4.1).
    "ipv6_hbh_not_first": eth() / IPv6(src=IP6_A, dst=IP6_B, hlim=64)
    / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2),
}

# GRE over IPv4 carrying an Ethernet frame (0x6558), every combination of C, K, S.
for c in (0, 1):
    for k in (0, 1):
        for s in (0, 1):
            gre = GRE(proto=0x6558, chksum_present=c, key_present=k, seqnum_present=s)
            if k:
                gre.key = 0x00ABCDEF
            if s:
                gre.sequence_number = 0x01020304
            FRAMES["gre_c%d_k%d_s%d" % (c, k, s)] = eth() / IP(src="172.16.0.1", dst="172.16.0.2", id=0x77, ttl=64) \
                / gre / inner_eth()

# GRE carrying IPv4 (0x0800) with a key and a checksum.
FRAMES["gre_ipv4_payload"] = eth() / IP(src="172.16.0.1", dst="172.16.0.2", id=0x78, ttl=64) \
    / GRE(proto=0x0800, chksum_present=1, key_present=1, key=5) \
    / IP(src="192.168.1.10", dst="192.168.1.20", id=8, ttl=64) / ICMP(type=8, id=2, seq=2)

# Timestamps of the four records in frames.pcap / frames.pcapng (nanoseconds since epoch).
PCAP_NAMES = ["ipv4_udp", "arp_request", "ipv6_icmpv6_echo", "gre_c1_k1_s1"]
TIMESTAMPS = [1_700_000_000_123_456_789, 1_700_000_001_000_000_000,
              1_700_000_002_000_000_999, 1_700_000_003_000_001_000]


def ipv6_text_vectors():
    """Random addresses with zero runs of every length, and Python's RFC 5952 text for them."""
    import ipaddress
    import random
    rng = random.Random(5952)
    lines = []
    for _ in range(200):
        groups = [rng.choice([0, 0, 0, 1, 0xDB8, 0xFFFF, rng.randrange(0x10000)]) for _ in range(8)]
        if groups[:6] == [0, 0, 0, 0, 0, 0xFFFF]:
            continue  # IPv4-mapped: Python versions print these differently
        value = 0
        for g in groups:
            value = value << 16 | g
        lines.append("%032x %s\n" % (value, ipaddress.IPv6Address(value).compressed))
    return lines


def main():
    with open(os.path.join(HERE, "ipv6_text.txt"), "w") as out:
        out.write("# Written by make_fixtures.py: 128-bit value in hex, RFC 5952 text (Python ipaddress)\n")
        out.writelines(ipv6_text_vectors())

    with open(os.path.join(HERE, "frames.txt"), "w") as out:
        out.write("# Written by make_fixtures.py (scapy); one frame per line: name hex\n")
        for name, pkt in FRAMES.items():
            out.write("%s %s\n" % (name, bytes(pkt).hex()))

    records = []
    for name, ts in zip(PCAP_NAMES, TIMESTAMPS):
        pkt = Ether(bytes(FRAMES[name]))
        pkt.time = Decimal(ts) / Decimal(1_000_000_000)
        records.append(pkt)
    writer = PcapWriter(os.path.join(HERE, "frames.pcap"), nano=True, linktype=1, sync=True)
    for pkt in records:
        writer.write(pkt)
    writer.close()
    ngwriter = PcapNgWriter(os.path.join(HERE, "frames.pcapng"))
    for pkt in records:
        ngwriter.write(pkt)
    ngwriter.close()


if __name__ == "__main__":
    main()
