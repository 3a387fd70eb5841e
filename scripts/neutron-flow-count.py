#!/usr/bin/env python3
"""How many br-int firewall flows Neutron's Open vSwitch agent installs for a model.

    NEUTRON_VENV/bin/python scripts/neutron-flow-count.py [--model 1000,100,10] [--rules default|prefix]

Runs Neutron's own OVSFirewallDriver (neutron.agent.linux.openvswitch_firewall, from the
`neutron` package on PyPI; the neutron-oracle tool's venv has it) against a recording bridge:
an object with the methods the driver calls on br-int that keeps the flows it is told to add
(and forgets those it is told to delete) instead of talking to Open vSwitch. The model is
bench-agent.py's (`--model`): PORTS VM ports on NETWORKS networks (one local VLAN each), all in
one security group with Neutron's default rules (egress IPv4/IPv6 anywhere, ingress IPv4/IPv6
from the group) or, with --rules prefix, ingress from 0.0.0.0/0 and ::/0. The driver is fed
what the agent gets from the server: the group's rules and members, then each port's details
(prepare_port_filter), in one deferred batch as the agent applies them.

Prints the flows per table and in total. Counted: the firewall's tables (0's per-port
entries it adds, 60…94) as the driver writes them; not counted: the agent's own br-int
flows outside the firewall (local VLAN tagging in table 0, ARP spoofing tables), br-tun,
routers and DHCP (network node namespaces in Neutron, not flows).
"""
import argparse
import collections
import re
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="1000,100,10", metavar="PORTS,NETWORKS,ROUTERS")
    parser.add_argument("--rules", choices=["default", "prefix"], default="default")
    args = parser.parse_args()
    ports, networks, _ = (int(x) for x in args.model.split(","))

    from oslo_config import cfg
    from neutron.conf.agent import securitygroups_rpc
    from neutron.conf.plugins.ml2.drivers import ovs_conf
    securitygroups_rpc.register_securitygroups_opts()
    ovs_conf.register_ovs_agent_opts()
    cfg.CONF([], project="neutron")
    from neutron.agent.linux.openvswitch_firewall import firewall
    # Removing conntrack entries runs `conntrack` as root: nothing to remove here.
    firewall.ip_conntrack.OvsIpConntrackManager = NoConntrack

    bridge = RecordingBridge()
    driver = firewall.OVSFirewallDriver(bridge)

    group = "default-group"
    rules = [{"direction": "egress", "ethertype": "IPv4", "security_group_id": group},
             {"direction": "egress", "ethertype": "IPv6", "security_group_id": group}]
    for ethertype, prefix in (("IPv4", "0.0.0.0/0"), ("IPv6", "::/0")):
        rule = {"direction": "ingress", "ethertype": ethertype, "security_group_id": group}
        if args.rules == "default":
            rule["remote_group_id"] = group
        else:
            rule["source_ip_prefix"] = prefix
        rules.append(rule)
    per_network = ports // networks
    vm_ports, members = [], []
    for n in range(networks):
        subnet = f"10.{n // 250}.{n % 250}"
        for p in range(per_network):
            i = n * per_network + p
            name = "tap%010x" % i
            mac = "fa:16:3e:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 0xff, i & 0xff)
            ip = f"{subnet}.{10 + p}"
            bridge.add_vif(name, device=f"port-{i}", mac=mac, ofport=i + 10, tag=n + 1)
            vm_ports.append({"device": f"port-{i}", "mac_address": mac, "fixed_ips": [ip],
                             "allowed_address_pairs": [], "security_groups": [group],
                             "port_security_enabled": True, "lla_address": None, "network_id": f"net-{n}"})
            members.append((ip, mac))

    driver.filter_defer_apply_on()
    driver.update_security_group_rules(group, rules)
    driver.update_security_group_members(group, {"IPv4": members, "IPv6": []})
    for port in vm_ports:
        driver.prepare_port_filter(port)
    driver.filter_defer_apply_off()

    by_table = collections.Counter(flow.get("table", 0) for flow in bridge.flows.values())
    print(f"Neutron {neutron_version()} OVSFirewallDriver, model {args.model}, rules {args.rules}")
    for table in sorted(by_table):
        print(f"  table {table:3d}: {by_table[table]:7d}")
    print(f"  total: {sum(by_table.values())}")
    return 0


def neutron_version():
    from importlib import metadata
    return metadata.version("neutron")


class NoConntrack:
    """The driver's conntrack cleaner, doing nothing."""
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class VifPort:
    def __init__(self, name, ofport, device, mac):
        self.port_name, self.ofport, self.vif_id, self.vif_mac = name, ofport, device, mac


class RecordingBridge:
    """br-int as the firewall driver sees it, keeping flows in a dict (a flow's identity is
    its table, priority and match, as in OpenFlow: adding the same one again replaces it)."""

    ACTIONS = "actions"

    def __init__(self):
        self.flows = {}
        self.vifs = {}
        self.other_config = {}
        self.br = self
        self.is_hw_offload_enabled = False

    def add_vif(self, name, device, mac, ofport, tag):
        self.vifs[device] = VifPort(name, ofport, device, mac)
        self.other_config[name] = {"tag": str(tag), "network_type": "gre", "segmentation_id": str(tag)}

    # Flows.
    @staticmethod
    def key(flow):
        return tuple(sorted((k, str(v)) for k, v in flow.items() if k not in ("actions", "cookie", "flow_group_id")))

    def add_flow(self, flow_group_id=None, **flow):
        self.flows[self.key(flow)] = flow

    def mod_flow(self, **flow):
        self.add_flow(**flow)

    def delete_flows(self, flow_group_id=None, **match):
        match.pop("strict", None)
        wanted = {(k, str(v)) for k, v in match.items() if k not in ("cookie", "deferred")}
        for key in [k for k in self.flows if wanted <= set(k)]:
            del self.flows[key]

    def apply_flows(self):
        pass

    def dump_flows_for_table(self, table):
        return []

    def dump_flows(self, table):
        return []

    # Bridge and ports.
    def add_protocols(self, *protocols):
        pass

    def deferred(self, **kwargs):
        return self

    def request_cookie(self):
        return 0

    def unset_cookie(self, cookie):
        pass

    def get_port_name_list(self):
        return [v.port_name for v in self.vifs.values()]

    def get_vif_port_by_id(self, device):
        return self.vifs.get(device)

    def get_vifs_by_ids(self, devices):
        return {d: self.vifs.get(d) for d in devices}

    def db_get_val(self, table, record, column, **kwargs):
        return self.other_config.get(record, {})

    def get_port_ofport(self, name):
        return -1


if __name__ == "__main__":
    sys.exit(main())
