#!/bin/bash
# `make demo`: the reference design's cloud on one machine, driven by the real `openstack`
# client, with no flow written by hand.
#
#   scripts/demo-cloud.sh [XDPSWITCH]          MODE=gre (default) or MODE=vlan
#
# What it builds (every name carries a unique prefix; all of it is removed at the end, on
# failure and on Ctrl-C):
#
#   root namespace   `xdpswitch server` (SQLite) on the management bridge, the openstack client
#   <P>-network      network node agent: router1 (SNAT, floating IP), net1's DHCP, metadata
#   <P>-compute1/2   compute node agents, one VM each
#   <P>-vm1/2        the VMs: a namespace whose eth0 is the peer of the node's tap interface
#   <P>-ext          the "external" network (172.24.4.224/28), reachable through br-ex
#
#   management       a Linux bridge: server 198.18.0.1, nodes 198.18.0.11-13 (agent ↔ server)
#   underlay         a Linux bridge: the nodes' eth1, tunnel endpoints 172.16.0.11-13 (GRE)
#   physnet1         a Linux bridge: the nodes' eth2, provider VLANs (MODE=vlan)
#
# Each check prints PASS or FAIL; the script exits non-zero when any check fails.
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
XS=$(readlink -f "${1:-$HERE/.build/release/xdpswitch}")
MODE=${MODE:-gre}
OPENSTACK=${OPENSTACK:-$HERE/.venv-openstack/bin/openstack}
case "$MODE" in gre|vlan) ;; *) echo "demo: MODE must be gre or vlan, not '$MODE'" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces, veth pairs, AF_XDP)" >&2; exit 2; }
[ -x "$XS" ] || { echo "demo: no xdpswitch at $XS (make release)" >&2; exit 2; }
[ -x "$OPENSTACK" ] || { echo "demo: no openstack client at $OPENSTACK (scripts/install-openstack-client.sh)" >&2; exit 2; }

P=${DEMO_PREFIX:-xc$$}
P=${P:0:8}                                   # interface names: prefix + 4 ≤ 15 bytes
WORK=$(mktemp -d /tmp/xdpswitch-cloud.XXXXXX)
SERVER=http://198.18.0.1:9696
NODES="network compute1 compute2"
PIDS=()
FAILED=0
PASSED=0

cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  # The metadata namespaces the network node's agent made carry the prefix too (--metadata-prefix),
  # and so do their proxies, which outlive an agent by design.
  local left=()
  for ns in $(ip netns list | awk '{print $1}' | grep "^${P}-"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null && left+=("$pid"); done
  done
  # Whatever still writes its output into the work folder is ours too (the agents' metadata
  # proxies, which outlive an agent by design).
  for fd1 in /proc/[0-9]*/fd/1; do
    case "$(readlink "$fd1" 2>/dev/null)" in "$WORK"/*)
      pid=${fd1#/proc/}; pid=${pid%%/*}; kill -TERM "$pid" 2>/dev/null && left+=("$pid") ;;
    esac
  done
  for pid in "${left[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  for ns in $(ip netns list | awk '{print $1}' | grep "^${P}-"); do ip netns del "$ns" 2>/dev/null; done
  # The root ends of the nodes' veth pairs (deleting one end deletes the pair), then the bridges.
  for i in 1 2 3; do for kind in m u p; do ip link del "${P}$kind$i" 2>/dev/null; done; done
  for b in mg ul ph; do ip link del "${P}-$b" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] && echo "demo: work folder kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '   \033[32mPASS\033[0m %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf '   \033[31mFAIL\033[0m %s\n' "$*"; }
check() { local what=$1; shift; if "$@" >>"$WORK/checks.log" 2>&1; then pass "$what"; else fail "$what"; fi; }
in_ns() { local ns=$1; shift; ip netns exec "${P}-$ns" "$@"; }
# Offloads off on every veth end: AF_XDP in copy mode sees frames as they are, so checksums
# must be complete and VLAN tags in the frame.
offloads_off() { ethtool -K "$1" tx off rxvlan off txvlan off >/dev/null 2>&1 || true; }
# The openstack client as a user types it: the command is printed first.
os() {
  printf '   \033[36m$ openstack %s\033[0m\n' "$*"
  "$OPENSTACK" --os-auth-type none --os-endpoint "$SERVER" "$@" >"$WORK/os.out" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then sed 's/^/     /' "$WORK/os.out"; echo "demo: openstack $1 failed" >&2; exit 1; fi
}
osv() { "$OPENSTACK" --os-auth-type none --os-endpoint "$SERVER" "$@"; }   # quiet, for values
wait_for() { local tries=$1; shift; for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }

# ---------------------------------------------------------------------------------------------
say "1. The machines: a server, a network node and two compute nodes (MODE=$MODE)"
ip link add "${P}-mg" type bridge && ip link set "${P}-mg" up
ip addr add 198.18.0.1/24 dev "${P}-mg"
ip link add "${P}-ul" type bridge && ip link set "${P}-ul" up
ip link add "${P}-ph" type bridge && ip link set "${P}-ph" up
i=0
for n in $NODES; do
  i=$((i + 1))
  ip netns add "${P}-$n"
  in_ns "$n" ip link set lo up
  ip link add "${P}m$i" type veth peer name mgmt netns "${P}-$n"
  ip link set "${P}m$i" master "${P}-mg" up
  in_ns "$n" ip addr add "198.18.0.1$i/24" dev mgmt
  in_ns "$n" ip link set mgmt up
  ip link add "${P}u$i" type veth peer name eth1 netns "${P}-$n"
  ip link add "${P}p$i" type veth peer name eth2 netns "${P}-$n"
  for end in "${P}u$i" "${P}p$i"; do ip link set "$end" up; offloads_off "$end"; done
  ip link set "${P}u$i" master "${P}-ul"
  ip link set "${P}p$i" master "${P}-ph"
  for dev in eth1 eth2; do in_ns "$n" ip link set "$dev" up; in_ns "$n" ethtool -K "$dev" tx off rxvlan off txvlan off >/dev/null 2>&1; done
done
ip netns add "${P}-ext"
in_ns ext ip link set lo up
in_ns network ip link add eth-ext type veth peer name eth0 netns "${P}-ext"
in_ns network ip link set eth-ext up
in_ns network ethtool -K eth-ext tx off rxvlan off txvlan off >/dev/null 2>&1
in_ns ext ip addr add 172.24.4.225/28 dev eth0
in_ns ext ip link set eth0 up
in_ns ext ethtool -K eth0 tx off rxvlan off txvlan off >/dev/null 2>&1
echo "   namespaces: $(ip netns list | awk '{print $1}' | grep "^${P}-" | sort | tr '\n' ' ')"

say "2. xdpswitch server (the Networking API, SQLite) and one agent per node"
"$XS" server --listen 198.18.0.1:9696 --database "$WORK/model.db" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_for 40 curl -sf "$SERVER/" || { echo "demo: the server did not start:"; cat "$WORK/server.log"; exit 1; }
echo "   $ xdpswitch server --listen 198.18.0.1:9696 --database model.db"
i=0
for n in $NODES; do
  i=$((i + 1))
  role=compute; [ "$n" = network ] && role=network
  args=(agent --server "$SERVER" --host "$n" --role "$role" --state-dir "$WORK/$n" --control "$WORK/$n.sock")
  [ "$n" = network ] && args+=(--metadata-prefix "${P}-md-")
  if [ "$MODE" = gre ]; then args+=(--tunnel-ip "172.16.0.1$i/24" --tunnel-interface eth1)
  else args+=(--bridge-mappings physnet1:eth2); fi
  [ "$n" = network ] && args+=(--external-interface eth-ext)
  mkdir -p "$WORK/$n"
  echo "   [$n] $ xdpswitch ${args[*]}" | sed "s#$WORK/##g"
  ip netns exec "${P}-$n" "$XS" "${args[@]}" >"$WORK/$n.log" 2>&1 &
  PIDS+=($!)
done
agents_alive() { [ "$(osv network agent list -f value -c Alive 2>/dev/null | grep -c True)" -ge 5 ]; }
if wait_for 60 agents_alive; then
  pass "three agents registered (Open vSwitch agent on each node, L3 and DHCP agents on the network node)"
else
  fail "agents registered"; tail -5 "$WORK"/*.log
fi
osv network agent list -c "Agent Type" -c Host -c Alive | sed 's/^/   /'

# ---------------------------------------------------------------------------------------------
say "3. The tenant's network, as the reference design builds it"
os network create --external --provider-network-type flat --provider-physical-network public public
os subnet create --network public --subnet-range 172.24.4.224/28 --gateway 172.24.4.225 \
   --allocation-pool start=172.24.4.226,end=172.24.4.238 --no-dhcp public-subnet
if [ "$MODE" = gre ]; then
  os network create net1
else
  os network create --provider-network-type vlan --provider-physical-network physnet1 --provider-segment 101 net1
fi
os subnet create --network net1 --subnet-range 10.1.0.0/24 --dns-nameserver 8.8.8.8 subnet1
os router create router1
os router add subnet router1 subnet1
os router set --external-gateway public router1
os security group rule create --ingress --protocol tcp --dst-port 22 default
os port create --network net1 --host compute1 --device "$(cat /proc/sys/kernel/random/uuid)" vm1
os port create --network net1 --host compute2 --device "$(cat /proc/sys/kernel/random/uuid)" vm2
os floating ip create --port vm1 public
FIP=$(osv floating ip list -f value -c "Floating IP Address" | head -1)
echo "   net1: $(osv network show net1 -f value -c provider:network_type -c provider:segmentation_id | tr '\n' ' ')"
echo "   floating IP of vm1: $FIP"

# ---------------------------------------------------------------------------------------------
say "4. The VMs: a namespace each, plugged into its compute node's tap, addressed by DHCP"
# plug_vm VM NODE: the VM's namespace, its eth0 the peer of NODE's tap for the port named VM
# (Nova's tap name: `tap` + the first 11 characters of the port id), with the port's MAC.
plug_vm() {
  local vm=$1 node=$2 id mac tap
  id=$(osv port show "$vm" -f value -c id)
  mac=$(osv port show "$vm" -f value -c mac_address)
  tap="tap${id:0:11}"
  ip netns add "${P}-$vm"
  in_ns "$vm" ip link set lo up
  in_ns "$node" ip link add "$tap" type veth peer name eth0 netns "${P}-$vm"
  in_ns "$node" ip link set "$tap" up
  in_ns "$node" ethtool -K "$tap" tx off rxvlan off txvlan off >/dev/null 2>&1
  in_ns "$vm" ip link set eth0 address "$mac" up
  in_ns "$vm" ethtool -K eth0 tx off rxvlan off txvlan off >/dev/null 2>&1
  echo "   $vm on $node: $tap ($mac)"
}
port_active() { [ "$(osv port show "$1" -f value -c status)" = ACTIVE ]; }
# dhcp_vm VM: udhcpc in the VM; checks it got the port's fixed IP.
dhcp_vm() {
  local vm=$1 want got
  want=$(osv port show "$vm" -f json -c fixed_ips | python3 -c 'import json,sys; print(json.load(sys.stdin)["fixed_ips"][0]["ip_address"])')
  in_ns "$vm" busybox udhcpc -i eth0 -n -q -t 5 -T 2 -s "$HERE/scripts/udhcpc-script.sh" >"$WORK/$vm-dhcp.log" 2>&1
  got=$(in_ns "$vm" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  if [ "$got" = "$want" ]; then pass "$vm got its address by DHCP: $got"; else fail "$vm DHCP: wanted $want, got '${got:-nothing}'"; fi
}
# metadata_uuid VM: the uuid VM reads from 169.254.169.254.
metadata_uuid() {
  in_ns "$1" python3 -c 'import json,urllib.request; print(json.load(urllib.request.urlopen("http://169.254.169.254/openstack/latest/meta_data.json", timeout=5))["uuid"])' 2>>"$WORK/checks.log"
}
plug_vm vm1 compute1
plug_vm vm2 compute2
if wait_for 60 port_active vm1 && wait_for 30 port_active vm2; then
  pass "the agents plugged both VM ports: status ACTIVE"
else
  fail "VM ports ACTIVE (vm1 $(osv port show vm1 -f value -c status), vm2 $(osv port show vm2 -f value -c status))"
fi
dhcp_vm vm1
dhcp_vm vm2
VM1=$(in_ns vm1 ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
VM2=$(in_ns vm2 ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)

# ---------------------------------------------------------------------------------------------
say "5. Traffic"
over=GRE; [ "$MODE" = vlan ] && over="provider VLAN 101"
check "vm1 → vm2 across compute nodes over $over: ping" in_ns vm1 ping -c 3 -i 0.2 -W 2 "$VM2"
# A TCP server on ports 22 and 80 in each VM and in the external namespace: it answers with the
# address it saw the connection come from.
for ns in vm1 vm2 ext; do
  # Not through in_ns: a function in the background is a subshell, and its pid not the server's.
  ip netns exec "${P}-$ns" python3 "$HERE/scripts/demo-tcp-echo.py" 22 80 >"$WORK/$ns-tcp.log" 2>&1 &
  PIDS+=($!)
done
sleep 0.5
tcp() { in_ns "$1" python3 "$HERE/scripts/demo-tcp-echo.py" --connect "$2" "$3"; }
check "external → vm1's floating IP $FIP, TCP 22: allowed by the security-group rule" tcp ext "$FIP" 22
if tcp ext "$FIP" 80 >>"$WORK/checks.log" 2>&1; then fail "external → $FIP TCP 80 was let in"; else pass "external → $FIP TCP 80: refused by the security group"; fi
seen=$(tcp vm2 172.24.4.225 80 2>>"$WORK/checks.log")
gw=$(osv router show router1 -f json -c external_gateway_info | python3 -c 'import json,sys; print(json.load(sys.stdin)["external_gateway_info"]["external_fixed_ips"][0]["ip_address"])')
if [ "$seen" = "$gw" ]; then pass "vm2 → external through SNAT: the external host saw the router's address $gw"; else fail "SNAT: the external host saw '${seen:-nothing}', wanted $gw"; fi
seen=$(tcp vm1 172.24.4.225 80 2>>"$WORK/checks.log")
if [ "$seen" = "$FIP" ]; then pass "vm1 → external: leaves as its floating IP $FIP"; else fail "floating IP outbound: the external host saw '${seen:-nothing}', wanted $FIP"; fi
uuid=$(osv port show vm1 -f value -c device_id)
meta=$(metadata_uuid vm1)
if [ "$meta" = "$uuid" ]; then pass "vm1 reads its own metadata from 169.254.169.254 (uuid $uuid)"; else fail "metadata: got '${meta:-nothing}', wanted $uuid"; fi

# ---------------------------------------------------------------------------------------------
say "6. A second tenant network with the same CIDR, and a VM moving to another compute node"
if [ "$MODE" = gre ]; then
  os network create net2
else
  os network create --provider-network-type vlan --provider-physical-network physnet1 --provider-segment 102 net2
fi
os subnet create --network net2 --subnet-range 10.1.0.0/24 subnet2
os port create --network net2 --host compute1 --device "$(cat /proc/sys/kernel/random/uuid)" vm3
plug_vm vm3 compute1
wait_for 60 port_active vm3 || true
dhcp_vm vm3
VM3=$(in_ns vm3 ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
if in_ns vm3 ping -c 2 -i 0.2 -W 1 "$VM2" >>"$WORK/checks.log" 2>&1; then
  fail "net2's vm3 reached net1's vm2 at $VM2: the networks are not isolated"
else
  pass "net2's vm3 ($VM3, same CIDR as net1) cannot reach net1's vm2 ($VM2)"
fi
uuid3=$(osv port show vm3 -f value -c device_id)
meta=$(metadata_uuid vm3)
if [ "$meta" = "$uuid3" ]; then pass "vm3 reads its own metadata, not net1's VM at the same address (uuid $uuid3)"; else fail "vm3 metadata: got '${meta:-nothing}', wanted $uuid3"; fi
os port set --host compute1 vm2
tap2="tap$(osv port show vm2 -f value -c id | cut -c1-11)"
in_ns compute2 ip link set "$tap2" netns "${P}-compute1"
in_ns compute1 ip link set "$tap2" up
in_ns compute1 ethtool -K "$tap2" tx off rxvlan off txvlan off >/dev/null 2>&1
echo "   vm2's $tap2 moved from compute2 to compute1"
if wait_for 40 in_ns vm1 ping -c 1 -W 1 "$VM2"; then
  pass "vm2 moved to compute1: vm1 → vm2 ping on the same node"
else
  fail "vm2 moved to compute1: vm1 cannot reach it"
fi

# ---------------------------------------------------------------------------------------------
if [ "$MODE" = gre ]; then
  say "7. compute1's br-tun, as the reference design shows it"
  echo "   $ xdpswitch dump-flows br-tun"
  "$XS" dump-flows br-tun --control "$WORK/compute1.sock" | sed 's/^/   /'
else
  say "7. compute1's br-eth2: local VLAN ↔ provider VLAN 101 (102 for net2)"
  echo "   $ xdpswitch dump-flows br-eth2"
  "$XS" dump-flows br-eth2 --control "$WORK/compute1.sock" | sed 's/^/   /'
fi

say "Result: $PASSED passed, $FAILED failed (MODE=$MODE)"
# DEMO_HOLD=SECONDS keeps the cloud up that long before removing it (to look around).
[ -n "${DEMO_HOLD:-}" ] && { echo "demo: holding for $DEMO_HOLD s (prefix $P, work $WORK)"; sleep "$DEMO_HOLD" & wait $!; }
[ "$FAILED" -eq 0 ]
