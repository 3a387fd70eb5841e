#!/usr/bin/python3
# Prints the frames RouterScapyTests compares against, built by scapy (Debian's
# python3-scapy: run with /usr/bin/python3). Addresses are the reference design's network node.
from scapy.all import Ether, IP, UDP, ICMP, ARP, Padding, raw

qr, qg, vm, gw = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:aa:00:05", "02:42:ac:18:04:e1"
data = bytes(range(18))

udp_in = Ether(src=vm, dst=qr) / IP(src="10.1.0.5", dst="8.8.8.8", ttl=64, id=7) / UDP(sport=40000, dport=53) / data
udp_out = Ether(src=qg, dst=gw) / IP(src="10.1.0.5", dst="8.8.8.8", ttl=63, id=7) / UDP(sport=40000, dport=53) / data
expiring = Ether(src=vm, dst=qr) / IP(src="10.1.0.5", dst="8.8.8.8", ttl=1, id=77) / UDP(sport=40000, dport=53) / data
time_exceeded = (Ether(src=qr, dst=vm) / IP(src="10.1.0.1", dst="10.1.0.5", ttl=64, id=0, tos=0xc0, flags=0)
                 / ICMP(type=11, code=0) / raw(expiring[IP]))
ping = Ether(src=vm, dst=qr) / IP(src="10.1.0.5", dst="10.1.0.1", ttl=64, id=99) / ICMP(type=8, id=0x1234, seq=1) / bytes(range(56))
pong = Ether(src=qr, dst=vm) / IP(src="10.1.0.1", dst="10.1.0.5", ttl=64, id=99) / ICMP(type=0, id=0x1234, seq=1) / bytes(range(56))
who_has = Ether(src=vm, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=vm, psrc="10.1.0.5", pdst="10.1.0.1")
is_at = (Ether(src=qr, dst=vm) / ARP(op=2, hwsrc=qr, psrc="10.1.0.1", hwdst=vm, pdst="10.1.0.5")
         / Padding(load=b"\0" * 18))

for name, frame in [("udpIn", udp_in), ("udpOut", udp_out), ("expiring", expiring), ("timeExceeded", time_exceeded),
                    ("ping", ping), ("pong", pong), ("whoHas", who_has), ("isAt", is_at)]:
    print(f'    static let {name} = "{raw(frame).hex()}"')
