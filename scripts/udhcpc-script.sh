#!/bin/sh
# The script busybox udhcpc runs on a lease (udhcpc -s): sets the address, the MTU (option 26)
# and the routes: the classless static routes of option 121 when the server sent them (a
# 0.0.0.0 next hop is on-link), else the default route of option 3. Used by the VMs of
# `make demo` and of the agent's tests.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "${mtu:-}" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "${staticroutes:-}" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
        else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    else
      for r in ${router:-}; do ip route replace default via "$r" dev "$interface"; break; done
    fi ;;
esac
exit 0
