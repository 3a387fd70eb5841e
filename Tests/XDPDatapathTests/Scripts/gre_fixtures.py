#!/usr/bin/python3
"""Prints the scapy-built GRE frames GRETunnelTests compares our encapsulation with.

Run: /usr/bin/python3 gre_fixtures.py   (paste the output into GRETunnelTests.swift)
"""
from scapy.all import Ether, IP, GRE, UDP, raw

inner = Ether(src="fa:16:3e:00:00:0a", dst="fa:16:3e:00:00:0b") / IP(src="10.1.0.10", dst="10.1.0.11") \
    / UDP(sport=1000, dport=2000) / b"payload"
outer = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:02:02") \
    / IP(flags="DF", ttl=64, proto=47, id=0, src="172.16.0.1", dst="172.16.0.2") \
    / GRE(key_present=1, key=0x2, proto=0x6558) / inner
unkeyed = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:02:02") \
    / IP(flags="DF", ttl=64, proto=47, id=0, src="172.16.0.1", dst="172.16.0.2") \
    / GRE(proto=0x6558) / inner
print("inner   ", raw(inner).hex())
print("keyed   ", raw(outer).hex())
print("unkeyed ", raw(unkeyed).hex())
