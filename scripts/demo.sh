#!/bin/bash
# The demo `make demo` runs: the embedded default configuration, an offline replay of
# scapy-built captures through it, and — as root — a live AF_XDP switch between
# network namespaces. Everything it creates is removed on exit, also on failure.
set -uo pipefail
XS=${1:-.build/release/xdpswitch}
FIX=Tests/XDPSwitchTests/Fixtures
WORK=$(mktemp -d /tmp/xdpswitch-demo.XXXXXX)
P=xd$$                          # unique prefix of namespaces and veths
RUN_PID=
cleanup() {
  [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  for n in 1 2 3; do ip netns del ${P}h$n 2>/dev/null; ip link del ${P}s$n 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The embedded default configuration: the reference design's compute node (xdpswitch show)"
"$XS" show

say "2. Offline: scapy-built captures replayed through it (xdpswitch replay)"
echo "   vm1 broadcasts an ARP request, vm2 answers, vm1 sends to vm2; from the trunk come"
echo "   a VLAN 3 broadcast (not in trunks [1, 2]), a VLAN 2 broadcast and a VLAN 1 unicast to vm1."
"$XS" replay --input qvo-vm1=$FIX/vm1.pcap --input qvo-vm2=$FIX/vm2.pcap \
    --input int-br-eth1=$FIX/trunk.pcap --output-dir "$WORK/out" || exit 1
for f in "$WORK"/out/*.pcap; do
  echo "--- $(basename "$f" .pcap):"
  tshark -r "$f" -T fields -e frame.time_relative -e eth.src -e eth.dst -e vlan.id -e _ws.col.Info 2>/dev/null \
    | awk -F'\t' '{printf "    %-18s -> %-18s vlan %-4s %s\n", $2, $3, ($4==""?"-":$4), $5}'
done

if [ "$(id -u)" -ne 0 ]; then
  say "3. Live AF_XDP forwarding: skipped (needs root)"
  exit 0
fi

say "3. Live: three namespaces on one xdpswitch bridge over veth + AF_XDP (xdpswitch run)"
for n in 1 2 3; do
  ip netns add ${P}h$n
  ip link add ${P}s$n type veth peer name eth0 netns ${P}h$n
  ip netns exec ${P}h$n ip addr add 10.99.0.$n/24 dev eth0
  ip netns exec ${P}h$n ip link set eth0 up
  ip netns exec ${P}h$n ethtool -K eth0 tx off rxvlan off txvlan off >/dev/null 2>&1
  ip link set ${P}s$n up
  ethtool -K ${P}s$n tx off rxvlan off txvlan off >/dev/null 2>&1
done
cat > "$WORK/live.yaml" <<YAML
bridges:
  - name: br-demo
    ports:
      - {name: ${P}s1, tag: 10}
      - {name: ${P}s2, tag: 10}
      - {name: ${P}s3, tag: 20}
YAML
echo "   host 1 and host 2 on VLAN 10, host 3 on VLAN 20 (all in 10.99.0.0/24)"
"$XS" run --config "$WORK/live.yaml" > "$WORK/run.log" 2>&1 &
RUN_PID=$!
sleep 2
head -1 "$WORK/run.log"
if ip netns exec ${P}h1 ping -c 3 -i 0.2 -W 1 10.99.0.2 >/dev/null; then
  echo "   host 1 -> host 2 (same VLAN): ping OK"
else
  echo "   host 1 -> host 2 (same VLAN): ping FAILED"; cat "$WORK/run.log"
fi
if ip netns exec ${P}h1 ping -c 2 -i 0.2 -W 1 10.99.0.3 >/dev/null; then
  echo "   host 1 -> host 3 (other VLAN): reachable — isolation BROKEN"
else
  echo "   host 1 -> host 3 (other VLAN): unreachable, as it must be"
fi
kill -TERM $RUN_PID; wait $RUN_PID; RUN_PID=
tail -n +2 "$WORK/run.log"
left=$(for n in 1 2 3; do ip -d link show ${P}s$n 2>/dev/null | grep -c "prog/xdp"; done | awk '{s+=$1} END{print s+0}')
echo "   XDP programs left attached after shutdown: ${left:-0}"
