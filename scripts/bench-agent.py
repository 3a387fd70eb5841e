#!/usr/bin/env python3
"""make bench-agent: how long a port created through the API takes to be live on its node.

    scripts/bench-agent.py XDPSWITCH [--ports 200] [--no-security-groups]

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


# The API benchmark's HTTP client and percentile (scripts/bench-api.py), not written twice.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
bench_api = importlib.import_module("bench-api")


def request(client, method, path, body=None):
    status, answer, _ = client.call(method, path, body)
    return bench_api.expect(status, answer, 201 if method == "POST" else 200, f"{method} {path}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("xdpswitch")
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--no-security-groups", action="store_true",
                        help="ports without security groups (port_security_enabled false)")
    args = parser.parse_args()
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
