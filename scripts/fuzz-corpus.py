#!/usr/bin/python3
"""Seed corpora for the fuzz targets in Fuzz/ (make fuzz, make fuzz-ci), built fresh each run
so no binary file is kept in git.

  fuzz-packet       scapy frames: every header the parser knows, tagged, fragmented, tunnelled
  fuzz-datapath     the same frames in the network-node fuzzer's input format
                    (port selector, clock step, length, frame), aimed at every input port
  fuzz-flow-syntax  flows in ovs-ofctl syntax: the reference design's and the docs'
  fuzz-yaml         the YAML blocks of docs/*.md
  fuzz-control      control-socket requests (JSON lines): every command, and a sequence

Usage: scripts/fuzz-corpus.py OUTPUT_DIR  (writes OUTPUT_DIR/<target>/<n>)
"""
import json
import os
import re
import struct
import sys

from scapy.all import (ARP, GRE, ICMP, IP, TCP, UDP, BOOTP, DHCP, Dot1Q, Dot1AD, Ether, IPv6,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, ICMPv6EchoRequest, ICMPv6ND_NS,
                       fragment, raw)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VM1, VM2, QR, QG = "fa:16:3e:aa:00:05", "fa:16:3e:aa:00:06", "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
EXT, UNDERLAY, PEER = "02:42:ac:18:04:e1", "02:00:00:00:01:01", "02:00:00:00:02:02"
# NetworkNodeFuzzer.inputPorts: qvo-vm1, qvo-vm2, eth-ext, eth1, gre-node2, patch-tun
VM1_PORT, VM2_PORT, EXT_PORT, UNDERLAY_PORT, GRE_PORT, PATCH_PORT = range(6)


def frames():
    """(port, frame) pairs of the network node's traffic and its malformed neighbours."""
    vm = Ether(src=VM1, dst=QR) / IP(src="10.1.0.5", dst="172.24.4.225", ttl=64)
    out = [
        (VM1_PORT, Ether(src=VM1, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=VM1, psrc="10.1.0.5", pdst="10.1.0.1")),
        (VM1_PORT, vm / UDP(sport=40000, dport=53) / (b"q" * 18)),
        (VM1_PORT, vm / TCP(sport=40001, dport=80, flags="S")),
        (VM1_PORT, vm / ICMP() / (b"p" * 56)),
        (VM1_PORT, Ether(src=VM1, dst=QR) / IP(src="10.1.0.5", dst="169.254.169.254") / TCP(sport=40002, dport=80, flags="S")),
        (VM1_PORT, Ether(src=VM1, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
         / BOOTP(chaddr=bytes.fromhex("fa163eaa0005"), xid=0x1234) / DHCP(options=[("message-type", "discover"), "end"])),
        (VM2_PORT, Ether(src=VM2, dst=VM1) / IP(src="10.1.0.6", dst="10.1.0.5") / TCP(sport=22, dport=40000, flags="SA")),
        (VM2_PORT, Ether(src=VM2, dst=QR) / IP(src="10.1.0.6", dst="8.8.8.8", ttl=1) / UDP(sport=1, dport=2)),
        (EXT_PORT, Ether(src=EXT, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=EXT, psrc="172.24.4.225", pdst="172.24.4.227")),
        (EXT_PORT, Ether(src=EXT, dst=QG) / IP(src="172.24.4.225", dst="172.24.4.228") / TCP(sport=22, dport=22, flags="S")),
        (EXT_PORT, Ether(src=EXT, dst=QG) / IP(src="172.24.4.225", dst="172.24.4.227") / UDP(sport=53, dport=40000)),
        (EXT_PORT, Ether(src=EXT, dst=QG) / IP(src="172.24.4.225", dst="172.24.4.227") / ICMP(type=3, code=4)
         / IP(src="172.24.4.227", dst="172.24.4.225") / UDP(sport=40000, dport=53)),
        (UNDERLAY_PORT, Ether(src=PEER, dst=UNDERLAY) / IP(src="172.16.0.2", dst="172.16.0.1", flags="DF", id=0)
         / GRE(key_present=1, key=7, proto=0x6558) / Ether(src="fa:16:3e:bb:00:01", dst=VM1) / Dot1Q(vlan=1)
         / IP(src="10.1.0.20", dst="10.1.0.5") / UDP(sport=5, dport=6)),
        (UNDERLAY_PORT, Ether(src=PEER, dst=UNDERLAY) / IP(src="172.16.0.2", dst="172.16.0.1")
         / GRE(proto=0x6558) / Ether(src="fa:16:3e:bb:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.1.0.20", pdst="10.1.0.5")),
        (UNDERLAY_PORT, Ether(src=PEER, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=PEER, psrc="172.16.0.2", pdst="172.16.0.1")),
        (GRE_PORT, Ether(src="fa:16:3e:bb:00:01", dst=VM1) / Dot1Q(vlan=1) / IP(src="10.1.0.20", dst="10.1.0.5") / ICMP()),
        (PATCH_PORT, Ether(src=VM1, dst="fa:16:3e:bb:00:01") / Dot1Q(vlan=1) / IP(src="10.1.0.5", dst="10.1.0.20") / UDP()),
        (VM1_PORT, Ether(src=VM1, dst=VM2) / Dot1AD(vlan=5) / Dot1Q(vlan=1) / IP() / UDP()),
        (VM1_PORT, Ether(src=VM1, dst=VM2) / IPv6(src="fd00::5", dst="fd00::6") / IPv6ExtHdrHopByHop()
         / IPv6ExtHdrFragment(m=1) / UDP()),
        (VM1_PORT, Ether(src=VM1, dst="33:33:ff:00:00:01") / IPv6(src="fd00::5", dst="ff02::1:ff00:1") / ICMPv6ND_NS(tgt="fd00::1")),
        (VM1_PORT, Ether(src=VM1, dst=VM2) / IPv6(src="fd00::5", dst="fd00::6") / ICMPv6EchoRequest()),
        (VM1_PORT, Ether(src=VM1, dst=QR) / IP(src="10.1.0.5", dst="172.24.4.225", options=b"\x01\x01\x01\x00") / UDP()),
    ]
    for piece in fragment(vm / UDP(sport=40003, dport=53) / (b"f" * 1200), fragsize=400):
        out.append((VM1_PORT, piece))
    return [(port, raw(f)) for port, f in out]


def flows():
    texts = set()
    for folder in ("docs", "Tests"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if not name.endswith((".md", ".swift")):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    for m in re.finditer(r'"((?:table=\d+,)?(?:priority=\d+,)?[a-z_]+[^"\n]* actions=[^"\n]+)"', f.read()):
                        texts.add(m.group(1))
    return sorted(texts)


def yaml_blocks():
    blocks = []
    for name in sorted(os.listdir(os.path.join(ROOT, "docs"))):
        if name.endswith(".md"):
            with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as f:
                blocks += re.findall(r"```yaml\n(.*?)```", f.read(), re.S)
    return blocks


def control_requests():
    """Control-socket requests (one JSON request per line): every command with arguments
    from the network node, alone and as one sequence that adds, dumps and deletes."""
    def req(command, *arguments):
        return json.dumps({"command": command, "arguments": list(arguments)})
    singles = [
        req("show"), req("stats"), req("fdb/show", "br-int"), req("conntrack-stats"),
        req("dump-flows", "br-int"), req("dump-flows", "br-tun"), req("dump-flows", "nosuch"),
        req("add-flow", "br-int", "table=0,priority=100,in_port=1,dl_vlan=5 actions=mod_vlan_vid:7,NORMAL"),
        req("add-flow", "br-tun", "table=4,priority=1,tun_id=0x2 actions=mod_vlan_vid:1,resubmit(,10)"),
        req("mod-flows", "br-int", "priority=100,in_port=1 actions=drop"),
        req("del-flows", "br-int", "in_port=1"), req("del-flows", "br-tun"),
        req("trace", "br-int", "in_port=1,dl_src=fa:16:3e:aa:00:05,dl_dst=ff:ff:ff:ff:ff:ff"),
        req("dump-conntrack"), req("flush-conntrack"), req("flush-conntrack", "zone=1"),
        req("route-show", "router1"), req("route-get", "router1", "8.8.8.8"), req("neigh-show", "router1"),
        req("nat-show", "router1"), req("router-stats"),
        req("floatingip-associate", "router1", "172.24.4.230", "10.1.0.6"),
        req("floatingip-disassociate", "router1", "172.24.4.228"),
        req("dhcp-stats"), req("dhcp-leases", "net1"), req("dhcp-host-add", "net1", "fa:16:3e:aa:00:07", "10.1.0.7", "vm3"),
        req("dhcp-host-del", "net1", "fa:16:3e:aa:00:05"),
        req("add-flow", "br-int", "priority=1,actions=learn(table=10,NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[])"),
        req("add-flow", "br-int"), req("dump-flows"), '{"command": 5}', "{", "",
    ]
    sequence = "\n".join(singles[7:13] + [req("dump-flows", "br-int"), req("del-flows", "br-int")])
    return singles + [sequence]


def api_requests():
    """Networking API requests (`METHOD PATH [BODY]` per line; `@N` is the N-th id the
    model handed out): what the openstack client sends for each resource, alone and as one
    sequence that creates, updates and deletes."""
    def req(method, path, body=None):
        return method + " " + path + ("" if body is None else " " + json.dumps(body))
    singles = [
        req("POST", "/v2.0/networks", {"network": {"name": "net2", "admin_state_up": True, "mtu": 1400}}),
        req("POST", "/v2.0/networks", {"network": {"name": "vl", "provider:network_type": "vlan",
                                                   "provider:physical_network": "physnet1", "provider:segmentation_id": 42}}),
        req("POST", "/v2.0/networks", {"network": {"name": "vx", "provider:network_type": "vxlan"}}),
        req("POST", "/v2.0/networks", {"networks": [{"name": "bulk1"}, {"name": "bulk2"}]}),
        req("POST", "/v2.0/subnets", {"subnet": {"network_id": "@0", "cidr": "10.9.0.0/24", "ip_version": 4,
                                                 "gateway_ip": "10.9.0.254", "dns_nameservers": ["8.8.8.8"],
                                                 "host_routes": [{"destination": "10.10.0.0/16", "nexthop": "10.9.0.1"}],
                                                 "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"}]}}),
        req("POST", "/v2.0/ports", {"port": {"network_id": "@0", "fixed_ips": [{"subnet_id": "@1", "ip_address": "10.0.0.50"}],
                                             "allowed_address_pairs": [{"ip_address": "10.0.0.200"}],
                                             "binding:host_id": "compute1", "device_owner": "compute:nova"}}),
        req("POST", "/v2.0/ports", {"port": {"network_id": "@0", "port_security_enabled": False, "security_groups": []}}),
        req("PUT", "/v2.0/ports/@6", {"port": {"name": "renamed", "admin_state_up": False}}),
        req("POST", "/v2.0/security-groups", {"security_group": {"name": "web", "description": "http"}}),
        req("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": "@9", "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
            "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0", "ethertype": "IPv4"}}),
        req("POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": "@9", "direction": "egress", "protocol": "icmp", "remote_group_id": "@9"}}),
        req("PUT", "/v2.0/routers/@4", {"router": {"routes": [{"destination": "10.20.0.0/16", "nexthop": "10.0.0.9"}]}}),
        req("PUT", "/v2.0/routers/@4/remove_router_interface", {"subnet_id": "@1"}),
        req("PUT", "/v2.0/floatingips/@7", {"floatingip": {"port_id": None}}),
        req("POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": "@2", "floating_ip_address": "203.0.113.50"}}),
        req("DELETE", "/v2.0/ports/@6"), req("DELETE", "/v2.0/networks/@0"), req("DELETE", "/v2.0/routers/@4"),
        req("GET", "/v2.0/ports?network_id=@0&fields=id&fields=fixed_ips"), req("GET", "/v2.0/networks/@0"),
        req("GET", "/v2.0/agents"), req("GET", "/v2.0/networks/@0/dhcp-agents"), req("GET", "/v2.0/routers/@4/l3-agents"),
        req("PUT", "/v2.0/networks/@0/tags", {"tags": ["a", "b"]}), req("PUT", "/v2.0/networks/@0/tags/c"),
        req("DELETE", "/v2.0/networks/@0/tags/a"), req("DELETE", "/v2.0/networks/@0/tags"),
        req("POST", "/v2.0/xdpswitch/agents", {"agent": {"host": "compute2", "role": "compute", "tunnel_ip": "172.16.0.3", "tunnel_prefix_length": 24, "tunnel_interface": "eth1",
                                                          "ports": {"@6": "ACTIVE"}}}),
        req("DELETE", "/v2.0/agents/@8"),
        "POST /v2.0/networks {\"network\": {\"name\": \"\\ud800\"}}", "POST /v2.0/networks {", "PUT /v2.0/ports/@6",
        "POST /v2.0/networks " + "[" * 300 + "]" * 300,
    ]
    sequence = "\n".join(singles[4:12] + [req("GET", "/v2.0/ports"), singles[16]])
    return singles + [sequence]


def write(folder, items):
    os.makedirs(folder, exist_ok=True)
    for i, data in enumerate(items):
        with open(os.path.join(folder, "seed-%03d" % i), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def main():
    out = sys.argv[1]
    pairs = frames()
    write(os.path.join(out, "fuzz-packet"), [f for _, f in pairs])
    # One input per frame, and one with the whole conversation (the clock advancing 1 s).
    records = [struct.pack(">BBH", port, 10, len(f)) + f for port, f in pairs]
    # The conversation again with fast-path recording on (selector bit 6), twice over: the
    # second pass meets the connections and MAC entries the first one left.
    recorded = [struct.pack(">BBH", port | 0x40, 1, len(f)) + f for port, f in pairs]
    write(os.path.join(out, "fuzz-datapath"), records + [b"".join(records), b"".join(recorded) * 2])
    write(os.path.join(out, "fuzz-flow-syntax"), flows())
    write(os.path.join(out, "fuzz-yaml"), yaml_blocks())
    write(os.path.join(out, "fuzz-control"), control_requests())
    write(os.path.join(out, "fuzz-api"), api_requests())


if __name__ == "__main__":
    main()
