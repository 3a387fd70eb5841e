#!/usr/bin/env python3
"""The API server's benchmark: latency per call and throughput against a running
`xdpswitch server`, from several concurrent clients over raw HTTP/1.1 (keep-alive, one
connection per client, Python's standard library only).

    scripts/bench-api.py --endpoint http://127.0.0.1:9696 [--ports 1000] [--clients 8]
                         [--cidr 10.10.0.0/20] [--networks 200] [--lists 10] [--views 10]
                         [--json FILE]

Phases, each started by all clients at once:
  network create   --networks networks, spread over the clients
  agent register   one host per client (compute-N, tunnel 172.31.0.N)
  port create      --ports ports on one subnet (--cidr), each bound to one of the hosts
  port list        GET /v2.0/ports?network_id=NET (every port of the network), --lists per client
  host view        GET /v2.0/xdpswitch/hosts/compute-N/view (its ~ports/clients ports), --views per client
Then checks: every port got an address and a MAC of its own (from the create answers, and
from the server's own list); exits 1 if not. Prints p50/p99 latency per call and the
phase's throughput; --json writes the same figures.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


class Client:
    def __init__(self, endpoint):
        url = urllib.parse.urlparse(endpoint)
        self.host, self.port = url.hostname, url.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method, path, body=None):
        """(status, decoded body, seconds)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        start = time.perf_counter()
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
        elapsed = time.perf_counter() - start
        return response.status, (json.loads(raw) if raw else None), elapsed


def run_phase(name, clients, work):
    """Runs work(index, client) -> [seconds…] in every client's thread at once; returns
    the latencies and the phase's wall time."""
    barrier = threading.Barrier(len(clients) + 1)
    results, errors = [[] for _ in clients], []

    def thread(index):
        barrier.wait()
        try:
            results[index] = work(index, clients[index])
        except Exception as error:  # reported after the phase
            errors.append(f"{name}, client {index}: {error}")

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        sys.exit("bench-api: " + "; ".join(errors[:5]))
    return [x for r in results for x in r], wall


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def expect(status, body, want, what):
    if status != want:
        raise RuntimeError(f"{what}: HTTP {status} {json.dumps(body)[:300]}")
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cidr", default="10.10.0.0/20")
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--lists", type=int, default=10)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--label", default="")
    parser.add_argument("--json")
    args = parser.parse_args()
    clients = [Client(args.endpoint) for _ in range(args.clients)]
    setup = clients[0]
    figures = {}

    def record(name, latencies, wall):
        figures[name] = {"calls": len(latencies), "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
                         "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                         "per_second": round(len(latencies) / wall, 1) if wall > 0 else None}

    # Network create.
    def create_networks(index, client):
        out = []
        for i in range(index, args.networks, args.clients):
            status, body, seconds = client.call("POST", "/v2.0/networks", {"network": {"name": f"bench-net-{i}"}})
            expect(status, body, 201, "network create")
            out.append(seconds)
        return out
    record("network create", *run_phase("network create", clients, create_networks))

    status, body, _ = setup.call("POST", "/v2.0/networks", {"network": {"name": "bench-ports"}})
    network = expect(status, body, 201, "network create")["network"]["id"]
    status, body, _ = setup.call("POST", "/v2.0/subnets", {"subnet": {"network_id": network, "ip_version": 4, "cidr": args.cidr}})
    expect(status, body, 201, "subnet create")

    # Agent registration: one host per client.
    def register(index, client):
        status, body, seconds = client.call("POST", "/v2.0/xdpswitch/agents", {"agent": {
            "host": f"compute-{index}", "role": "compute", "tunnel_ip": f"172.31.{index // 250}.{index % 250 + 1}",
            "tunnel_prefix_length": 16, "tunnel_interface": "eth1"}})
        expect(status, body, 200, "agent register")
        return [seconds]
    record("agent register", *run_phase("agent register", clients, register))

    # Port create: the count spread over the clients, each port bound to its client's host.
    made = [[] for _ in clients]

    def create_ports(index, client):
        out = []
        for i in range(index, args.ports, args.clients):
            status, body, seconds = client.call("POST", "/v2.0/ports", {"port": {
                "network_id": network, "name": f"bench-port-{i}", "binding:host_id": f"compute-{index}"}})
            port = expect(status, body, 201, "port create")["port"]
            made[index].append((port["id"], port["fixed_ips"][0]["ip_address"], port["mac_address"]))
            out.append(seconds)
        return out
    record("port create", *run_phase("port create", clients, create_ports))

    def repeated_get(name, count, path, check=lambda index, body: None):
        """count GETs of path(index) per client, each answer 200 and passing check."""
        def work(index, client):
            out = []
            for _ in range(count):
                status, body, seconds = client.call("GET", path(index))
                check(index, expect(status, body, 200, name))
                out.append(seconds)
            return out
        return work

    # Port list: the whole network.
    record("port list", *run_phase("port list", clients,
                                   repeated_get("port list", args.lists, lambda index: f"/v2.0/ports?network_id={network}")))

    # Host view: each client fetches its host's view, which holds exactly the ports bound there.
    def check_view(index, view):
        if len(view["ports"]) != len(made[index]):
            raise RuntimeError(f"view of compute-{index} has {len(view['ports'])} ports, {len(made[index])} were bound to it")
    fetch_views = repeated_get("host view", args.views, lambda index: f"/v2.0/xdpswitch/hosts/compute-{index}/view", check_view)
    record("host view", *run_phase("host view", clients, fetch_views))

    # No address or MAC given twice, in the answers and in the server's list.
    ports = [p for client_ports in made for p in client_ports]
    status, body, _ = setup.call("GET", f"/v2.0/ports?network_id={network}")
    listed = [p for p in expect(status, body, 200, "port list")["ports"] if p["device_owner"] != "network:dhcp"]
    check = {
        "ports": len(ports),
        "distinct_ips": len({p[1] for p in ports}),
        "distinct_macs": len({p[2] for p in ports}),
        "listed": len(listed),
        "listed_distinct_ips": len({p["fixed_ips"][0]["ip_address"] for p in listed}),
        "listed_distinct_macs": len({p["mac_address"] for p in listed}),
    }
    result = {"label": args.label, "clients": args.clients, "calls": figures, "check": check}

    title = f"API server{' (' + args.label + ')' if args.label else ''}: {args.clients} clients"
    print(title)
    print(f"{'call':<16} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8}")
    for name, f in figures.items():
        print(f"{name:<16} {f['calls']:>6} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f} {f['per_second']:>8}")
    print("ports {ports}, distinct addresses {distinct_ips}, distinct MACs {distinct_macs}; "
          "listed {listed} ({listed_distinct_ips} addresses, {listed_distinct_macs} MACs)".format(**check))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    if len(set(check.values())) != 1 or check["ports"] != args.ports:
        sys.exit("bench-api: an address or MAC was given twice, or a port is missing: " + json.dumps(check))


if __name__ == "__main__":
    main()
