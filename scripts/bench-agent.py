#!/usr/bin/env python3
"""make bench-agent: how long a port created through the API takes to be live on its node,
and what one node's compile and datapath cost for a large model.

    scripts/bench-agent.py XDPSWITCH [--ports 200] [--no-security-groups]
    scripts/bench-agent.py XDPSWITCH --model 1000,100,10 [--rules default|prefix]

--model PORTS,NETWORKS,ROUTERS writes the host view of one `all` node holding the whole
model (GRE networks of PORTS/NETWORKS ports, one DHCP service per network, routers with one
interface per network, every port in one group: Neutron's default group, or with --rules
prefix its ingress rules from 0.0.0.0/0 and ::/0 instead of the group), then times
`xdpswitch agent compile` (the compile) and `xdpswitch show --config` (loading the YAML and
building the datapath, what the agent's engine does on top of the compile) with
/usr/bin/time (elapsed, max RSS), and prints each bridge's flow count. Needs no root.

Starts `xdpswitch server` (SQLite, loopback) and one `xdpswitch agent` (role all, tunnel
endpoint on a veth pair of its own), creates a GRE network and subnet, then creates PORTS
ports bound to the agent's host one after another through the Networking API. For each it
measures the time from sending the POST until the agent has applied a configuration holding
the port (its MAC in the node configuration the agent writes after `Engine.reconfigure`
returned: flows installed, port waiting for its tap). Prints p50/p90/p99 and max over all
ports and per quarter (the model grows as ports are added), the agent's compile/apply line
for the last port, and the node's flow count. Needs root. Everything it creates is removed.
"""
import argparse
import importlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid


# The API benchmark's HTTP client and percentile (scripts/bench-api.py), not written twice.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
bench_api = importlib.import_module("bench-api")


def request(client, method, path, body=None):
    status, answer, _ = client.call(method, path, body)
    return bench_api.expect(status, answer, 201 if method == "POST" else 200, f"{method} {path}")


def model_view(ports, networks, routers, rules):
    """The host view of one `all` node holding the whole model (docs/agent-protocol.md)."""
    uid = lambda kind, n: str(uuid.UUID(int=(kind << 124) | (n << 96)))  # distinct in their first 11 characters (tap names)
    group = uid(1, 0)
    if rules == "default":
        ingress = [{"direction": "ingress", "ethertype": e, "remote_group_id": group} for e in ("IPv4", "IPv6")]
    else:
        ingress = [{"direction": "ingress", "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0"},
                   {"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "::/0"}]
    view = {"format_version": 1, "revision": 1,
            "host": {"name": "bench", "role": "all",
                     "tunnel": {"ip": "172.31.255.1", "prefix_length": 24, "interface": "eth1"}},
            "networks": [], "ports": [], "routers": [], "dhcp": [], "security_groups": []}
    members = []
    per_network = ports // networks
    for n in range(networks):
        net, subnet = uid(2, n), uid(3, n)
        prefix = f"10.{n // 250}.{n % 250}"
        view["networks"].append({"id": net, "name": f"net{n}", "network_type": "gre", "segmentation_id": n + 1,
                                 "subnets": [{"id": subnet, "cidr": f"{prefix}.0/24", "gateway_ip": f"{prefix}.1"}]})
        leases = []
        for p in range(per_network):
            i = n * per_network + p
            mac, ip = "fa:16:3e:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 0xff, i & 0xff), f"{prefix}.{10 + p}"
            view["ports"].append({"id": uid(4, i), "network_id": net, "mac_address": mac,
                                  "fixed_ips": [{"subnet_id": subnet, "ip_address": ip}],
                                  "device_owner": "compute:nova", "security_groups": [group]})
            members.append(ip)
            leases.append({"mac_address": mac, "ip_address": ip})
        view["dhcp"].append({"network_id": net, "port_id": uid(5, n), "mac_address": "fa:16:3f:00:%02x:%02x" % (n >> 8, n & 0xff),
                             "fixed_ips": [{"subnet_id": subnet, "ip_address": f"{prefix}.2"}], "hosts": leases})
    for r in range(routers):
        interfaces = []
        for n in range(r, networks, routers):
            prefix = f"10.{n // 250}.{n % 250}"
            interfaces.append({"port_id": uid(6, n), "mac_address": "fa:16:3d:00:%02x:%02x" % (n >> 8, n & 0xff),
                               "network_id": uid(2, n), "subnet_id": uid(3, n), "ip_address": f"{prefix}.1"})
        view["routers"].append({"id": uid(7, r), "name": f"router{r}", "interfaces": interfaces})
    view["security_groups"].append({"id": group, "name": "default", "members": members, "rules": [
        {"direction": "egress", "ethertype": "IPv4"}, {"direction": "egress", "ethertype": "IPv6"}] + ingress})
    return view


def timed(command):
    """(elapsed s, max RSS MB, stderr) of `command` under /usr/bin/time."""
    result = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench-agent: {' '.join(command)} failed:\n{result.stderr}")
    line = [l for l in result.stderr.splitlines() if l.startswith("TIME ")][-1].split()
    return float(line[1]), int(line[2]) / 1024, result.stderr


def model(binary, spec, rules):
    ports, networks, routers = (int(x) for x in spec.split(","))
    work = tempfile.mkdtemp(prefix="xdpswitch-bench-model.")
    try:
        view_path, node = os.path.join(work, "view.json"), os.path.join(work, "node.yaml")
        with open(view_path, "w") as f:
            json.dump(model_view(ports, networks, routers, rules), f)
        compile_s, compile_mb, _ = timed([binary, "agent", "compile", "--host-view", view_path, "--output", node])
        build_s, build_mb, _ = timed([binary, "show", "--config", node])
        _, _, counts = timed([binary, "agent", "compile", "--host-view", view_path, "--output", node, "--count-flows"])
        flows = [l for l in counts.splitlines() if l.endswith(" flows")]
        print(f"model: {ports} ports, {networks} networks, {routers} routers; group rules: {rules}")
        print(f"  compile: {compile_s:.2f} s, {compile_mb:.0f} MB   build: {build_s:.2f} s, {build_mb:.0f} MB")
        print(f"  flows: {', '.join(flows)}; total {sum(int(l.split()[1]) for l in flows)}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("xdpswitch")
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--no-security-groups", action="store_true",
                        help="ports without security groups (port_security_enabled false)")
    parser.add_argument("--model", metavar="PORTS,NETWORKS,ROUTERS",
                        help="time one node's compile and build of this model instead (no root needed)")
    parser.add_argument("--rules", choices=["default", "prefix"], default="default",
                        help="with --model: the group's ingress rules")
    args = parser.parse_args()
    if args.model:
        return model(os.path.abspath(args.xdpswitch), args.model, args.rules)
    if os.geteuid() != 0:
        sys.exit("bench-agent: needs root (the agent's engine attaches AF_XDP to a veth pair)")
    binary = os.path.abspath(args.xdpswitch)
    work = tempfile.mkdtemp(prefix="xdpswitch-bench-agent.")
    prefix = f"xba{os.getpid() % 100000}"
    tunnel, peer = prefix + "t0", prefix + "t1"
    processes = []
    try:
        subprocess.run(["ip", "link", "add", tunnel, "type", "veth", "peer", "name", peer], check=True)
        for dev in (tunnel, peer):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        server_log = open(os.path.join(work, "server.log"), "w")
        server = subprocess.Popen([binary, "server", "--listen", "127.0.0.1:0", "--database", os.path.join(work, "model.db")],
                                  stdout=subprocess.PIPE, stderr=server_log, text=True)
        processes.append(server)
        first = server.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        if not port:
            sys.exit(f"bench-agent: the server did not start: {first}")
        base = f"http://127.0.0.1:{port.group(1)}"
        client = bench_api.Client(base)
        agent_log_path = os.path.join(work, "agent.log")
        agent = subprocess.Popen([binary, "agent", "--server", base, "--host", "bench", "--role", "all", "--no-metadata",
                                  "--tunnel-ip", "172.31.255.1/24", "--tunnel-interface", tunnel,
                                  "--state-dir", os.path.join(work, "agent"), "--control", os.path.join(work, "agent.sock")],
                                 stdout=open(agent_log_path, "w"), stderr=subprocess.STDOUT)
        processes.append(agent)
        network = request(client, "POST", "/v2.0/networks", {"network": {"name": "bench"}})["network"]
        request(client, "POST", "/v2.0/subnets", {"subnet": {"network_id": network["id"], "cidr": "10.200.0.0/16",
                                                           "ip_version": 4, "name": "bench"}})
        node_yaml = os.path.join(work, "agent", "node.yaml")

        def applied(mac, deadline):
            while time.monotonic() < deadline:
                try:
                    with open(node_yaml) as f:
                        if mac in f.read():
                            return True
                except FileNotFoundError:
                    pass
                time.sleep(0.002)
            return False

        # The agent must have applied the network's first view (the DHCP port) before timing.
        time.sleep(0.5)
        latencies = []
        for i in range(args.ports):
            body = {"port": {"network_id": network["id"], "name": f"p{i}", "binding:host_id": "bench",
                             "device_owner": "compute:bench"}}
            if args.no_security_groups:
                body["port"]["port_security_enabled"] = False
                body["port"]["security_groups"] = []
            start = time.monotonic()
            created = request(client, "POST", "/v2.0/ports", body)["port"]
            if not applied(created["mac_address"], start + 120):
                sys.exit(f"bench-agent: port {i} ({created['mac_address']}) not applied within 120 s; see {agent_log_path}")
            latencies.append(time.monotonic() - start)
        ms = [x * 1000 for x in latencies]
        print(f"ports created and live on the node: {len(ms)} (security groups: {'none' if args.no_security_groups else 'default'})")
        p = lambda fraction: bench_api.percentile(ms, fraction)
        print(f"  all:      p50 {p(0.50):8.1f} ms   p90 {p(0.90):8.1f} ms   p99 {p(0.99):8.1f} ms   max {max(ms):8.1f} ms")
        quarter = max(1, len(ms) // 4)
        for q in range(4):
            part = ms[q * quarter:(q + 1) * quarter]
            if part:
                print(f"  ports {q * quarter + 1:4d}-{q * quarter + len(part):4d}: p50 {statistics.median(part):8.1f} ms   max {max(part):8.1f} ms")
        with open(agent_log_path) as f:
            last = [line for line in f if "applied" in line]
        if last:
            flows = re.search(r"flows \+\d+ -\d+ =(\d+)", last[-1])
            print(f"  node flows after the last port: {flows.group(1) if flows else '?'}")
        return 0
    finally:
        for p in reversed(processes):
            p.send_signal(signal.SIGTERM)
        for p in reversed(processes):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["ip", "link", "del", tunnel], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
