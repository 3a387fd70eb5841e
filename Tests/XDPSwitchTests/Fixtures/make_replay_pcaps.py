#!/usr/bin/python3
"""Makes the replay fixtures: scapy-built captures for the L2 replay test.

Topology (the embedded default's br-int): qvo-vm1, qvo-vm2 on tag 1, qvo-vm3 on tag 2,
int-br-eth1 a trunk for [1, 2].  Run: /usr/bin/python3 make_replay_pcaps.py
"""
from scapy.all import Ether, Dot1Q, ARP, IP, UDP, wrpcap

VM1, VM2, VM3, EXT = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03", "fa:16:3e:00:00:99"

def at(pkt, t):
    pkt.time = t
    return pkt

# t=1 vm1 broadcasts an ARP request (floods VLAN 1: vm2 untagged, trunk tagged 1, patch-tun tagged 1)
# t=3 vm1 sends unicast to vm2 (learned at t=2: only qvo-vm2)
wrpcap("vm1.pcap", [
    at(Ether(src=VM1, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=VM1, psrc="10.1.0.11", pdst="10.1.0.12"), 1.0),
    at(Ether(src=VM1, dst=VM2) / IP(src="10.1.0.11", dst="10.1.0.12") / UDP(sport=1000, dport=2000) / b"hello", 3.0),
])
# t=2 vm2 answers vm1 (vm1 learned at t=1: only qvo-vm1)
wrpcap("vm2.pcap", [
    at(Ether(src=VM2, dst=VM1) / ARP(op=2, hwsrc=VM2, psrc="10.1.0.12", hwdst=VM1, pdst="10.1.0.11"), 2.0),
])
# t=4 tagged VLAN 3 on the trunk: not in trunks [1, 2], dropped
# t=5 tagged VLAN 2 broadcast from outside: reaches qvo-vm3 untagged, and patch-tun tagged 2
# t=6 tagged VLAN 1 to vm1: popped, only qvo-vm1
wrpcap("trunk.pcap", [
    at(Ether(src=EXT, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=3) / IP(src="10.3.0.1", dst="10.3.0.255") / UDP(), 4.0),
    at(Ether(src=EXT, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=2) / IP(src="10.2.0.1", dst="10.2.0.255") / UDP(), 5.0),
    at(Ether(src=EXT, dst=VM1) / Dot1Q(vlan=1) / IP(src="10.1.0.99", dst="10.1.0.11") / UDP(), 6.0),
])
